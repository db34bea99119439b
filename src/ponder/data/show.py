"""`ponder data show DIR`: one example of a dataset in its task's file format, so a user
has a file to try `ponder oracle`, `verify` and `solve` on.

Maze and routing: an example is one row of the split (augmented views included), printed
in the task's text format; `answer` prints its label, the stored solution. Few-shot (skills,
ARC): an example is one task (a group), printed as ARC JSON: its demonstrations and test
inputs, without the test outputs (the answer, as a puzzle file leaves it out); `answer`
prints only those outputs, in the answer format (a JSON list of grids, one per test input).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ponder import tasks
from ponder.data.fewshot import read_task_names
from ponder.data.format import SPLITS, Split, load_split, read_ponder_json
from ponder.errors import UserError
from ponder.tasks.fewshot import Pair, answers_to_json, stored_answers, task_to_json


def show_example(root: Path, split: str = "test", index: int = 0, answer: bool = False) -> str:
    """Example `index` of `split` as text (its stored answer with `answer`); UserError for
    a missing dataset, an unknown split or an index out of range."""
    root = Path(root)
    if not root.is_dir():
        if root.exists():
            raise UserError(f"{root} is a file, not a dataset directory")
        raise UserError(f"dataset directory not found: {root}")
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    task = tasks.get(_task_name(root))
    data = load_split(root, split)
    if getattr(task, "fewshot", False):
        return _show_fewshot(root, split, data, index, answer)
    _check_index(index, data.num_examples, f"the {split} split has", "example")
    tokens = (data.labels if answer else data.inputs)[index]
    return task.format(task.decode(tokens, task.grid_shape(data.metadata.seq_len)))


def _task_name(root: Path) -> str:
    name = (read_ponder_json(root) or {}).get("task")
    if not isinstance(name, str):
        raise UserError(
            f"{root} has no ponder.json naming its task (`data show` reads datasets built by ponder)"
        )
    return name


def _show_fewshot(root: Path, split: str, data: Split, index: int, answer: bool) -> str:
    # Late: eval.fewshot reads tasks back the way `ponder eval` sees them, and imports torch.
    from ponder.data.fewshot import split_tasks

    _check_index(index, data.num_groups, f"the {split} split has", "task")
    task = split_tasks(data, read_task_names(root, split))[index]
    if not task.test:  # an ARC evaluation task whose demonstrations alone train
        raise UserError(
            f"{split} task {index} ({task.name}) has no test pairs in this split; "
            "its test pairs are in the test split"
        )
    if not answer:  # the puzzle alone: the test outputs are the answer
        queries = tuple(Pair(pair.input, None) for pair in task.test)
        return json.dumps(task_to_json(dataclasses.replace(task, test=queries))) + "\n"
    stored = stored_answers(task)
    if stored is None:
        raise UserError(f"{split} task {index} ({task.name}) stores no test outputs to print")
    return answers_to_json(stored)


def _check_index(index: int, count: int, where: str, what: str) -> None:
    if count == 0:
        raise UserError(f"{where} no {what}s to show")
    if not 0 <= index < count:
        raise UserError(
            f"--index {index} is out of range: {where} {count} {what}"
            f"{'s' if count > 1 else ''} (0..{count - 1})"
        )
