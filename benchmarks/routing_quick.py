"""City routing at CPU scale: TRM on the quick preset beside the cheats, all judged by the
same verifier on every test city, so a cheat that games one metric shows up in the others.

    cheats:  everything-is-route (every city cell but S/E marked), copy-the-input (nothing
             marked), scattered (as many cells as the oracle route, drawn at random from
             the roads this vehicle may use, so valid but almost never connected); the
             oracle's own answers as a check that the verifier accepts a correct route

Writes results.json and table.md (exact with its 95% CI, path_ratio, valid_path_ratio,
connectivity, valid_route, path_f1, and cost_ratio averaged over the valid routes, the
answers it is defined for) to --out.

    .venv/bin/python benchmarks/routing_quick.py                # train, then judge
    .venv/bin/python benchmarks/routing_quick.py --reuse DIR    # judge a finished run
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ponder.data import build_dataset
from ponder.data.dataset import open_dataset
from ponder.errors import UserError
from ponder.eval.evaluate import wilson_interval
from ponder.tasks.routing import END, ROUTE, START, entry_costs, read_header
from runs import ponder, refuse, train_and_judge

PRESET = "configs/routing_quick.yaml"
DATA = {"size": 10, "train": 10000, "test": 1000, "seed": 0}
METRICS = ["exact", "path_ratio", "valid_path_ratio", "connectivity", "valid_route", "path_f1",
           "cost_ratio"]  # fmt: skip


def everything_is_route(puzzle: np.ndarray, oracle: np.ndarray, rng) -> np.ndarray:
    answer = puzzle.copy()
    city = answer[1:]
    city[(city != START) & (city != END)] = ROUTE
    return answer


def copy_the_input(puzzle: np.ndarray, oracle: np.ndarray, rng) -> np.ndarray:
    return puzzle.copy()


def scattered(puzzle: np.ndarray, oracle: np.ndarray, rng) -> np.ndarray:
    """As many route cells as the oracle's, on random cells this vehicle may enter."""
    vehicle, hour = read_header(puzzle)
    city = puzzle[1:]
    allowed = np.flatnonzero((entry_costs(city, vehicle, hour) >= 0) & (city != END))
    count = min(int((oracle[1:] == ROUTE).sum()), allowed.size)
    answer = puzzle.copy()
    answer[1:].reshape(-1)[rng.choice(allowed, size=count, replace=False)] = ROUTE
    return answer


def oracle_answer(puzzle: np.ndarray, oracle: np.ndarray, rng) -> np.ndarray:
    return oracle.copy()


CHEATS: dict[str, Callable] = {
    "cheat: everything is route": everything_is_route,
    "cheat: copy the input": copy_the_input,
    "cheat: scattered valid cells": scattered,
    "oracle (verifier check)": oracle_answer,
}


def judge_cheat(data, answer_for: Callable) -> dict:
    """Mean verifier metrics of one answer rule over every test city."""
    shape = data.spec.grid_shape
    rng = np.random.default_rng(0)
    totals = dict.fromkeys(METRICS, 0.0)
    split = data.test
    for inputs, labels in zip(split.inputs, split.labels, strict=True):
        puzzle = data.task.decode(inputs, shape)
        oracle = data.task.decode(labels, shape)
        verdict = data.task.verify(puzzle, answer_for(puzzle, oracle, rng), oracle)
        for key in METRICS:
            totals[key] += float(verdict[key])
    n = split.num_examples
    return {"n": n, **{key: total / n for key, total in totals.items()}}


def row(name: str, figures: dict) -> str:
    n = int(figures["n"])
    lo, hi = wilson_interval(round(figures["exact"] * n), n)
    cells = [f"{100 * figures['exact']:.1f} ({100 * lo:.1f}-{100 * hi:.1f})"]
    cells += [f"{figures[key]:.3f}" for key in METRICS[1:-1]]
    # verify's cost_ratio is 0 unless the route is valid: its mean over valid routes
    valid = figures["valid_route"]
    cells.append(f"{figures['cost_ratio'] / valid:.3f}" if valid else "-")
    return f"| {name} | {n} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/routing10"))
    parser.add_argument("--out", type=Path, default=Path("runs/routing_quick"))
    parser.add_argument("--reuse", type=Path, help="judge this finished run instead of training")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    started = time.time()
    if args.reuse is not None and not (args.reuse / "summary.json").is_file():
        refuse(f"--reuse {args.reuse} holds no finished run (no summary.json)")
    try:
        build_dataset("routing", args.data, **DATA)
        data = open_dataset(args.data)
    except UserError as err:
        refuse(str(err))
    run_dir = args.reuse or args.out / "trm"
    if args.reuse is None:
        overrides = [f"data.path={args.data}"]
        train_and_judge("trm", PRESET, overrides, run_dir, args.threads)
    summary = json.loads((run_dir / "summary.json").read_text())
    # judged again so the figures come from the current verifier, on every test city
    judged = json.loads(ponder("eval", str(run_dir), "--json", threads=args.threads).stdout)
    rows = {f"TRM ({summary['params']:,} params, {summary['steps']} steps)": judged}
    rows.update({name: judge_cheat(data, rule) for name, rule in CHEATS.items()})
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "routing_quick", "rows": rows,
              "train_seconds": summary["train_seconds"],
              "wall_minutes": (time.time() - started) / 60}  # fmt: skip
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    text = format_results(result)
    (args.out / "table.md").write_text(text + "\n")
    print(text)


def format_results(result: dict) -> str:
    """table.md's text from results.json (benchmarks/render_docs.py renders the docs' copy
    with it): one row per answer rule, the model's first."""
    header = "| answers | n | exact % (95% CI) | " + " | ".join(METRICS[1:-1])
    header += " | cost_ratio (valid routes) |"
    lines = [header, "|" + "---|" * (len(METRICS) + 2)]
    lines += [row(name, figures) for name, figures in result["rows"].items()]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
