"""What a model does segment by segment, per failure class: a table and a plot from trace
files (`ponder eval RUN --data DIR --segments N --trace FILE`).

For each trace, puzzles are grouped by their class (solved, wrong fixed point, still moving,
oscillating; ponder.eval.trace) and, at segments 1, 2, 4, ... N, the median over the class
of three per-puzzle curves is reported:

- answered: cells whose answer differs from the input (on a maze, the cells marked route);
- wrong: cells whose answer differs from the stored answer;
- change: the state's relative change over that segment.

Writes results.json (with format_results, the table), table.md and trace.png (median wrong
cells and state change against segment, one line per class and trace) to --out.

    .venv/bin/python benchmarks/trace_report.py runs/dt_detach/trace31_seed0.json \\
        runs/dt_detach/trace31_seed1.json --labels "seed 0" "seed 1" --out runs/trace_report
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ponder.fileio import atomic_write_text
from runs import refuse

CLASSES = ("solved", "wrong fixed point", "oscillating", "still moving")
CURVES = {"answered": "cells_answered", "wrong": "cells_wrong", "change": "state_change"}


def marks(segments: int) -> list[int]:
    """1, 2, 4, ... up to `segments`, and `segments` itself."""
    out = [1 << i for i in range(segments.bit_length()) if 1 << i <= segments]
    return out if out[-1] == segments else [*out, segments]


def summarise_trace(trace: dict, label: str) -> dict:
    """One trace's medians by class at the marked segments."""
    at = marks(trace["segments"])
    by_class = {}
    for name in CLASSES:
        rows = [p for p in trace["puzzles"] if p["class"] == name]
        if not rows:
            continue
        curves = {}
        for short, key in CURVES.items():
            values = np.median(np.array([p[key] for p in rows], dtype=float), axis=0)  # (S,)
            curves[short] = [float(f"{values[m - 1]:.4g}") for m in at]
        by_class[name] = {"n": len(rows), **curves}
    return {"label": label, "n": len(trace["puzzles"]), "marks": at, "by_class": by_class}


def format_results(results: dict) -> str:
    lines = []
    for trace in results["traces"]:
        head = " | ".join(str(m) for m in trace["marks"])
        lines += [f"**{trace['label']}** ({trace['n']} puzzles; medians by class at each segment)",
                  "", f"| class | n | curve | {head} |",
                  "|---|---|---|" + "---|" * len(trace["marks"])]  # fmt: skip
        for name, row in trace["by_class"].items():
            for curve in CURVES:
                cells = " | ".join(_cell(v, curve) for v in row[curve])
                lines.append(f"| {name} | {row['n']} | {curve} | {cells} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _cell(value: float, curve: str) -> str:
    return f"{value:.3f}" if curve == "change" else f"{value:.0f}"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (wrong, change) = plt.subplots(1, 2, figsize=(11, 4))
    styles = ["-", "--", ":", "-."]
    for trace, style in zip(results["traces"], styles * 4, strict=False):
        for name, row in trace["by_class"].items():
            label = f"{trace['label']}: {name} ({row['n']})"
            colour = f"C{CLASSES.index(name)}"
            wrong.plot(trace["marks"], row["wrong"], style, color=colour, label=label)
            change.plot(trace["marks"], row["change"], style, color=colour, label=label)
    for axis, title in ((wrong, "median wrong cells"), (change, "median state change")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("segment")
        axis.set_title(title)
    change.set_yscale("log")
    wrong.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load(path: Path) -> dict:
    try:
        trace = json.loads(path.read_text())
        trace["puzzles"][0]["cells_wrong"]
        return trace
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        refuse(f"{path} is not a trace file with cells_wrong (ponder eval --trace)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("traces", nargs="+", type=Path)
    parser.add_argument("--labels", nargs="+", help="one per trace (default: file names)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    labels = args.labels or [path.stem for path in args.traces]
    if len(labels) != len(args.traces):
        refuse(f"{len(labels)} labels for {len(args.traces)} traces")
    if args.out.exists() and not args.out.is_dir():
        refuse(f"--out {args.out} is a file, not a directory")
    traces = [
        summarise_trace(load(path), label) for path, label in zip(args.traces, labels, strict=True)
    ]
    results = {"benchmark": "trace_report", "traces": traces}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "results.json", json.dumps(results, indent=2) + "\n")
    atomic_write_text(args.out / "table.md", format_results(results))
    plot(results, args.out / "trace.png")
    print(format_results(results))
    print(f"wrote {args.out}/results.json, table.md and trace.png")


if __name__ == "__main__":
    main()
