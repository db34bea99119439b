"""TRM, HRM and the direct baseline on the maze benchmark at matched parameters and equal
wall time, several seeds each, plus TRM with the 1-step gradient as an ablation.

Each model's seconds per training step are measured first (`ponder bench step`, same thread
count as the runs); its step budget is then the wall-time budget divided by that, so every
run gets the same training time and a complete learning-rate schedule. Every run is judged
on the whole test split by the maze verifier. Runs go `--parallel` at a time, each on
`--threads` threads (2 runs x 1 thread on a 2-core machine: no oversubscription).

    .venv/bin/python benchmarks/maze_models.py --data data/demo_maze11 --budget-s 300 \\
        --seeds 0 1 2 --out runs/maze_models/results.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ponder.eval.evaluate import wilson_interval

# name -> (preset, extra overrides). Parameters: 37,281 / 37,314 / 40,353 / 37,281.
MODELS = {
    "trm": ("configs/trm_maze_cpu.yaml", []),
    "hrm": ("configs/hrm_maze_cpu.yaml", []),
    "transformer": ("configs/maze_quick_transformer.yaml", []),
    "trm_1step_grad": ("configs/trm_maze_cpu.yaml", ["model.one_step_grad=true"]),
}


def ponder(*args: str, threads: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "ponder", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return done


def seconds_per_step(preset: str, overrides: list[str], threads: int) -> float:
    out = ponder("bench", "step", preset, *overrides, "--json", "--steps", "20", "--warmup",
                 "5", threads=threads)  # fmt: skip
    return json.loads(out.stdout)["ms_per_step"] / 1000


def train_one(name: str, seed: int, steps: int, args) -> dict:
    preset, extra = MODELS[name]
    run_dir = args.out.parent / f"{name}_seed{seed}"
    overrides = [
        *extra,
        f"data.path={args.data}",
        f"seed={seed}",
        f"run_dir={run_dir}",
        f"train.steps={steps}",
        "train.eval_every=0",  # judge once, at the end, on every test example
        "train.eval_examples=0",
        "train.checkpoint_every=0",
        "device=cpu",
    ]
    ponder("train", preset, *overrides, "--overwrite", threads=args.threads)
    summary = json.loads((run_dir / "summary.json").read_text())
    final = summary["final_eval"]
    return {
        "model": name,
        "seed": seed,
        "params": summary["params"],
        "steps": steps,
        "train_seconds": summary["train_seconds"],
        "n": int(final["n"]),
        "exact": final["exact"],
        "exact_ci": [final["exact_ci_low"], final["exact_ci_high"]],
    }


def summarise(runs: list[dict]) -> dict:
    """Per model: seeds' exact, their mean and spread, and the pooled CI over all answers."""
    table = {}
    for name in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == name]
        exact = [r["exact"] for r in mine]
        n = sum(r["n"] for r in mine)
        hits = sum(round(r["exact"] * r["n"]) for r in mine)
        mean = sum(exact) / len(exact)
        sd = math.sqrt(sum((e - mean) ** 2 for e in exact) / max(1, len(exact) - 1))
        table[name] = {
            "params": mine[0]["params"],
            "steps": mine[0]["steps"],
            "train_seconds_mean": sum(r["train_seconds"] for r in mine) / len(mine),
            "exact_per_seed": exact,
            "exact_mean": mean,
            "exact_sd": sd,
            "pooled_ci": list(wilson_interval(hits, n)),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/demo_maze11"))
    parser.add_argument("--budget-s", type=float, default=300.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("runs/maze_models/results.json"))
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"dataset not found: {args.data} (run `make demo` or ponder data build)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    steps = {}
    for name in args.models:
        preset, extra = MODELS[name]
        per_step = seconds_per_step(preset, [f"data.path={args.data}", *extra], args.threads)
        steps[name] = max(1, int(args.budget_s / per_step))
        print(f"{name}: {1000 * per_step:.0f} ms/step -> {steps[name]} steps", flush=True)
    jobs = [(name, seed) for seed in args.seeds for name in args.models]
    with ThreadPoolExecutor(args.parallel) as pool:
        runs = list(pool.map(lambda job: train_one(*job, steps[job[0]], args), jobs))
    table = summarise(runs)
    result = {
        "budget_s": args.budget_s,
        "threads_per_run": args.threads,
        "parallel_runs": args.parallel,
        "wall_minutes": (time.time() - started) / 60,
        "runs": runs,
        "table": table,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(table))


if __name__ == "__main__":
    main()
