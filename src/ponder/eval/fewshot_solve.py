"""`ponder solve RUN task.json` on a few-shot run (skills, ARC): predict a task file's test
outputs as `ponder eval` does. The task is laid out like one task of the run's test split
(same canvas, demonstration slots and number of views), run through `predict_fewshot`, and
the views' answers are voted on by `rank_views`; the top answer of each test input wins."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ponder.data.dataset import Dataset
from ponder.data.fewshot import Views, _Writer
from ponder.data.format import Split
from ponder.errors import UserError
from ponder.eval.fewshot import SearchSettings, predict_fewshot, rank_views
from ponder.tasks.fewshot import FewShotFamily, FewShotTask
from ponder.tasks.fewshot_render import render_task_png

VIEW_SEED = 0  # the views of a task file are drawn from a fixed seed: same file, same answer


def solve_fewshot_task(
    run, task: FewShotTask, png: Path | None = None, search: SearchSettings | None = None
) -> dict:
    """The run's (a ponder.runs.TrainedRun) answer to every test input of `task` (the
    answer format `ponder verify` reads) and, when the truth is known, the verdict;
    optional PNG of the task and answers."""
    split = task_split(run.data, task)
    config = run.config
    with run.runtime.autocast():
        preds = predict_fewshot(
            run.model, split, n_sup=config.train.N_sup, batch_size=config.eval.batch_size,
            device=run.runtime.device, search=search,
        )  # fmt: skip
    ranked, _ = rank_views(split, preds, [task.name])
    answers = [candidates[0].grid for candidates in ranked[task.name]]
    family = run.data.task
    truth = _truth(family, task)
    verdict = {} if truth is None else family.verify(task, answers, reference=truth)
    if png is not None:
        render_task_png(task, png, predictions=answers)
    return {"ascii": family.render_ascii(answers), "verdict": verdict}


def _truth(family: FewShotFamily, task: FewShotTask) -> list[np.ndarray] | None:
    """The test outputs the file holds, or the family's oracle's; None when neither."""
    try:
        return family.truths(task)
    except UserError:  # no stored outputs and no oracle answer: a prediction, no verdict
        return None


def task_split(data: Dataset, task: FewShotTask) -> Split:
    """`task` laid out as one group of the dataset `data`'s test split: its canvas,
    demonstration slots and views per task, under the blank puzzle identifier (a task from
    a file has none). The layout is the builder's own, so the model sees what it saw in
    evaluation."""
    train, test = data.train, data.test
    canvas = int(round(train.metadata.seq_len**0.5))
    _check_fits(task, canvas)
    slots = int(train.fewshot["demo_inputs"].shape[1])  # the builder gives both splits one K
    views = int(np.diff(test.group_indices).max()) if test.num_groups else 1
    writer = _Writer(canvas, slots, np.random.default_rng(VIEW_SEED), Views(test=views))
    writer.slots = slots  # what `_Writer.write` sets for a whole dataset
    split = writer._make_set([(task, writer._views(task, views, False), None)])
    blank = np.full_like(split.puzzle_identifiers, train.metadata.blank_identifier_id or 0)
    return replace(split, puzzle_identifiers=blank)


def _check_fits(task: FewShotTask, canvas: int) -> None:
    for grid in task.grids():
        if max(grid.shape) > canvas:
            raise UserError(
                f"the task has a {grid.shape[0]}x{grid.shape[1]} grid, larger than the "
                f"{canvas}x{canvas} canvas the run was trained on"
            )
