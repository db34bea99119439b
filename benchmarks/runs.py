"""Shared by the benchmark scripts: run `ponder` in a subprocess with a thread budget, train
and judge one run, and summarise several seeds per model (mean, spread, pooled CI)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from ponder.eval.evaluate import wilson_interval


def refuse(message: str) -> None:
    """A benchmark's bad input: one line on stderr, exit 2 (as the ponder CLI does)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def ponder(*args: str, threads: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "ponder", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return done


def seconds_per_step(preset: str | Path, overrides: list[str], threads: int) -> float:
    out = ponder("bench", "step", str(preset), *overrides, "--json", "--steps", "20",
                 "--warmup", "5", threads=threads)  # fmt: skip
    return json.loads(out.stdout)["ms_per_step"] / 1000


def train_and_judge(name: str, preset, overrides: list[str], run_dir: Path, threads: int) -> dict:
    """Train one run (judged once at the end on every test example); its figures."""
    final_overrides = [
        *overrides,
        f"run_dir={run_dir}",
        "train.eval_every=0",
        "train.eval_examples=0",
        "train.checkpoint_every=0",
        "device=cpu",
    ]
    ponder("train", str(preset), *final_overrides, "--overwrite", threads=threads)
    summary = json.loads((run_dir / "summary.json").read_text())
    final = summary["final_eval"]
    return {
        "model": name,
        "params": summary["params"],
        "steps": summary["steps"],
        "train_seconds": summary["train_seconds"],
        "n": int(final["n"]),
        "exact": final["exact"],
        "exact_ci": [final["exact_ci_low"], final["exact_ci_high"]],
        "final_eval": final,
    }


def seed_spread(runs: list[dict]) -> tuple[float, float, list[float], int]:
    """Over runs of one recipe (each with "exact" and "n"): the mean of the seeds' exact,
    its sample sd, the pooled Wilson 95% interval over all answers, and that answer count."""
    exact = [r["exact"] for r in runs]
    n = sum(r["n"] for r in runs)
    hits = sum(round(r["exact"] * r["n"]) for r in runs)
    mean = sum(exact) / len(exact)
    sd = math.sqrt(sum((e - mean) ** 2 for e in exact) / max(1, len(exact) - 1))
    return mean, sd, list(wilson_interval(hits, n)), n


def summarise(runs: list[dict]) -> dict:
    """Per model: seeds' exact, their mean and spread, and the pooled CI over all answers."""
    table = {}
    for name in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == name]
        exact = [r["exact"] for r in mine]
        mean, sd, ci, n = seed_spread(mine)
        table[name] = {
            "params": mine[0]["params"],
            "steps": mine[0]["steps"],
            "train_seconds_mean": sum(r["train_seconds"] for r in mine) / len(mine),
            "exact_per_seed": exact,
            "exact_mean": mean,
            "exact_sd": sd,
            "pooled_ci": ci,
            "n_answers": n,
        }
    return table


def markdown(table: dict) -> str:
    lines = [
        "| model | params | steps | train s | exact per seed | mean (sd) | pooled 95% CI |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in table.items():
        seeds = " / ".join(f"{100 * e:.1f}" for e in row["exact_per_seed"])
        lo, hi = row["pooled_ci"]
        lines.append(
            f"| {name} | {row['params']:,} | {row['steps']} | {row['train_seconds_mean']:.0f} | "
            f"{seeds} | {100 * row['exact_mean']:.1f} ({100 * row['exact_sd']:.1f}) | "
            f"{100 * lo:.1f}-{100 * hi:.1f} |"
        )
    return "\n".join(lines)
