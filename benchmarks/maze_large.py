"""Large perfect mazes judged with a stop rule: several trained seeds of one recipe, each side
judged by `ponder eval --segments auto --halt RULE --max-segments CAP` (issue 24's targets:
59x59 >= 98%, 119x119 >= 95%, 201x201 reported, at least 200 mazes a set and 50 at 119x119).

benchmarks/maze_extrapolation.py trains the seeds and draws the whole depth curve (every
maze run to the deepest depth), which at 59x59 and beyond costs hours on a CPU; here each
maze stops where the rule stops it and leaves the batch, so the cost is the depth each maze
needs. Per side and seed: exact, the rule's precision (stopped mazes that are exact), the
mean segments used, the wall seconds and mazes per second; per side over the seeds: the
mean, the spread (sample sd) and the pooled 95% Wilson interval.

Test sets are those of benchmarks/deep_eval_speed.py (perfect mazes, `--seed 1`, paths of
at least 0.115 x side^2), built once under --data. A cap must reach past the deepest
dead-end fill of the set (59x59: up to 666 rounds, median 277; 119x119: about 4x that), or
the cap, not the model, decides the figure: the table says how many mazes ran to it.

    .venv/bin/python benchmarks/maze_large.py runs/dt_hint_preset/seed0 \\
        runs/dt_hint_preset/seed1 runs/dt_hint_preset/seed2 --sides 59 119 \\
        --count 200 50 --cap 1024 4096 --out runs/maze_large
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deep_eval_speed import test_set, timed_eval

from ponder.fileio import atomic_write_text
from ponder.tasks.maze import MAX_SIZE, MIN_SIZE
from runs import refuse, seed_spread

RULES = ("stable", "converged", "confidence", "q")


def judge_flags(rule: str, cap: int, stable_k: int, precision: str) -> list[str]:
    flags = ["--segments", "auto", "--halt", rule, "--max-segments", str(cap)]
    if rule == "stable":
        flags += ["--stable-k", str(stable_k)]
    return [*flags, "--precision", precision]


def judge(run: str, side: int, data: Path, cap: int, args) -> dict:
    """One seed on one side: its figures from `ponder eval --json`."""
    flags = judge_flags(args.halt, cap, args.stable_k, args.precision)
    seconds, report = timed_eval(run, data, flags, args.threads)
    return {"run": run, "side": side, "cap": cap, "n": report["n"], "exact": report["exact"],
            "halt_precision": report.get("halt_precision"),
            "segments_mean": report.get("halt_steps_mean"),
            "at_cap": report["n"] - round(report.get("halted_early", 0.0) * report["n"]),
            "seconds": seconds, "mazes_per_s": report["n"] / seconds}  # fmt: skip


def summarise(rows: list[dict]) -> dict[int, dict]:
    """Per side: exact per seed, mean, sample sd, pooled Wilson interval."""
    table = {}
    for side in dict.fromkeys(r["side"] for r in rows):
        mine = [r for r in rows if r["side"] == side]
        mean, sd, ci, _ = seed_spread(mine)
        table[side] = {"per_seed": [r["exact"] for r in mine], "mean": mean, "sd": sd,
                       "ci": ci, "n": mine[0]["n"], "cap": mine[0]["cap"]}  # fmt: skip
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def markdown(result: dict) -> str:
    rows, table = result["rows"], summarise(result["rows"])
    lines = ["| side | mazes | cap | exact per seed | mean (sd) | pooled 95% CI | precision "
             "per seed | mean segments | ran to the cap | mazes/s |", "|---" * 10 + "|"]  # fmt: skip
    for side, row in table.items():
        mine = [r for r in rows if r["side"] == side]
        lo, hi = row["ci"]
        lines.append(
            f"| {side}x{side} | {row['n']} | {row['cap']} | "
            + " / ".join(_pct(e) for e in row["per_seed"])
            + f" | {_pct(row['mean'])} ({_pct(row['sd'])}) | {_pct(lo)}-{_pct(hi)} | "
            + " / ".join(_pct(r["halt_precision"]) for r in mine)
            + " | " + " / ".join(f"{r['segments_mean']:.0f}" for r in mine)
            + " | " + " / ".join(str(r["at_cap"]) for r in mine)
            + " | " + " / ".join(f"{r['mazes_per_s']:.2f}" for r in mine) + " |"
        )  # fmt: skip
    return "\n".join(lines)


def format_results(result: dict) -> str:
    """table.md's text from results.json (benchmarks/render_docs.py can publish it)."""
    return markdown(result)


def check_args(args) -> None:
    for run in args.runs:
        if not (Path(run) / "config.yaml").is_file():
            refuse(f"{run} is not a run directory (no config.yaml)")
    if not all(MIN_SIZE <= side <= MAX_SIZE for side in args.sides):
        refuse(f"every side must be in {MIN_SIZE}..{MAX_SIZE}, got {args.sides}")
    for name in ("count", "cap"):
        values = getattr(args, name)
        if len(values) not in (1, len(args.sides)):
            refuse(f"--{name} takes one value or one per side ({len(args.sides)}), got {values}")
        if min(values) < 1:
            refuse(f"--{name} must be at least 1, got {values}")


def per_side(values: list[int], sides: list[int]) -> dict[int, int]:
    return dict(zip(sides, values * len(sides) if len(values) == 1 else values, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="trained size-agnostic runs, one per seed")
    parser.add_argument("--sides", type=int, nargs="+", default=[59, 119])
    parser.add_argument("--count", type=int, nargs="+", default=[200, 50], help="mazes per side")
    parser.add_argument("--cap", type=int, nargs="+", default=[1024, 4096],
                        help="the most segments a maze may run, per side")  # fmt: skip
    parser.add_argument("--halt", choices=RULES, default="stable")
    parser.add_argument("--stable-k", type=int, default=8)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--data", type=Path, default=Path("data/deep_eval_speed"))
    parser.add_argument("--out", type=Path, default=Path("runs/maze_large"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    check_args(args)
    counts, caps = per_side(args.count, args.sides), per_side(args.cap, args.sides)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "maze_large", "halt": args.halt, "stable_k": args.stable_k,
              "precision": args.precision, "rows": []}  # fmt: skip
    for side in args.sides:
        data = test_set(args.data, side, counts[side])
        for run in args.runs:
            result["rows"].append(judge(run, side, data, caps[side], args))
            print(json.dumps(result["rows"][-1]), flush=True)
            # rewritten after every judgement: an interrupted benchmark keeps what it measured
            atomic_write_text(args.out / "results.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(args.out / "table.md", format_results(result) + "\n")
    print(format_results(result))


if __name__ == "__main__":
    main()
