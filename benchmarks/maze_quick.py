"""Quality and speed of the demo's presets: trains the recursive model (HRM) and the direct
baseline as `make demo` does, then reports per model held-out exact accuracy with its 95% CI, wall time,
examples/s, steps until the first exact training answer, and achieved matmul FLOP/s as a
fraction of this machine's measured matmul peak (in the precision the run used).

    .venv/bin/python benchmarks/maze_quick.py [--demo configs/demo.yaml] [--out FILE.json]

Writes the results to --out and their table beside it (benchmark.json -> benchmark.md).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from ponder.config import load_config
from ponder.demo import DEFAULT_DEMO, judge_run, read_demo_spec, run_demo
from ponder.train.benchstep import bench_step


def first_exact_step(run_dir: Path) -> int | None:
    """First logged step whose halted training answers include an exact one."""
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("train/label_exact", 0) > 0:
            return int(row["step"])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=DEFAULT_DEMO)
    parser.add_argument("--out", type=Path, default=Path("runs/demo/benchmark.json"))
    parser.add_argument(
        "--reuse", action="store_true", help="judge the runs a finished `make demo` left"
    )
    args = parser.parse_args()
    spec = read_demo_spec(args.demo)
    root = args.demo.resolve().parent.parent
    if args.reuse:
        reports = {name: judge_run(root / spec.out / name) for name in spec.runs}
    else:
        reports = run_demo(args.demo)
    results = {"benchmark": "maze_quick", "machine": _machine(), "models": {}}
    for name, preset in spec.runs.items():
        run_dir = root / spec.out / name
        config = load_config(root / preset, [f"data.path={root / spec.dataset.out}"])
        speed = bench_step(config, warmup=3, steps=10)
        report = reports[name]
        results["models"][name] = {
            "params": report["params"],
            "exact": report["exact"],
            "exact_ci": [report["exact_ci_low"], report["exact_ci_high"]],
            "n_test": report["n"],
            "train_seconds": report["train_seconds"],
            "steps": config.train.steps,
            "first_exact_step": first_exact_step(run_dir),
            "examples_per_s": speed.examples_per_s,
            "ms_per_step": speed.ms_per_step,
            "achieved_gflops": speed.achieved_flops / 1e9,
            "peak_gflops": speed.peak_flops / 1e9,
            "peak_fraction": speed.peak_fraction,
            "dtype": speed.dtype,
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    text = format_results(results)
    args.out.with_suffix(".md").write_text(text + "\n")
    print(json.dumps(results, indent=2))
    print(text)


def format_results(results: dict) -> str:
    """The table from the results file (benchmarks/render_docs.py renders the docs' copy with
    it): per model, held-out exact with its CI, training time and speed."""
    lines = [
        "| model | params | exact % (95% CI) | n | train s | steps | first exact step | "
        "ms/step | examples/s | GFLOP/s | matmul peak GFLOP/s | of peak | dtype |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in results["models"].items():
        lo, hi = m["exact_ci"]
        first = "" if m["first_exact_step"] is None else m["first_exact_step"]
        lines.append(
            f"| {name} | {m['params']:,} | {100 * m['exact']:.1f} ({100 * lo:.1f}-{100 * hi:.1f}) "
            f"| {m['n_test']} | {m['train_seconds']:.0f} | {m['steps']} | {first} | "
            f"{m['ms_per_step']:.1f} | {m['examples_per_s']:.0f} | {m['achieved_gflops']:.1f} | "
            f"{m['peak_gflops']:.0f} | {100 * m['peak_fraction']:.1f}% | {m['dtype']} |"
        )
    return "\n".join(lines)


def _machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    main()
