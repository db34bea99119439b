"""Sudoku datasets: generated puzzles, or the Sudoku-Extreme CSV import, in HRM's layout.

Both write what HRM's Sudoku builder writes (uint8 tokens 0 pad, 1 blank, 2.. digits; one
example per puzzle; a training group holds a puzzle and its augmentations; identifiers.json
["<blank>"]) plus ponder.json, atomically and reproducibly (ponder.data.build.write_once).

Augmentations (HRM's shuffle_sudoku, here drawn from a seeded generator): relabel the
digits, transpose (square boxes only), permute the bands and the rows inside each band, the
stacks and the columns inside each stack. Each is a `SudokuTransform` with an exact inverse.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ponder.data.build import check_seed, grouped_split, write_once
from ponder.data.format import (
    BLANK_IDENTIFIER,
    FORMAT_VERSION,
    PONDER_JSON,
    Split,
    content_hash,
    write_identifiers,
    write_json,
    write_split,
)
from ponder.errors import UserError
from ponder.tasks.sudoku import DIGIT0, SUDOKU, VOCAB_SIZE, check_generate_args, to_grid
from ponder.tasks.sudoku_solver import BOXES, generate_puzzle, search

MAX_AUG = 10_000  # views per training puzzle (the papers use 1000)
# Sudoku-Extreme's own header (sapientinc/sudoku-extreme's train.csv and test.csv); HRM's
# builder skips line 1 unread, so the short names its code unpacks the columns into are
# accepted too.
CSV_COLUMNS = ("source", "question", "answer", "rating")
CSV_HEADERS = (CSV_COLUMNS, ("source", "q", "a", "rating"))
MAX_DUPLICATES_IN_A_ROW = 1000


# --------------------------------------------------------------------------- augmentations


@dataclass(frozen=True)
class SudokuTransform:
    """grid -> digits[(grid.T if transpose else grid)[rows][:, cols]], digits a permutation
    of the digits (blank and pad fixed). Every such map turns a valid grid into a valid one."""

    digits: tuple[int, ...]  # digits[d - 1] is the new digit of digit d
    transpose: bool
    rows: tuple[int, ...]  # new row i is old row rows[i]
    cols: tuple[int, ...]

    def apply(self, grid: np.ndarray) -> np.ndarray:
        """The transformed token grid (n, n)."""
        grid = np.asarray(grid)
        moved = (grid.T if self.transpose else grid)[list(self.rows)][:, list(self.cols)]
        table = np.arange(max(VOCAB_SIZE, int(grid.max(initial=0)) + 1))
        table[DIGIT0 + 1 : DIGIT0 + 1 + len(self.digits)] = np.asarray(self.digits) + DIGIT0
        return table[moved].astype(grid.dtype)

    def inverse(self) -> SudokuTransform:
        """The transform that undoes this one: inverse(apply(g)) == g."""
        n = len(self.digits)
        digits = [0] * n
        for d, new in enumerate(self.digits):
            digits[new - 1] = d + 1
        rows, cols = np.argsort(self.rows).tolist(), np.argsort(self.cols).tolist()
        if self.transpose:  # (x[r][:, c]).T == x.T[c][:, r]
            rows, cols = cols, rows
        return SudokuTransform(tuple(digits), self.transpose, tuple(rows), tuple(cols))


def random_transform(rng: np.random.Generator, n: int) -> SudokuTransform:
    """A random symmetry of n x n Sudoku (transposition only where boxes are square)."""
    r, c = BOXES[n]
    digits = tuple((rng.permutation(n) + 1).tolist())
    transpose = bool(rng.random() < 0.5) if r == c else False
    rows = [
        b * r + i for b in rng.permutation(n // r).tolist() for i in rng.permutation(r).tolist()
    ]
    cols = [
        s * c + j for s in rng.permutation(n // c).tolist() for j in rng.permutation(c).tolist()
    ]
    return SudokuTransform(digits, transpose, tuple(rows), tuple(cols))


# --------------------------------------------------------------------------- builds


def build_sudoku_dataset(
    out_dir: Path,
    *,
    train: int,
    test: int,
    seed: int,
    size: int = 9,
    clues: int | None = None,
    min_rating: int = 0,
    aug: int = 0,
    overwrite: bool = False,
) -> Path:
    """Generate `train` + `test` unique puzzles (no test puzzle equals a train puzzle), with
    `aug` augmented views of each training puzzle in its group."""
    _check_counts(train=train, test=test, seed=seed, aug=aug)
    check_generate_args(size, clues, min_rating)
    params = {"size": size, "clues": clues, "min_rating": min_rating}
    recipe = {"task": "sudoku", "params": params, "seed": seed, "train": train, "test": test}
    recipe["aug"] = aug
    return write_once(Path(out_dir), recipe, overwrite, lambda tmp: _write_generated(tmp, recipe))


def _write_generated(root: Path, recipe: dict[str, Any]) -> None:
    train_rng, test_rng, aug_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(recipe["seed"]).spawn(3)
    )
    p = recipe["params"]
    seen: set[bytes] = set()
    pairs = {}
    for split, rng in (("train", train_rng), ("test", test_rng)):
        pairs[split] = _generate_pairs(
            rng, recipe[split], p["size"], p["clues"], p["min_rating"], seen, split
        )
    _write_all(root, pairs, recipe["aug"], aug_rng, recipe)


def _generate_pairs(rng, count, n, clues, min_rating, seen, split) -> list:
    """`count` distinct (puzzle, solution) token grids not already in `seen` (which grows)."""
    out, repeats = [], 0
    with tqdm(total=count, desc=f"{split} puzzles", disable=not sys.stderr.isatty()) as bar:
        while len(out) < count:
            found = generate_puzzle(rng, n, clues, min_rating, max_tries=1000)
            if found is None:
                raise UserError(
                    f"no {n}x{n} sudoku with rating >= {min_rating} in 1000 tries; "
                    "lower --min-rating"
                )
            puzzle, solution = to_grid(found[0], n), to_grid(found[1], n)
            key = puzzle.tobytes()
            if key in seen:
                repeats += 1
                if repeats >= MAX_DUPLICATES_IN_A_ROW:
                    raise UserError(
                        f"could only generate {len(out)} distinct {split} puzzles of {n}x{n}"
                    )
                continue
            repeats = 0
            seen.add(key)
            out.append((puzzle, solution))
            bar.update(1)
    return out


def import_sudoku_csv(
    source: Path,
    out_dir: Path,
    *,
    subsample: int | None,
    test: int | None,
    seed: int,
    min_rating: int = 0,
    aug: int = 0,
    overwrite: bool = False,
) -> Path:
    """Sudoku-Extreme from its CSVs (`source,question,answer,rating`, '.' for blanks):
    `source` is a folder holding train.csv and test.csv, as the dataset ships, or one CSV
    split into both. `subsample` training puzzles (None: all) and `test` test puzzles
    (None: all) are drawn without replacement from a generator seeded with `seed` (HRM's
    builder draws unseeded), after keeping rows of rating >= `min_rating` (both splits, as
    HRM's builder does).
    Every training puzzle must have one solution (its label would be ambiguous otherwise;
    the solver checks each); a test puzzle need not, as the verifier accepts any valid
    completion."""
    _check_counts(seed=seed, aug=aug)
    for name, value, low in (("--subsample", subsample, 1), ("--test", test, 0)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < low
        ):
            raise UserError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(min_rating, bool) or not isinstance(min_rating, int) or min_rating < 0:
        raise UserError(f"--min-rating must be an integer >= 0, got {min_rating!r}")
    files = _source_files(Path(source))
    recipe = {
        "task": "sudoku",
        "params": {"size": 9, "min_rating": min_rating},
        "source": {name: _sha256(path) for name, path in files.items()},
        "seed": seed,
        "subsample": subsample,
        "test": test,
        "aug": aug,
    }
    return write_once(
        Path(out_dir), recipe, overwrite, lambda tmp: _write_imported(tmp, files, recipe)
    )


def _source_files(source: Path) -> dict[str, Path]:
    if source.is_dir():
        files = {name: source / f"{name}.csv" for name in ("train", "test")}
        for path in files.values():
            if not path.is_file():
                raise UserError(
                    f"{path}: file not found (a Sudoku-Extreme folder holds train.csv and test.csv)"
                )
        return files
    if not source.is_file():
        raise UserError(f"{source}: no such file or folder")
    return {"all": source}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_imported(root: Path, files: dict[str, Path], recipe: dict[str, Any]) -> None:
    pick_rng, aug_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(recipe["seed"]).spawn(2)
    )
    min_rating = recipe["params"]["min_rating"]
    if "all" in files:
        q, a, lines = read_sudoku_csv(files["all"], min_rating)
        order = pick_rng.permutation(len(q))
        n_train = len(q) if recipe["subsample"] is None else min(recipe["subsample"], len(q))
        n_test = len(q) - n_train if recipe["test"] is None else recipe["test"]
        if n_train + n_test > len(q):
            raise UserError(
                f"{files['all']}: {len(q)} puzzles (rating >= {min_rating}) cannot give "
                f"{n_train} train and {n_test} test puzzles"
            )
        picks = {"train": order[:n_train], "test": order[n_train : n_train + n_test]}
        rows = {"train": (q, a, lines), "test": (q, a, lines)}
    else:
        rows = {name: read_sudoku_csv(path, min_rating) for name, path in files.items()}
        picks = {}
        for name, count in (("train", recipe["subsample"]), ("test", recipe["test"])):
            total = len(rows[name][0])
            if count is None or count >= total:
                picks[name] = np.arange(total)
            else:  # sorted: the file's order, as HRM keeps it
                picks[name] = np.sort(pick_rng.choice(total, size=count, replace=False))
    if not len(picks["train"]):
        raise UserError(
            f"no training puzzles rated >= {min_rating} in {files.get('train', files.get('all'))}"
        )
    pairs = {}
    for name in ("train", "test"):
        q, a, lines = rows[name]
        chosen = picks[name].tolist()
        if name == "train":
            _check_unique(q, lines, chosen, files.get("train", files.get("all")))
        pairs[name] = [(to_grid(q[i], 9), to_grid(a[i], 9)) for i in chosen]
    _write_all(root, pairs, recipe["aug"], aug_rng, recipe)


def read_sudoku_csv(path: Path, min_rating: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(puzzles, solutions, line numbers) of the rows rated >= min_rating, the grids as
    (N, 81) digit arrays (0 blank). Every row is checked: 81 cells, digits only, the answer
    a valid grid that keeps the givens; a bad row is named by its line number."""
    q_rows, a_rows, ratings = [], [], []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) not in CSV_HEADERS:
                raise UserError(
                    f"{path}: line 1 must be the header {','.join(CSV_COLUMNS)} "
                    f"(or source,q,a,rating), got {','.join(header or [])!r}"
                )
            for line, row in enumerate(reader, start=2):
                if len(row) != 4:
                    raise UserError(
                        f"{path}: line {line} has {len(row)} fields, "
                        f"expected 4 ({','.join(CSV_COLUMNS)})"
                    )
                _, q, a, rating = row
                ratings.append(_rating(rating, path, line))
                q_rows.append(_cells(q, path, line, "q", blank_ok=True))
                a_rows.append(_cells(a, path, line, "a", blank_ok=False))
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text ({err.reason})") from None
    except OSError as err:
        raise UserError(f"{path}: {err.strerror}") from None
    if not q_rows:
        raise UserError(f"{path}: no puzzles after the header")
    q, a = np.asarray(q_rows, dtype=np.uint8), np.asarray(a_rows, dtype=np.uint8)
    _check_answers(q, a, path)
    keep = np.asarray(ratings) >= min_rating
    return q[keep], a[keep], np.arange(2, len(q) + 2)[keep]


def _check_unique(q: np.ndarray, lines: np.ndarray, chosen: list[int], path: Path) -> None:
    """UserError naming the first chosen puzzle that has more than one solution."""
    for i in tqdm(chosen, desc="checking uniqueness", disable=not sys.stderr.isatty()):
        if search(q[i].tolist(), 9, limit=2).count != 1:
            raise UserError(
                f"{path}: line {lines[i]}: the puzzle has more than one solution; "
                "a training puzzle must have one"
            )


def _rating(text: str, path: Path, line: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{path}: line {line}: rating {text!r} is not a whole number") from None


def _cells(text: str, path: Path, line: int, column: str, blank_ok: bool) -> bytes:
    if len(text) != 81:
        raise UserError(f"{path}: line {line}: column {column} has {len(text)} cells, expected 81")
    raw = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)
    digits = np.where(raw == ord("."), 0, raw.astype(np.int64) - ord("0"))
    low = 0 if blank_ok else 1
    bad = np.flatnonzero((digits < low) | (digits > 9))
    if bad.size:
        what = "a digit 1-9 or '.'" if blank_ok else "a digit 1-9"
        raise UserError(
            f"{path}: line {line}: column {column} cell {bad[0] + 1} is "
            f"{text[bad[0]]!r}, not {what}"
        )
    return digits.astype(np.uint8)


def _check_answers(q: np.ndarray, a: np.ndarray, path: Path) -> None:
    """Every answer keeps its puzzle's givens and is a valid grid (vectorised over rows)."""
    changed = np.flatnonzero(((q > 0) & (q != a)).any(axis=1))
    if changed.size:
        raise UserError(f"{path}: line {changed[0] + 2}: the answer changes a given of the puzzle")
    grids = a.reshape(-1, 9, 9).astype(np.int64)
    boxes = grids.reshape(-1, 3, 3, 3, 3).transpose(0, 1, 3, 2, 4).reshape(-1, 9, 9)
    for units in (grids, grids.transpose(0, 2, 1), boxes):
        complete = np.sort(units, axis=2) == np.arange(1, 10)
        bad = np.flatnonzero(~complete.all(axis=(1, 2)))
        if bad.size:
            raise UserError(
                f"{path}: line {bad[0] + 2}: the answer breaks a sudoku rule "
                "(a digit repeated in a row, column or box)"
            )


# --------------------------------------------------------------------------- writing


def _write_all(root: Path, pairs: dict, aug: int, aug_rng: np.random.Generator, recipe) -> None:
    root.mkdir(parents=True)
    seq_len = recipe["params"]["size"] ** 2
    for name in ("train", "test"):
        views = aug if name == "train" else 0
        write_split(root, name, _make_split(pairs[name], views, aug_rng, seq_len))
    write_identifiers(root, [BLANK_IDENTIFIER])
    write_json(
        root / PONDER_JSON,
        {**recipe, "content_hash": content_hash(root), "format_version": FORMAT_VERSION},
    )


def _make_split(pairs: list, aug: int, rng: np.random.Generator, seq_len: int) -> Split:
    """One group per puzzle: the puzzle, then `aug` augmented views, one example each."""
    inputs, labels = [], []
    for puzzle, solution in pairs:
        inputs.append(puzzle.reshape(-1))
        labels.append(solution.reshape(-1))
        for _ in range(aug):
            t = random_transform(rng, puzzle.shape[0])
            inputs.append(t.apply(puzzle).reshape(-1))
            labels.append(t.apply(solution).reshape(-1))
    return grouped_split(SUDOKU, inputs, labels, 1 + aug, seq_len)


def _check_counts(**values: Any) -> None:
    lows = {"train": 1, "test": 0, "seed": 0, "aug": 0}
    for name, value in values.items():
        low = lows[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UserError(f"--{name} must be an integer >= {low}, got {value!r}")
    if values.get("aug", 0) > MAX_AUG:
        raise UserError(f"--aug must be at most {MAX_AUG}, got {values['aug']}")
    if "seed" in values:
        check_seed(values["seed"])  # the range a run's seed takes


__all__ = [
    "SudokuTransform",
    "build_sudoku_dataset",
    "import_sudoku_csv",
    "random_transform",
    "read_sudoku_csv",
]
