"""Validate a dataset directory: structure, value ranges, honest labels and no leakage.

`check_dataset` stops at the first problem and raises UserError naming it; a dataset that
passes loads and trains. Datasets built by HRM or TRM (no ponder.json) are checked too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ponder.data.augment import canonical_key
from ponder.data.format import (
    PONDER_JSON,
    SPLITS,
    Split,
    content_hash,
    load_split,
    read_identifiers,
    read_ponder_json,
)
from ponder.errors import UserError

# Above this fraction of non-pad input cells with ignored labels, labels are "padding
# except the answer" (a model predicting the answer token everywhere would look perfect).
MAX_IGNORED_LABEL_FRACTION = 0.5
# Inside the area each example's labels cover (the box from its first to its last labelled
# row and column), at most this fraction may be ignored. A whole output grid has no holes and
# an ARC-style canvas only misses one corner of its end-of-grid frame, while labels that
# ignore, say, every road cell but the route's leave holes all over the box even when they
# stay under MAX_IGNORED_LABEL_FRACTION.
MAX_LABEL_HOLE_FRACTION = 0.1


def check_dataset(root: Path) -> dict[str, Any]:
    """Check every split of the dataset at `root`; returns a summary (see `format_summary`).

    Summary: {"root", "task", "aug", "identifiers", "train": {...}, "test": {...},
    "leakage": {"dihedral": bool, "leaked_puzzles": 0}}; each split holds examples, puzzles,
    groups, seq_len, vocab_size and label_histogram (count per token id)."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: dataset directory not found")
    ponder = read_ponder_json(root)
    splits = {name: load_split(root, name) for name in SPLITS}
    identifiers = read_identifiers(root)
    shape = _grid_shape(ponder, splits["train"].metadata.seq_len)
    for name, split in splits.items():
        check_split(name, split, shape)
    _check_splits_agree(splits["train"], splits["test"])
    dihedral = _use_dihedral(ponder, splits["train"].metadata.seq_len)
    _check_leakage(splits["train"], splits["test"], dihedral)
    if ponder is not None:
        _check_content_hash(root, ponder)
    summary: dict[str, Any] = {
        "root": str(root),
        "task": None if ponder is None else ponder.get("task"),
        "aug": None if ponder is None else ponder.get("aug"),
        "identifiers": len(identifiers),
    }
    summary.update({name: _split_summary(split) for name, split in splits.items()})
    summary["leakage"] = {"dihedral": dihedral, "leaked_puzzles": 0}
    return summary


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
    _check_label_holes(name, split, grid_shape or _grid_shape(None, split.metadata.seq_len))


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


def _ignored_labels(split: Split) -> np.ndarray:
    """[N, seq_len] bool: label cells the loss skips (padding or the ignore id)."""
    meta = split.metadata
    ignored = split.labels == meta.pad_id
    if meta.ignore_label_id is not None:
        ignored |= split.labels == meta.ignore_label_id
    return ignored


def _check_labels_not_padding(name: str, split: Split) -> None:
    meta = split.metadata
    cells = split.inputs != meta.pad_id  # [N, seq_len]: input cells the model must answer
    ignored = _ignored_labels(split)
    total = int(cells.sum())
    if total == 0:
        return
    fraction = int((ignored & cells).sum()) / total
    if fraction > MAX_IGNORED_LABEL_FRACTION:
        raise UserError(
            f"labels in {name} are padding except the answer ({fraction:.0%} of input cells "
            f"have ignored labels); labels must be the whole output grid"
        )


def _check_label_holes(name: str, split: Split, shape: tuple[int, int]) -> None:
    """Refuse labels with ignored cells scattered inside the area they cover."""
    rows, cols = shape
    if rows * cols != split.metadata.seq_len or split.num_examples == 0:
        return
    real = ~_ignored_labels(split).reshape(-1, rows, cols)  # [N, rows, cols]
    inside = _between(real.any(axis=2))[:, :, None] & _between(real.any(axis=1))[:, None, :]
    box, holes = int(inside.sum()), int((inside & ~real).sum())
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


def _grid_shape(ponder: dict[str, Any] | None, seq_len: int) -> tuple[int, int]:
    """How a token row lies on the grid: the task's own shape when ponder.json names a known
    task, else a square when seq_len is one (HRM/TRM mazes, Sudoku, ARC), else one row."""
    name = None if ponder is None else ponder.get("task")
    if isinstance(name, str):
        from ponder import tasks  # late: the registry imports every task module

        try:
            return tasks.get(name).grid_shape(seq_len)
        except UserError:
            pass  # an unknown task or shape is reported where the dataset is used
    side = math.isqrt(seq_len)
    return (side, side) if side * side == seq_len else (1, seq_len)


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


def _check_leakage(train: Split, test: Split, dihedral: bool) -> None:
    seen = set(_row_keys(train.inputs, dihedral))
    leaked = np.array([k in seen for k in _row_keys(test.inputs, dihedral)], dtype=bool)
    if not leaked.any():
        return
    # Count puzzles, not examples: example i belongs to puzzle searchsorted(offsets, i) - 1.
    example_ids = np.flatnonzero(leaked)
    puzzles = np.unique(np.searchsorted(test.puzzle_indices, example_ids, side="right") - 1)
    how = "up to rotation/reflection" if dihedral else "exactly"
    raise UserError(f"{len(puzzles)} test puzzles leak: their inputs also appear in train ({how})")


def _check_content_hash(root: Path, ponder: dict[str, Any]) -> None:
    expected = ponder.get("content_hash")
    if expected is not None and expected != content_hash(root):
        raise UserError(
            f"{root / PONDER_JSON}: content_hash does not match the files; they changed "
            f"after the build (rebuild the dataset)"
        )


def _split_summary(split: Split) -> dict[str, Any]:
    meta = split.metadata
    histogram = np.bincount(split.labels.reshape(-1).astype(np.int64), minlength=meta.vocab_size)
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
    leakage = summary["leakage"]
    how = "up to rotation/reflection" if leakage["dihedral"] else "exact match"
    lines.append(f"  no test input appears in train ({how})")
    return "\n".join(lines)
