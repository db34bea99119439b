"""Speed of deep evaluation: mazes judged per second at large sides, for one trained run.

For each side, a test set of perfect mazes (`--seed 1`, paths >= 0.115 x side^2, as
benchmarks/maze_extrapolation.py builds them) is judged by `ponder eval` in each precision
and with two ways of spending depth:

- fixed: `--segments N`, every maze runs N segments (the whole batch to the end);
- converged: `--segments auto --halt converged --max-segments N`, a maze stops when its
  state stops moving and leaves the batch (compaction), so easy mazes free the cores.

Seconds are wall time of the `ponder eval` process less its start-up (a 1-segment eval of
one maze, measured once per precision), so mazes/s is judging speed, not Python's import
time. Run it alone on the machine: figures from shared cores move from run to run.

    .venv/bin/python benchmarks/deep_eval_speed.py runs/dt_detach/seed0 --sides 59 119 \\
        --count 20 --segments 256 --out runs/deep_eval_speed
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from maze_extrapolation import min_path

from ponder.data import build_dataset
from ponder.tasks.maze import MAX_SIZE, MIN_SIZE
from runs import ponder, refuse

MODES = {
    "fixed": lambda n: ["--segments", str(n)],
    "converged": lambda n: ["--segments", "auto", "--halt", "converged", "--max-segments", str(n)],
}


def test_set(root: Path, side: int, count: int) -> Path:
    """`count` perfect side x side mazes, built once under root and reused."""
    out = root / f"dfs{side}_{count}"
    if not (out / "test").is_dir():
        floor = min_path("dfs", side)  # the extrapolation benchmark's perfect-maze floor
        build_dataset("maze", out, size=side, min_path=floor, seed=1, train=1, test=count)
    return out


def timed_eval(run: str, data: Path, args: list[str], threads: int) -> tuple[float, dict]:
    started = time.perf_counter()
    done = ponder("eval", run, "--data", str(data), *args, "--json", threads=threads)
    return time.perf_counter() - started, json.loads(done.stdout)


def measure(run: str, sets: dict[int, Path], precisions: list[str], segments: int,
            threads: int, startup_set: Path) -> list[dict]:  # fmt: skip
    rows = []
    for precision in precisions:
        startup, _ = timed_eval(run, startup_set, ["--segments", "1", "--precision", precision],
                                threads)  # fmt: skip
        for side, data in sets.items():
            for mode, flags in MODES.items():
                seconds, report = timed_eval(
                    run, data, [*flags(segments), "--precision", precision], threads
                )
                judging = max(seconds - startup, 1e-9)
                rows.append({"side": side, "precision": precision, "mode": mode,
                             "n": report["n"], "exact": report["exact"],
                             "segments_mean": segments if mode == "fixed"
                             else report["halt_steps_mean"],
                             "seconds": judging, "startup_seconds": startup,
                             "mazes_per_s": report["n"] / judging})  # fmt: skip
                print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| side | precision | depth | n | exact | mean segments | seconds | mazes/s |",
             "|---" * 8 + "|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['side']} | {r['precision']} | {r['mode']} | {r['n']} | "
            f"{100 * r['exact']:.1f} | {r['segments_mean']:.1f} | {r['seconds']:.1f} | "
            f"{r['mazes_per_s']:.3f} |"
        )
    return "\n".join(lines)


def format_results(result: dict) -> str:
    """table.md's text from results.json (benchmarks/render_docs.py can publish it)."""
    return markdown(result["rows"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a trained size-agnostic grid run (e.g. model dt)")
    parser.add_argument("--sides", type=int, nargs="+", default=[59, 119])
    parser.add_argument("--count", type=int, default=20, help="mazes per side")
    parser.add_argument("--segments", type=int, default=256, help="depth (fixed) or cap")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"],
                        choices=["fp32", "bf16", "fp16"])  # fmt: skip
    parser.add_argument("--data", type=Path, default=Path("data/deep_eval_speed"))
    parser.add_argument("--out", type=Path, default=Path("runs/deep_eval_speed"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not (Path(args.run) / "config.yaml").is_file():
        refuse(f"{args.run} is not a run directory (no config.yaml)")
    if args.count < 1 or args.segments < 1:
        refuse("--count and --segments must be at least 1")
    if not all(MIN_SIZE <= side <= MAX_SIZE for side in args.sides):
        refuse(f"every side must be in {MIN_SIZE}..{MAX_SIZE}, got {args.sides}")
    sets = {side: test_set(args.data, side, args.count) for side in args.sides}
    startup_set = test_set(args.data, min(args.sides), 1)
    rows = measure(args.run, sets, args.precisions, args.segments, args.threads, startup_set)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "deep_eval_speed", "run": args.run, "rows": rows}
    (args.out / "results.json").write_text(json.dumps(result, indent=2))
    (args.out / "table.md").write_text(format_results(result) + "\n")
    print(format_results(result))


if __name__ == "__main__":
    main()
