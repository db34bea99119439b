"""Validate a dataset directory: structure, value ranges, honest labels and no leakage.

`check_dataset` stops at the first problem and raises UserError naming it; a dataset that
passes loads and trains. Datasets built by HRM or TRM (no ponder.json) are checked too,
without the checks that need to know the task. `check_opened` is what `train`, `eval` and
`solve` run on every dataset they open: the same checks less the leakage check and, for a
large dataset, the content hash.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ponder.data.augment import canonical_key
from ponder.data.format import (
    PONDER_JSON,
    SPLITS,
    Split,
    content_files,
    content_hash,
    load_split,
    read_identifiers,
    read_ponder_json,
)
from ponder.errors import UserError
from ponder.limits import SEED_MAX

# Above this fraction of non-pad input cells with ignored labels, labels are "padding
# except the answer" (a model predicting the answer token everywhere would look perfect).
MAX_IGNORED_LABEL_FRACTION = 0.5
# Inside the area each example's labels cover (the box from its first to its last labelled
# row and column), at most this fraction may be ignored. A whole output grid has no holes and
# an ARC-style canvas only misses one corner of its end-of-grid frame, while labels that
# ignore, say, every road cell but the route's leave holes all over the box even when they
# stay under MAX_IGNORED_LABEL_FRACTION.
MAX_LABEL_HOLE_FRACTION = 0.1
# The content hash reads every array file a second time (sha256 at roughly 1 GB/s, on top
# of loading them). Opening a dataset to train or evaluate hashes it only up to this size,
# a fraction of a second; `ponder data check` always does.
HASH_ON_OPEN_MAX_BYTES = 64 * 2**20
# Label checks walk the examples in chunks of this many rows, so their boolean temporaries
# stay small for datasets of a million examples.
CHECK_CHUNK_ROWS = 1 << 15


def check_dataset(root: Path) -> dict[str, Any]:
    """Check every split of the dataset at `root`; returns a summary (see `format_summary`).

    Summary: {"root", "task", "aug", "identifiers", "train": {...}, "test": {...},
    "leakage": {"dihedral": bool, "leaked_puzzles": int}}; each split holds
    examples, puzzles, groups, seq_len, vocab_size and label_histogram (count per token id).
    A dataset built with --overfit tests on its training puzzles on purpose: its leaked
    puzzles are counted, not refused (leaked_puzzles is 0 for any other)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: dataset directory not found")
    ponder = read_ponder_json(root)
    check_ponder_json(root, ponder)
    task = dataset_task(root, ponder)
    splits = {name: load_split(root, name) for name in SPLITS}
    identifiers = read_identifiers(root)
    check_contents(root, splits["train"], splits["test"], task)
    dihedral = _use_dihedral(ponder, splits["train"].metadata.seq_len)
    overfit = ponder is not None and ponder.get("overfit") is True
    leaked = _check_leakage(splits["train"], splits["test"], dihedral, allowed=overfit)
    if ponder is not None:
        _check_content_hash(root, ponder)
    summary: dict[str, Any] = {
        "root": str(root),
        "task": None if task is None else task.name,
        "aug": None if ponder is None else ponder.get("aug"),
        "identifiers": len(identifiers),
    }
    summary.update({name: _split_summary(split) for name, split in splits.items()})
    summary["leakage"] = {"dihedral": dihedral, "leaked_puzzles": leaked}
    return summary


def check_opened(root: Path, train: Split, test: Split, task, ponder: dict | None) -> None:
    """The checks `train`, `eval` and `solve` run on a dataset they open: `check_dataset`'s,
    less the leakage check (it judges how the split was drawn, crashes nothing, and an
    --overfit dataset leaks on purpose) and, above HASH_ON_OPEN_MAX_BYTES, the content hash."""
    check_ponder_json(root, ponder)
    read_identifiers(root)  # a run looks puzzles up by name in it
    try:
        check_contents(root, train, test, task)
    except UserError as err:
        # "train: labels ..." alone could be read as the command; say which dataset (a
        # message that names one of its files already does).
        if str(err).startswith(str(root)):
            raise
        raise UserError(f"dataset {root}: {err}") from None
    if ponder is not None and _content_bytes(root) <= HASH_ON_OPEN_MAX_BYTES:
        _check_content_hash(root, ponder)


def check_ponder_json(root: Path, ponder: dict[str, Any] | None) -> None:
    """The recipe keys builders write have their types: a mapping of task `params`, a
    `seed` a run could take, whole `train` and `test` counts, and no NaN or infinity
    anywhere (Python's JSON reader accepts them)."""
    if ponder is None:
        return
    path = root / PONDER_JSON
    wanted = {
        "params": (lambda v: isinstance(v, dict), "a mapping of task parameters"),
        "seed": (lambda v: _whole(v) and 0 <= v <= SEED_MAX, f"an integer in 0..{SEED_MAX}"),
        "train": (_count, "an integer >= 0 or null"),
        "test": (_count, "an integer >= 0 or null"),
    }
    for key, (fits, what) in wanted.items():
        if key in ponder and not fits(ponder[key]):
            raise UserError(f"{path}: {key!r} must be {what}, got {ponder[key]!r}")
    for key, value in _numbers(ponder):
        if not math.isfinite(value):
            raise UserError(f"{path}: {key!r} must be a finite number, got {value!r}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(value: Any) -> bool:
    return value is None or (_whole(value) and value >= 0)  # null: the builder's default


def _numbers(value: Any, key: str = "") -> Iterator[tuple[str, float]]:
    """(dotted key, value) of every float in a JSON value."""
    if isinstance(value, float):
        yield key, value
    elif isinstance(value, dict):
        for name, inner in value.items():
            yield from _numbers(inner, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _numbers(inner, f"{key}.{i}")


def dataset_task(root: Path, ponder: dict[str, Any] | None, given: str | None = None):
    """The task of the dataset at `root`: `given` (a config's data.task, which HRM/TRM-built
    data needs) or ponder.json's; None when neither names one. UserError for an unknown
    name, or when the two disagree."""
    from ponder import tasks  # late: the registry imports every task module

    recorded = None if ponder is None else ponder.get("task")
    if recorded is not None and not isinstance(recorded, str):
        raise UserError(f"{root / PONDER_JSON}: 'task' must be a task name, got {recorded!r}")
    if given is not None and recorded is not None and given != recorded:
        raise UserError(f"data.task is {given} but {root / PONDER_JSON} says task {recorded}")
    name = given or recorded
    if name is None:
        return None
    try:
        return tasks.get(name)
    except UserError as err:
        raise UserError(f"{root}: {err}") from None


def check_contents(root: Path, train: Split, test: Split, task) -> None:
    """Every check on loaded splits but leakage and the content hash: structure and labels
    per split, the splits agree, tokens and grid shape fit `task` (None: unknown, HRM/TRM
    data), and the few-shot arrays and task lists fit their split."""
    splits = {"train": train, "test": test}
    shape = _grid_shape(root, task, train.metadata.seq_len)
    for name, split in splits.items():
        check_split(name, split, shape)
    _check_splits_agree(train, test)
    if task is not None:
        _check_task_tokens(root, task, splits)
    _check_fewshot(root, task, splits)


def check_split(name: str, split: Split, grid_shape: tuple[int, int] | None = None) -> None:
    """Structural and label checks for one split; UserError naming the first problem.

    `grid_shape` (rows, cols) is how a token row lies on the grid, for the label-hole check
    (default: a square when seq_len is one, else a single row)."""
    _check_token_arrays(name, split)
    n, p = split.num_examples, len(split.puzzle_identifiers)
    _check_offsets(name, "puzzle_indices", split.puzzle_indices, n, "examples")
    _check_offsets(name, "group_indices", split.group_indices, p, "puzzles")
    if len(split.puzzle_indices) != p + 1:
        raise UserError(
            f"{name}: puzzle_indices has {len(split.puzzle_indices)} entries but there are "
            f"{p} puzzle identifiers (expected {p + 1})"
        )
    _check_identifiers(name, split)
    _check_totals(name, split)
    _check_labels_not_padding(name, split)
    _check_label_holes(name, split, grid_shape or _grid_shape(None, None, split.metadata.seq_len))


def _check_token_arrays(name: str, split: Split) -> None:
    meta = split.metadata
    for field in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
        array = getattr(split, field)
        if not np.issubdtype(array.dtype, np.integer):
            raise UserError(f"{name}: {field} must be an integer array, got dtype {array.dtype}")
    for field in ("inputs", "labels"):
        array = getattr(split, field)
        if array.ndim != 2 or array.shape[1] != meta.seq_len:
            raise UserError(
                f"{name}: {field} has shape {list(array.shape)}, expected [N, {meta.seq_len}] "
                f"(seq_len from dataset.json)"
            )
        if array.size and (array.min() < 0 or array.max() >= meta.vocab_size):
            bad = int(array.max()) if array.max() >= meta.vocab_size else int(array.min())
            raise UserError(
                f"{name}: {field} holds token {bad}, outside [0, {meta.vocab_size}) "
                f"(vocab_size from dataset.json)"
            )
    if split.labels.shape[0] != split.inputs.shape[0]:
        raise UserError(
            f"{name}: {split.labels.shape[0]} label rows for {split.inputs.shape[0]} input rows"
        )


def _check_offsets(name: str, field: str, offsets: np.ndarray, end: int, what: str) -> None:
    """CSR offsets: 1D, start at 0, strictly increasing (no empty entry: it could never be
    sampled), end at `end`."""
    if offsets.ndim != 1 or offsets.size == 0:
        raise UserError(f"{name}: {field} must be a non-empty 1D array, got shape {offsets.shape}")
    if offsets[0] != 0:
        raise UserError(f"{name}: {field} must start at 0, starts at {int(offsets[0])}")
    steps = np.diff(offsets.astype(np.int64))
    if steps.size and steps.min() < 0:
        at = int(np.argmax(steps < 0))
        raise UserError(f"{name}: {field} decreases at position {at + 1}")
    if steps.size and steps.min() == 0:
        at = int(np.argmax(steps == 0))
        raise UserError(f"{name}: {field} has an empty entry at position {at} (no {what})")
    if offsets[-1] != end:
        raise UserError(f"{name}: {field} ends at {int(offsets[-1])}, expected {end} ({what})")


def _check_identifiers(name: str, split: Split) -> None:
    ids, limit = split.puzzle_identifiers, split.metadata.num_puzzle_identifiers
    if ids.ndim != 1:
        raise UserError(f"{name}: puzzle_identifiers must be 1D, got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= limit):
        bad = int(ids.max()) if ids.max() >= limit else int(ids.min())
        raise UserError(
            f"{name}: puzzle identifier {bad} outside [0, {limit}) "
            f"(num_puzzle_identifiers from dataset.json)"
        )


def _check_totals(name: str, split: Split) -> None:
    meta, g, p = split.metadata, split.num_groups, split.num_puzzles
    if meta.total_groups != g:
        raise UserError(
            f"{name}: dataset.json says total_groups {meta.total_groups}, arrays hold {g}"
        )
    # TRM's own builders write the group count here, so it is accepted too.
    if meta.total_puzzles is not None and meta.total_puzzles not in (p, g):
        raise UserError(
            f"{name}: dataset.json says total_puzzles {meta.total_puzzles}, arrays hold {p}"
        )


def _row_chunks(split: Split) -> Iterator[slice]:
    """Slices of at most CHECK_CHUNK_ROWS examples covering the split."""
    for start in range(0, split.num_examples, CHECK_CHUNK_ROWS):
        yield slice(start, start + CHECK_CHUNK_ROWS)


def _ignored_labels(split: Split, rows: slice) -> np.ndarray:
    """[n, seq_len] bool for examples `rows`: label cells the loss skips (padding or the
    ignore id)."""
    meta, labels = split.metadata, split.labels[rows]
    ignored = labels == meta.pad_id
    if meta.ignore_label_id is not None:
        ignored |= labels == meta.ignore_label_id
    return ignored


def _check_labels_not_padding(name: str, split: Split) -> None:
    total = ignored = 0
    for rows in _row_chunks(split):
        cells = split.inputs[rows] != split.metadata.pad_id  # [n, seq_len]: cells to answer
        total += int(cells.sum())
        ignored += int((_ignored_labels(split, rows) & cells).sum())
    if total == 0:
        return
    fraction = ignored / total
    if fraction > MAX_IGNORED_LABEL_FRACTION:
        raise UserError(
            f"labels in {name} are padding except the answer ({fraction:.0%} of input cells "
            f"have ignored labels); labels must be the whole output grid"
        )


def _check_label_holes(name: str, split: Split, shape: tuple[int, int]) -> None:
    """Refuse labels with ignored cells scattered inside the area they cover."""
    if shape[0] * shape[1] != split.metadata.seq_len:
        return
    box = holes = 0
    for rows in _row_chunks(split):
        real = ~_ignored_labels(split, rows).reshape(-1, *shape)  # [n, rows, cols]
        inside = _between(real.any(axis=2))[:, :, None] & _between(real.any(axis=1))[:, None, :]
        box += int(inside.sum())
        holes += int((inside & ~real).sum())
    if box and holes / box > MAX_LABEL_HOLE_FRACTION:
        raise UserError(
            f"labels in {name} have holes: {holes / box:.0%} of the cells inside the labelled "
            f"area are padding or ignored; labels must be the whole output grid"
        )


def _between(present: np.ndarray) -> np.ndarray:
    """[N, K] bool -> True from the first to the last True of each row (all False if none)."""
    after_first = np.logical_or.accumulate(present, axis=1)
    before_last = np.logical_or.accumulate(present[:, ::-1], axis=1)[:, ::-1]
    return after_first & before_last


def _grid_shape(root: Path | None, task, seq_len: int) -> tuple[int, int]:
    """How a token row lies on the grid: the task's own shape (UserError when seq_len does
    not fit the task), else a square when seq_len is one (HRM/TRM mazes, Sudoku, ARC), else
    one row."""
    if task is not None:
        try:
            return task.grid_shape(seq_len)
        except UserError as err:
            raise UserError(f"{root} does not fit task {task.name}: {err}") from None
    side = math.isqrt(seq_len)
    return (side, side) if side * side == seq_len else (1, seq_len)


def _check_task_tokens(root: Path, task, splits: dict[str, Split]) -> None:
    """Inputs and labels hold only the task's tokens (a dataset of another task does not)."""
    for name, split in splits.items():
        for field in ("inputs", "labels"):
            array = getattr(split, field)
            if array.size and array.max() >= task.vocab_size:
                raise UserError(
                    f"{root} does not fit task {task.name}: {name} {field} hold token "
                    f"{int(array.max())}, outside the {task.name} tokens 0..{task.vocab_size - 1}"
                )


def _check_fewshot(root: Path, task, splits: dict[str, Split]) -> None:
    """A few-shot task needs its arrays and task lists; arrays that are there must fit."""
    from ponder.data import fewshot  # late: it imports the task registry

    needed = getattr(task, "fewshot", False)
    for name, split in splits.items():
        if needed and not split.fewshot:
            missing = root / name / f"{split.metadata.sets[0]}__demo_inputs.npy"
            raise UserError(f"{missing}: file not found (a {task.name} dataset needs it)")
        if split.fewshot:
            fewshot.check_fewshot_split(name, split)
        if needed:
            fewshot.read_task_names(root, name, split)


def _check_splits_agree(train: Split, test: Split) -> None:
    for key in ("seq_len", "vocab_size", "pad_id", "ignore_label_id"):
        a, b = getattr(train.metadata, key), getattr(test.metadata, key)
        if a != b:
            raise UserError(f"train and test disagree on {key}: {a} vs {b}")


def _use_dihedral(ponder: dict[str, Any] | None, seq_len: int) -> bool:
    """Compare up to symmetry when training was dihedrally augmented and grids are square."""
    side = math.isqrt(seq_len)
    return ponder is not None and ponder.get("aug") == "dihedral" and side * side == seq_len


def _row_keys(inputs: np.ndarray, dihedral: bool) -> list[bytes]:
    """One key per input row [N, seq_len]; int64 so the stored dtype does not matter."""
    rows = inputs.astype(np.int64)
    if not dihedral:
        return [row.tobytes() for row in rows]
    side = math.isqrt(rows.shape[1])
    return [canonical_key(row.reshape(side, side)) for row in rows]


def _check_leakage(train: Split, test: Split, dihedral: bool, allowed: bool = False) -> int:
    """The number of test puzzles whose inputs appear in train; UserError unless `allowed`."""
    seen = set(_row_keys(train.inputs, dihedral))
    leaked = np.array([k in seen for k in _row_keys(test.inputs, dihedral)], dtype=bool)
    if not leaked.any():
        return 0
    # Count puzzles, not examples: example i belongs to puzzle searchsorted(offsets, i) - 1.
    example_ids = np.flatnonzero(leaked)
    puzzles = np.unique(np.searchsorted(test.puzzle_indices, example_ids, side="right") - 1)
    how = "up to rotation/reflection" if dihedral else "exactly"
    if not allowed:
        raise UserError(
            f"{len(puzzles)} test puzzles leak: their inputs also appear in train ({how})"
        )
    return len(puzzles)


def _check_content_hash(root: Path, ponder: dict[str, Any]) -> None:
    expected = ponder.get("content_hash")
    if expected is not None and expected != content_hash(root):
        raise UserError(
            f"{root / PONDER_JSON}: content_hash does not match the files; they changed "
            f"after the build (rebuild the dataset)"
        )


def _content_bytes(root: Path) -> int:
    return sum(path.stat().st_size for path in content_files(root))


def _split_summary(split: Split) -> dict[str, Any]:
    meta = split.metadata
    histogram = np.zeros(meta.vocab_size, dtype=np.int64)
    for rows in _row_chunks(split):  # labels are checked to lie in [0, vocab_size)
        tokens = split.labels[rows].reshape(-1).astype(np.int64)
        histogram += np.bincount(tokens, minlength=meta.vocab_size)
    return {
        "examples": split.num_examples,
        "puzzles": split.num_puzzles,
        "groups": split.num_groups,
        "seq_len": meta.seq_len,
        "vocab_size": meta.vocab_size,
        "label_histogram": [int(c) for c in histogram],
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable lines for `ponder data check`."""
    lines = [f"dataset {summary['root']}: OK"]
    if summary.get("task") is not None:
        lines.append(f"  task {summary['task']}, aug {summary.get('aug')}")
    for name in SPLITS:
        s = summary[name]
        total = max(1, sum(s["label_histogram"]))
        hist = " ".join(
            f"{tok}:{count / total:.1%}" for tok, count in enumerate(s["label_histogram"])
        )
        lines.append(
            f"  {name}: {s['examples']} examples, {s['puzzles']} puzzles, {s['groups']} groups, "
            f"seq_len {s['seq_len']}, vocab {s['vocab_size']}"
        )
        lines.append(f"    label tokens {hist}")
    if summary["test"]["examples"] == 0:
        lines.append(
            "  the test split is empty: `ponder train` skips evaluation, `ponder eval` refuses"
        )
    leakage = summary["leakage"]
    how = "up to rotation/reflection" if leakage["dihedral"] else "exact match"
    if leakage["leaked_puzzles"]:
        lines.append(
            f"  {leakage['leaked_puzzles']} test puzzles are training puzzles ({how}), "
            f"as asked: built with --overfit"
        )
    else:
        lines.append(f"  no test input appears in train ({how})")
    return "\n".join(lines)
