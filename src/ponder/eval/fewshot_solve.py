"""`ponder solve RUN task.json` on a few-shot run (skills, ARC): predict a task file's test
outputs as `ponder eval` does. The task is laid out like one task of the run's test split
(same canvas, demonstration slots and number of views), run through `predict_fewshot` (or,
with fewshot.ttt_steps, answered by a fine-tuned copy: ponder.eval.ttt), and the views'
answers are voted on by `rank_views`; the top answer of each test input wins."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ponder.data.dataset import Dataset
from ponder.data.fewshot import lay_out_task
from ponder.data.format import Split
from ponder.errors import UserError
from ponder.eval.fewshot import SearchSettings, predict_fewshot, rank_views
from ponder.eval.ttt import TTTSettings, answer_task, ttt_layout
from ponder.tasks.arc import Transform, identity, task_views
from ponder.tasks.fewshot import FewShotTask
from ponder.tasks.fewshot_family import FewShotFamily
from ponder.tasks.fewshot_render import render_task_png

VIEW_SEED = 0  # the views of a task file are drawn from a fixed seed: same file, same answer


def solve_fewshot_task(
    run,
    task: FewShotTask,
    png: Path | None = None,
    search: SearchSettings | None = None,
    ttt: TTTSettings | None = None,
) -> dict:
    """The run's (a ponder.trained.TrainedRun) answer to every test input of `task` (the
    answer format `ponder verify` reads) and, when the truth is known, the verdict;
    optional PNG of the task and answers. `ttt` with steps: answered with test-time
    training (ponder.eval.ttt)."""
    ranked = ranked_answers(run, task, search, ttt)
    answers = [candidates[0].grid for candidates in ranked]
    family = run.data.task
    truth = _truth(family, task)
    verdict = {} if truth is None else family.verify(task, answers, reference=truth)
    if png is not None:
        render_task_png(task, png, predictions=answers)
    return {"ascii": family.render_ascii(answers), "verdict": verdict}


def ranked_answers(
    run, task: FewShotTask, search: SearchSettings | None = None, ttt: TTTSettings | None = None
) -> list:
    """The run's candidates for each test input of `task`, best first (RankedAnswer lists;
    pass@2 reads the first two), with test-time training when `ttt` has steps."""
    with run.runtime.autocast():
        if ttt is not None and ttt.steps:
            return _ranked_with_ttt(run, task, ttt)
        return _ranked(run, task, search)


def _ranked(run, task: FewShotTask, search: SearchSettings | None) -> list:
    """Ranked answers per test input, voted across the task's views."""
    split = task_split(run.data, task)
    config = run.config
    preds = predict_fewshot(
        run.model, split, n_sup=config.train.N_sup, batch_size=config.eval.batch_size,
        device=run.runtime.device, search=search,
    )  # fmt: skip
    ranked, _ = rank_views(split, preds, [task.name])
    return ranked[task.name]


def _ranked_with_ttt(run, task: FewShotTask, ttt: TTTSettings) -> list:
    """Ranked answers per test input from a copy of the model fine-tuned on the task's
    demonstrations: the views `ponder solve` uses without it, topped up to ttt.views."""
    split = task_split(run.data, task)  # the layout checks (the task fits the canvas)
    config = run.config
    layout = ttt_layout(split, config.train.N_sup, config.eval.batch_size, run.runtime.device)
    views = file_views(task, max(split.num_puzzles, ttt.views), layout.canvas)
    blank = np.full(len(views), run.data.train.metadata.blank_identifier_id or 0)
    return answer_task(run.model, task, views, blank, layout, ttt).ranked


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
    split = lay_out_task(task, file_views(task, views, canvas), canvas, slots)
    blank = np.full_like(split.puzzle_identifiers, train.metadata.blank_identifier_id or 0)
    return replace(split, puzzle_identifiers=blank)


def file_views(task: FewShotTask, count: int, canvas: int) -> list[Transform]:
    """The views of a task from a file: the identity, then random dihedral and colour views
    drawn from VIEW_SEED, as the builder draws a test split's (no translation)."""
    if count <= 1:
        return [identity()]
    rng = np.random.default_rng(VIEW_SEED)
    return task_views(task, rng, count, translate=False, canvas=canvas)


def _check_fits(task: FewShotTask, canvas: int) -> None:
    for grid in task.grids():
        if max(grid.shape) > canvas:
            raise UserError(
                f"the task has a {grid.shape[0]}x{grid.shape[1]} grid, larger than the "
                f"{canvas}x{canvas} canvas the run was trained on"
            )
