"""`ponder eval` and `ponder solve`: judge a trained run (ponder.runs.load_run) with its
objective and write its reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ponder.errors import UserError
from ponder.fileio import atomic_write_text, read_text_file

if TYPE_CHECKING:
    from ponder.runs import TrainedRun


def evaluate_run(run: TrainedRun, segments: int | str | None = None, tasks: int = 0) -> dict:
    """Judge a run on every example of its dataset's test split (few-shot: `tasks` > 0,
    the first `tasks` tasks of each set); write eval/metrics.json and the objective's
    outputs (samples.png failures first, or submission.json and task PNGs) to eval/ in the
    run directory. `segments`: see Objective.depth."""
    if run.data.test.num_examples == 0:
        raise UserError(f"nothing to evaluate: the test split of {run.data.root} is empty")
    if tasks and not run.data.test.fewshot:
        raise UserError("--tasks picks few-shot tasks (skills, ARC); this run's data has none")
    depth = run.objective.depth(run.runtime.device, segments=segments, tasks=tasks)
    with torch.no_grad(), run.runtime.autocast():
        judged = run.objective.judge(run.model, run.data, depth)
    out_dir = run.run_dir / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = run.objective.write_outputs(run.data, judged, out_dir)
    report = judged.report
    report["data"] = str(run.data.root)
    report["checkpoint"] = str(run.checkpoint)
    if tasks:
        report["tasks_per_set"] = tasks
    report["files"] = {"metrics": str(out_dir / "metrics.json"), **files}
    atomic_write_text(out_dir / "metrics.json", json.dumps(report, indent=2) + "\n")
    return report


def solve_file(
    run: TrainedRun, file: Path, png: Path | None = None, segments: int | str | None = None
) -> dict:
    """Solve one puzzle file: the model's answer, the verifier's verdict, optional PNG."""
    return run.objective.solve(run, read_text_file(file), png, segments)
