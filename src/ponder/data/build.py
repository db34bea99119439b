"""Build a dataset on disk from a task's generator and oracle.

Reproducible (same arguments give byte-identical files), leak-free (no test puzzle equals a
train puzzle, up to symmetry when training is augmented) and atomic (the dataset appears
complete under its final name or not at all).
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ponder.data.augment import NUM_DIHEDRAL, canonical_key, dihedral
from ponder.data.format import (
    BLANK_IDENTIFIER,
    FORMAT_VERSION,
    IDENTIFIERS_JSON,
    PONDER_JSON,
    SPLITS,
    DatasetMetadata,
    Split,
    content_hash,
    read_json,
    write_identifiers,
    write_json,
    write_split,
)
from ponder.errors import UserError
from ponder.fileio import check_output_dir, first_foreign
from ponder.limits import SEED_MAX

try:
    import fcntl
except ImportError:  # Windows: builds into one directory do not take turns there
    fcntl = None

AUGMENTATIONS = (None, "dihedral")
# Give up when this many generated puzzles in a row were duplicates: the space is exhausted.
MAX_DUPLICATES_IN_A_ROW = 1000
# What a dataset directory holds, folder by folder ("" is the dataset directory): its
# files by name pattern (a split: dataset.json, a few-shot split's tasks.json, and each
# set's arrays SET__FIELD.npy), and the split folders. A directory holding anything else,
# at any depth, is never replaced.
DATASET_FILES = {
    "": "|".join(re.escape(name) for name in (PONDER_JSON, IDENTIFIERS_JSON)),
    **{split: r"dataset\.json|tasks\.json|[^/]+__\w+\.npy" for split in SPLITS},
}


def build_dataset(
    task_name: str,
    out_dir: Path,
    *,
    train: int,
    test: int,
    seed: int,
    aug: str | None = None,
    overwrite: bool = False,
    **task_params: Any,
) -> Path:
    """Generate `train` + `test` puzzles of `task_name` into `out_dir`; returns `out_dir`.

    An existing dataset built with the same arguments is returned untouched; a different
    one is refused unless `overwrite`.
    """
    from ponder import tasks  # late: the registry imports every task module

    _check_counts(train, test, seed)
    if aug not in AUGMENTATIONS:
        raise UserError(f"unknown augmentation {aug!r}; choose 'dihedral' or none")
    task = tasks.get(task_name)
    if aug is not None and aug not in task.augmentations:
        raise UserError(f"task {task_name!r} does not support augmentation {aug!r}")
    params = _resolve_params(task.generate, task_name, task_params)
    _check_params(task, params)
    recipe = {"task": task_name, "params": params, "seed": seed, "train": train, "test": test}
    recipe["aug"] = aug
    return write_once(
        Path(out_dir), recipe, overwrite, lambda tmp: _write_dataset(task, tmp, recipe)
    )


def write_once(
    out_dir: Path, recipe: dict[str, Any], overwrite: bool, write: Callable[[Path], None]
) -> Path:
    """Run `write(tmp)` into a temporary directory and move it to `out_dir` atomically. An
    existing dataset built from the same recipe is returned untouched; a different one is
    refused unless `overwrite`; a directory that is not a dataset is never replaced.

    Builds into the same `out_dir` take turns (a lock file beside it), so of two different
    builds started at once the second refuses (or, with `overwrite`, replaces) the first's
    dataset instead of both saying "ready"."""
    out_dir = Path(out_dir)
    check_output_dir(out_dir, "output directory")
    if _existing_is_reusable(out_dir, recipe, overwrite):  # refuse early, before any work
        return out_dir
    created = _make_parents(out_dir)
    try:
        with _build_lock(out_dir):
            # Another build may have finished while this one waited: look again.
            if _existing_is_reusable(out_dir, recipe, overwrite):
                return out_dir
            _remove_stale_temporaries(out_dir)
            tmp, old = _temporary(out_dir, "tmp"), _temporary(out_dir, "old")
            try:
                write(tmp)
                _move_into_place(tmp, old, out_dir)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        _remove_empty_dirs(created)
        raise
    return out_dir


def _existing_is_reusable(out_dir: Path, recipe: dict[str, Any], overwrite: bool) -> bool:
    """True when `out_dir` already holds this recipe's dataset (and no `overwrite`); False
    when there is nothing to keep; UserError when something there must not be replaced."""
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return False
    _check_replaceable(out_dir)
    if overwrite:
        return False
    if _same_recipe(out_dir, recipe):
        return True
    raise UserError(f"{out_dir} already holds a different dataset; pass --overwrite to replace it")


def _check_replaceable(out_dir: Path) -> None:
    """Only a dataset may be replaced: the HRM/TRM layout (ponder.json or a split's
    dataset.json) and nothing else, so a mistyped --out never deletes a user's files."""
    is_dataset = (out_dir / PONDER_JSON).is_file() or any(
        (out_dir / split / "dataset.json").is_file() for split in SPLITS
    )
    if not is_dataset:
        raise UserError(f"refusing to replace {out_dir}: it is not a dataset directory")
    foreign = first_foreign(out_dir, _part_of_a_dataset)
    if foreign is not None:
        raise UserError(
            f"refusing to replace {out_dir}: it holds {foreign.as_posix()!r}, which is not "
            "part of a dataset; move it away first"
        )


def _part_of_a_dataset(relative: Path, is_dir: bool) -> bool:
    if is_dir:
        return relative.name in SPLITS and relative.parent == Path(".")
    folder = "" if relative.parent == Path(".") else relative.parent.as_posix()
    pattern = DATASET_FILES.get(folder)
    return pattern is not None and re.fullmatch(pattern, relative.name) is not None


def _make_parents(out_dir: Path) -> list[Path]:
    """Create the missing folders above `out_dir`; returns them, deepest first."""
    missing = [p for p in out_dir.parents if not p.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create {folder}: {err.strerror}") from None
    return missing


def _remove_empty_dirs(folders: list[Path]) -> None:
    """Undo _make_parents after a failed build, keeping any folder someone filled since."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextmanager
def _build_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on `.NAME.lock` beside `out_dir` (waiting for another build
    of it to finish). The file is removed on release; a waiter that then holds a removed
    file's lock notices (its inode is no longer the path's) and locks the new file."""
    if fcntl is None:  # no flock on this platform: builds do not take turns
        yield
        return
    path = out_dir.parent / f".{out_dir.name}.lock"
    said_waiting = False
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise UserError(f"cannot write beside {out_dir}: {err.strerror}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not said_waiting:
                    print(f"waiting for another build of {out_dir} to finish", file=sys.stderr)
                    said_waiting = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _is_same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still locked: no one else holds this inode
        os.close(fd)


def _is_same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _temporary(out_dir: Path, kind: str) -> Path:
    """`.NAME.tmp-PID` (the build in progress) or `.NAME.old-PID` (the replaced dataset)."""
    return out_dir.parent / f".{out_dir.name}.{kind}-{os.getpid()}"


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Delete what killed builds of `out_dir` left beside it. Called under the build lock,
    so no live build of `out_dir` owns any of them."""
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.(tmp|old)-\d+")
    for entry in out_dir.parent.iterdir():
        if pattern.fullmatch(entry.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _check_counts(train: int, test: int, seed: int) -> None:
    for name, value, low in (("train", train, 1), ("test", test, 0), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UserError(f"{name} must be an integer >= {low}, got {value!r}")
    check_seed(seed)


def check_seed(seed: int) -> None:
    """The seed range `train` takes (ponder.limits.SEED_MAX), so a dataset's seed is one a run
    could be given too."""
    if not 0 <= seed <= SEED_MAX:
        raise UserError(f"seed must be in 0..{SEED_MAX}, got {seed}")


def _check_params(task: Any, params: dict[str, Any]) -> None:
    """The task's generator validates its own parameters (sizes have upper bounds there):
    one throwaway puzzle from a separate stream surfaces a bad one before any file is
    touched, and leaves the dataset's own random streams as they were."""
    task.generate(np.random.default_rng(0), **params)


def _resolve_params(generate: Callable[..., Any], task_name: str, given: dict[str, Any]) -> dict:
    """The generator's parameters with defaults filled in, so `size=15` and an omitted size
    (default 15) name the same dataset. Unknown names are a user error."""
    signature = inspect.signature(generate)
    named = {
        n: p
        for n, p in list(signature.parameters.items())[1:]  # [0] is the rng
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for name in given:
        if name not in named and not takes_any:
            known = ", ".join(named) or "none"
            raise UserError(f"task {task_name!r} has no parameter {name!r}; known: {known}")
    params = {n: p.default for n, p in named.items() if p.default is not p.empty}
    params.update(given)
    try:
        # A JSON round trip normalises tuples to lists, as they will read back from disk.
        return json.loads(json.dumps(params, sort_keys=True))
    except TypeError:
        raise UserError(f"task parameters must be plain numbers/strings/lists: {given!r}") from None


def _same_recipe(out_dir: Path, recipe: dict[str, Any]) -> bool:
    """True when `out_dir` holds a ponder dataset built from exactly `recipe`."""
    path = out_dir / PONDER_JSON
    if not path.is_file():
        return False
    try:
        existing = read_json(path)
    except UserError:
        return False
    if not isinstance(existing, dict):
        return False
    same = all(existing.get(k) == v for k, v in recipe.items() if k != "params")
    return same and (
        "params" not in recipe or _same_params(existing.get("params"), recipe["params"])
    )


def _same_params(existing: Any, wanted: dict[str, Any]) -> bool:
    """A parameter a task gained after `existing` was built matches when it is left at None
    (its default means "as before"), so old datasets stay reusable."""
    if not isinstance(existing, dict) or set(existing) - set(wanted):
        return False
    return all(existing.get(k) == v if k in existing else v is None for k, v in wanted.items())


def _move_into_place(tmp: Path, old: Path, out_dir: Path) -> None:
    """Rename `tmp` to `out_dir`; an old `out_dir` is moved aside to `old` first (and put
    back if the second rename is interrupted), so the old or the new dataset is in place."""
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    try:
        os.rename(out_dir, old)
        os.rename(tmp, out_dir)
    except BaseException:
        if old.exists() and not out_dir.exists():  # interrupted between the two renames
            os.rename(old, out_dir)
        raise
    shutil.rmtree(old)


def _write_dataset(task: Any, root: Path, recipe: dict[str, Any]) -> None:
    root.mkdir(parents=True)
    aug = recipe["aug"]
    key: Callable[[np.ndarray], bytes] = canonical_key if aug == "dihedral" else _raw_key
    train_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(recipe["seed"]).spawn(2)
    )
    seen: set[bytes] = set()  # keys of every accepted puzzle, train then test
    params = recipe["params"]
    train_pairs = _generate(task, train_rng, recipe["train"], params, seen, key, "train")
    test_pairs = _generate(task, test_rng, recipe["test"], params, seen, key, "test")
    seq_len = int(task.encode(train_pairs[0][0]).shape[0])
    write_split(root, "train", grid_split(task, train_pairs, aug == "dihedral", seq_len))
    write_split(root, "test", grid_split(task, test_pairs, False, seq_len))
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_json(
        root / PONDER_JSON,
        {**recipe, "content_hash": content_hash(root), "format_version": FORMAT_VERSION},
    )


def _raw_key(grid: np.ndarray) -> bytes:
    return np.asarray(grid.shape, dtype=np.int64).tobytes() + grid.tobytes()


def _generate(
    task: Any,
    rng: np.random.Generator,
    count: int,
    params: dict[str, Any],
    seen: set[bytes],
    key: Callable[[np.ndarray], bytes],
    desc: str,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` (puzzle, answer) grid pairs whose keys are not in `seen` (which grows).

    Duplicates are skipped and drawn again from the same stream, so the result is still
    a pure function of the seed."""
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    duplicates_in_a_row = 0
    with tqdm(total=count, desc=f"{desc} puzzles", disable=not sys.stderr.isatty()) as bar:
        while len(pairs) < count:
            puzzle = np.asarray(task.generate(rng, **params))
            k = key(puzzle)
            if k in seen:
                duplicates_in_a_row += 1
                if duplicates_in_a_row >= MAX_DUPLICATES_IN_A_ROW:
                    raise UserError(
                        f"could only generate {len(pairs)} distinct {desc} puzzles with "
                        f"{params}; ask for fewer puzzles or larger ones"
                    )
                continue
            duplicates_in_a_row = 0
            seen.add(k)
            pairs.append((puzzle, np.asarray(task.solve(puzzle))))
            bar.update(1)
    return pairs


def grid_split(
    task: Any, pairs: list[tuple[np.ndarray, np.ndarray]], augment: bool, seq_len: int
) -> Split:
    """One group per base puzzle; with `augment`, the group holds its 8 dihedral transforms
    as 8 puzzles of one example each. Labels are the whole answer grid."""
    views = NUM_DIHEDRAL if augment else 1
    inputs, labels = [], []
    for puzzle, answer in pairs:
        for k in range(views):
            inputs.append(task.encode(dihedral(puzzle, k)))
            labels.append(task.encode(dihedral(answer, k)))
    return grouped_split(task, inputs, labels, views, seq_len)


def grouped_split(
    task: Any, inputs: list[np.ndarray], labels: list[np.ndarray], views: int, seq_len: int
) -> Split:
    """A split in HRM's layout from token rows (each (seq_len,)) in groups of `views`
    consecutive puzzles of one example each, every puzzle the blank identifier."""
    n_examples = len(inputs)
    token_dtype = np.uint8 if task.vocab_size <= 256 else np.int32  # HRM stores mazes as uint8
    metadata = DatasetMetadata(
        pad_id=int(task.pad_id),
        ignore_label_id=None if task.ignore_label_id is None else int(task.ignore_label_id),
        blank_identifier_id=0,
        vocab_size=int(task.vocab_size),
        seq_len=seq_len,
        num_puzzle_identifiers=1,
        total_groups=n_examples // views,
        mean_puzzle_examples=1.0,
        sets=("all",),
        total_puzzles=n_examples,
    )
    return Split(
        metadata=metadata,
        inputs=_stack(inputs, seq_len, token_dtype),
        labels=_stack(labels, seq_len, token_dtype),
        puzzle_identifiers=np.zeros(n_examples, dtype=np.int32),  # every puzzle is "<blank>"
        puzzle_indices=np.arange(n_examples + 1, dtype=np.int32),
        group_indices=np.arange(0, n_examples + 1, views, dtype=np.int32),
    )


def _stack(rows: list[np.ndarray], seq_len: int, dtype: type) -> np.ndarray:
    """[N, seq_len] array of token rows; every row must have seq_len tokens."""
    if not rows:
        return np.zeros((0, seq_len), dtype=dtype)
    lengths = {int(r.shape[0]) for r in rows}
    if lengths != {seq_len}:
        raise UserError(f"generated puzzles have different token lengths {sorted(lengths)}")
    return np.stack(rows).astype(dtype)
