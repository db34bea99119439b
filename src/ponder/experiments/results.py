"""Results files of suites and sweeps: results.md and results.csv tables, and
results.png (a bar per run, a dot per seed). What goes in a suite's rows is the suite's
business (ponder.experiments.suite.write_results)."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.experiments.runs import RunResult
from ponder.fileio import atomic_write_text

RESULTS_MD, RESULTS_CSV, RESULTS_PNG = "results.md", "results.csv", "results.png"
Rows = Sequence[Sequence[Any]]


def markdown_table(columns: Sequence[str], rows: Rows) -> str:
    def cell(value: Any) -> str:
        text = "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_text(columns: Sequence[str], rows: Rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def write_markdown(out: Path, head: str, columns: Sequence[str], rows: Rows) -> None:
    """<out>/results.md: `head` (Markdown), then the table."""
    atomic_write_text(out / RESULTS_MD, head + markdown_table(columns, rows))


def write_csv(out: Path, columns: Sequence[str], rows: Rows) -> None:
    atomic_write_text(out / RESULTS_CSV, csv_text(columns, rows))


def plot_runs(path: Path, title: str, metric: str, results: dict[str, RunResult]) -> None:
    """A bar per run (its mean over seeds) with one dot per seed, written atomically."""
    from matplotlib.figure import Figure  # lazy: plotting only at the end of a suite

    from ponder.tasks.grids import save_figure_atomic

    runs = list(results.values())
    fig = Figure(figsize=(max(4.0, 0.9 * len(runs) + 1.5), 4.0))
    ax = fig.subplots()
    for x, run in enumerate(runs):
        values = run.per_seed(metric)
        ax.bar(x, statistics.fmean(values), color="#9ab" if run.status == "done" else "#dba")
        ax.scatter([x] * len(values), values, color="black", s=12, zorder=3)
    ax.set_xticks(range(len(runs)), [run.run_id for run in runs], rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(title)
    fig.tight_layout()
    save_figure_atomic(fig, path)
