"""TRM, HRM and the direct baseline on the maze benchmark at matched parameters and equal
wall time, several seeds each, plus TRM with the 1-step gradient as an ablation.

Each model's seconds per training step are measured first (`ponder bench step`, same thread
count as the runs); its step budget is then the wall-time budget divided by that, so every
run gets the same training time and a complete learning-rate schedule. Every run is judged
on the whole test split by the maze verifier. Runs go `--parallel` at a time, each on
`--threads` threads (2 runs x 1 thread on a 2-core machine: no oversubscription).

    .venv/bin/python benchmarks/maze_models.py --data data/demo_maze11 --budget-s 300 \\
        --seeds 0 1 2 --out runs/maze_models/results.json

Writes the results to --out and their table beside it (results.json -> results.md).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from runs import markdown, seconds_per_step, summarise, train_and_judge

# name -> (preset, extra overrides). Parameters: 37,281 / 37,314 / 40,353 / 37,281.
MODELS = {
    "trm": ("configs/trm_maze_cpu.yaml", []),
    "hrm": ("configs/hrm_maze_cpu.yaml", []),
    "transformer": ("configs/maze_quick_transformer.yaml", []),
    "trm_1step_grad": ("configs/trm_maze_cpu.yaml", ["model.one_step_grad=true"]),
}


def train_one(name: str, seed: int, steps: int, args) -> dict:
    preset, extra = MODELS[name]
    overrides = [*extra, f"data.path={args.data}", f"seed={seed}", f"train.steps={steps}"]
    run = train_and_judge(
        name, preset, overrides, args.out.parent / f"{name}_seed{seed}", args.threads
    )
    return {**run, "seed": seed}


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
        "benchmark": "maze_models",
        "budget_s": args.budget_s,
        "threads_per_run": args.threads,
        "parallel_runs": args.parallel,
        "wall_minutes": (time.time() - started) / 60,
        "runs": runs,
        "table": table,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    text = format_results(result)
    args.out.with_suffix(".md").write_text(text + "\n")  # results.json -> results.md
    print(text)


def format_results(result: dict) -> str:
    """The table from the results file (benchmarks/render_docs.py renders the docs' copy with
    it): per model, the seeds' exact, mean and pooled CI."""
    return markdown(summarise(result["runs"]))


if __name__ == "__main__":
    main()
