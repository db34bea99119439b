"""Results files: results.md and results.csv tables for suites and sweeps, and a suite's
results.md (one row per run), results.csv (one row per seed) and results.png (a bar per
run, a dot per seed).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ponder.experiments.runs import RunResult
from ponder.fileio import atomic_write_text

if TYPE_CHECKING:
    from ponder.experiments.suite import SuitePlan, SuiteReport

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


def write_results(plan: SuitePlan, report: SuiteReport) -> None:
    """results.md (one row per run), results.csv (one per seed) and results.png."""
    metric = plan.spec.metric
    rows = _run_rows(plan, report.results)
    write_markdown(plan.out, _suite_head(plan, report), _run_columns(metric), rows)
    write_csv(plan.out, _seed_columns(metric), _seed_rows(report.results, metric))
    plot_runs(plan.out / RESULTS_PNG, f"{plan.spec.name}: {metric}", metric, report.results)


def _suite_head(plan: SuitePlan, report: SuiteReport) -> str:
    decisions = "".join(f"- {d.describe()}\n" for d in report.decisions)
    header = f"# Suite {plan.spec.name}\n\nFile: {plan.source}\n\nOutcome: **{report.outcome}**\n\n"
    return header + f"Decisions:\n\n{decisions}\n"


def _run_columns(metric: str) -> list[str]:
    columns = ["run", "seeds", "status", f"{metric} mean", f"{metric} per seed", "params"]
    return columns + ["steps", "train s", "why stopped"]


def _seed_columns(metric: str) -> list[str]:
    columns = ["run", "seed", "status", metric, "params", "steps", "train_seconds"]
    return columns + ["stopped", "run_dir"]


def _seed_rows(results: dict[str, RunResult], metric: str) -> list[list[Any]]:
    return [
        [run.run_id, s.seed, s.status, value, s.params, s.steps, s.train_seconds, s.reason]
        + [str(s.run_dir)]
        for run in results.values()
        for s, value in zip(run.seeds, run.per_seed(metric), strict=True)
    ]


def _run_rows(plan: SuitePlan, results: dict[str, RunResult]) -> list[list[Any]]:
    rows = []
    for run_id, spec in plan.spec.runs.items():
        seeds = ", ".join(str(seed) for seed in spec.seeds)
        if run_id not in results:
            rows.append([run_id, seeds, "not run", None, None, None, None, None, None])
            continue
        run = results[run_id]
        values = run.per_seed(plan.spec.metric)
        per_seed = ", ".join(f"{v:.4g}" for v in values)
        steps = " / ".join(str(s.steps) for s in run.seeds if s.steps is not None)
        timed = [s.train_seconds for s in run.seeds if s.train_seconds is not None]
        seconds = round(sum(timed), 1) if timed else None
        reasons = "; ".join(sorted({s.reason for s in run.seeds if s.reason}))
        params = next((s.params for s in run.seeds if s.params is not None), None)
        rows.append([run_id, seeds, run.status, statistics.fmean(values), per_seed, params])
        rows[-1] += [steps or None, seconds, reasons or None]
    return rows


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
