"""`ponder data import TASK FILE --out DIR`: a user's own puzzles, as a dataset.

The file holds puzzles in the task's text format (ponder oracle / verify read the same),
separated by blank lines. Every puzzle is parsed with the task's own checks and solved by its
oracle; one that is malformed or has no solution is refused with its number and the line it
starts on, and nothing is written. All puzzles must be one size (a dataset has one sequence
length). By default every puzzle goes to the test split, for `ponder eval RUN --data DIR`;
`--train-fraction` moves a seeded random share of them to the train split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ponder.data.build import check_seed, grid_split, write_once
from ponder.data.format import (
    BLANK_IDENTIFIER,
    FORMAT_VERSION,
    PONDER_JSON,
    content_hash,
    write_identifiers,
    write_json,
    write_split,
)
from ponder.errors import UserError
from ponder.fileio import read_text_file

MAX_PUZZLES = 1_000_000  # a bound on a user's file, not a limit anyone should meet


def import_puzzles(
    task_name: str,
    source: Path,
    out_dir: Path,
    *,
    train_fraction: float = 0.0,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Parse, check and solve every puzzle of `source`; write them as a dataset."""
    from ponder import tasks  # late: the registry imports every task module

    task = tasks.get(task_name)
    if getattr(task, "fewshot", False):
        raise UserError(
            f"{task_name} tasks are imported with `ponder data build {task_name} --source`"
        )
    check_split_options(train_fraction, seed)
    text = read_text_file(Path(source))
    pairs = [(p, task.solve(p)) for p in parse_blocks(task, text, str(source))]
    recipe = {
        "task": task_name,
        "imported": str(source),
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "train_fraction": train_fraction,
        "seed": seed,
    }
    return write_once(
        Path(out_dir), recipe, overwrite, lambda tmp: write_pairs(task, tmp, recipe, pairs)
    )


def check_split_options(train_fraction: float, seed: int) -> None:
    """--train-fraction and --seed, checked before any file is read."""
    if not 0.0 <= train_fraction < 1.0:
        raise UserError(f"--train-fraction must be in [0, 1), got {train_fraction}")
    check_seed(seed)


def parse_blocks(task: Any, text: str, where: str) -> list[np.ndarray]:
    """The puzzles of a blank-line separated file, each checked by the task's parse_puzzle;
    UserError naming the puzzle's number and first line."""
    puzzles, shapes = [], set()
    for number, (line, block) in enumerate(_blocks(text), start=1):
        try:
            puzzle = task.parse_puzzle(block)
            task.solve(puzzle)  # no route is a mistake in the file, named here
        except UserError as err:
            raise UserError(f"{where}: puzzle {number} (line {line}): {err}") from None
        shapes.add(puzzle.shape)
        if len(shapes) > 1:
            sizes = " and ".join(f"{h}x{w}" for h, w in sorted(shapes))
            raise UserError(
                f"{where}: puzzle {number} (line {line}) is {puzzle.shape[0]}x{puzzle.shape[1]}; "
                f"one dataset holds one size ({sizes} found): import each size on its own"
            )
        puzzles.append(puzzle)
        if len(puzzles) > MAX_PUZZLES:
            raise UserError(f"{where}: more than {MAX_PUZZLES:,} puzzles")
    if not puzzles:
        raise UserError(f"{where}: no puzzles found (puzzles are separated by blank lines)")
    return puzzles


def _blocks(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each blank-line separated block."""
    blocks, current, first = [], [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            first = first or number
            current.append(line)
        elif current:
            blocks.append((first, "\n".join(current) + "\n"))
            current, first = [], 0
    if current:
        blocks.append((first, "\n".join(current) + "\n"))
    return blocks


def write_pairs(
    task: Any, root: Path, recipe: dict, pairs: list, notes: dict | None = None
) -> None:
    """(puzzle, answer) grids as a dataset at `root`: a seeded `train_fraction` of them in
    train, the rest in test, in file order. `notes` go into ponder.json beside the recipe
    (facts about the source, not part of what makes two imports the same)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(recipe["seed"])
    chosen = set(rng.permutation(len(pairs))[: int(recipe["train_fraction"] * len(pairs))].tolist())
    seq_len = int(task.encode(pairs[0][0]).shape[0])
    train = [pair for i, pair in enumerate(pairs) if i in chosen]
    test = [pair for i, pair in enumerate(pairs) if i not in chosen]
    write_split(root, "train", grid_split(task, train, False, seq_len))
    write_split(root, "test", grid_split(task, test, False, seq_len))
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_json(
        root / PONDER_JSON,
        {
            **recipe,
            **(notes or {}),
            "content_hash": content_hash(root),
            "format_version": FORMAT_VERSION,
        },
    )
