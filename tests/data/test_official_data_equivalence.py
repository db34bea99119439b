"""ponder's Sudoku-Extreme and Maze-Hard imports against HRM's own build scripts.

The fixtures under tests/fixtures/official_data were written by HRM's builders themselves
(tools/official_data_fixtures.py runs them on small CSVs that ponder's generators made; its
manifest names the official commit). These tests read only those files: ponder imports the
same CSVs and must write the same arrays and metadata. Where the official builder draws
from numpy's unseeded global RNG (Sudoku augmentation, subsampling), exact arrays cannot
match, so what must hold is checked instead. Each deliberate difference is pinned by a test
named for it and listed in docs/tasks/sudoku.md and docs/tasks/maze.md.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from ponder.data.build import grid_split
from ponder.data.maze_hard import import_maze_hard, read_maze_hard_csv
from ponder.data.sudoku_build import SudokuTransform, import_sudoku_csv
from ponder.errors import UserError
from ponder.tasks.maze import MAZE
from ponder.tasks.sudoku import SUDOKU

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "official_data"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
ARRAYS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")


def read_split(root: Path, split: str) -> dict:
    """A split's arrays as stored (dtype included) and its dataset.json."""
    folder = root / split
    out = {name: np.load(folder / f"all__{name}.npy", allow_pickle=False) for name in ARRAYS}
    out["metadata"] = json.loads((folder / "dataset.json").read_text())
    return out


def official(name: str, split: str) -> dict:
    return read_split(FIXTURES / name, split)


def csv_rows(folder: str, split: str) -> list[list[str]]:
    with open(FIXTURES / folder / f"{split}.csv", newline="") as f:
        return list(csv.reader(f))[1:]


def assert_same_split(ours: dict, theirs: dict) -> None:
    """Equal arrays (values, shape and dtype) and equal dataset.json, but for the one key
    ponder adds (TRM's total_puzzles)."""
    for name in ARRAYS:
        assert ours[name].dtype == theirs[name].dtype, name
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert_same_metadata(ours["metadata"], theirs["metadata"], len(theirs["puzzle_identifiers"]))


def assert_same_metadata(ours: dict, theirs: dict, puzzles: int) -> None:
    assert ours.pop("total_puzzles") == puzzles  # difference: TRM's key, which HRM ignores
    assert ours == theirs


def test_the_fixtures_are_the_files_the_manifest_names():
    assert len(MANIFEST["official"]["commit"]) == 40 and MANIFEST["official"]["modified"] is False
    found = {
        p.relative_to(FIXTURES).as_posix()
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert found == set(MANIFEST["files"])
    for name, entry in MANIFEST["files"].items():
        assert hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest() == entry["sha256"], name


# --------------------------------------------------------------------------- Sudoku-Extreme


def ponder_sudoku(tmp_path: Path, folder: str = "sudoku/csv", **options) -> Path:
    options = {"subsample": None, "test": None, "seed": 0, **options}
    return import_sudoku_csv(FIXTURES / folder, tmp_path / "ponder", **options)


@pytest.mark.parametrize(
    ("name", "min_rating"), [("sudoku/plain", 0), ("sudoku/min_difficulty", 2)]
)
def test_sudoku_import_equals_the_official_build(name, min_rating, tmp_path):
    assert MANIFEST["datasets"][name]["config"].get("min_difficulty", 0) == min_rating
    root = ponder_sudoku(tmp_path, min_rating=min_rating)
    for split in ("train", "test"):
        assert_same_split(read_split(root, split), official(name, split))
    assert json.loads((root / "identifiers.json").read_text()) == ["<blank>"]
    assert json.loads((FIXTURES / name / "identifiers.json").read_text()) == ["<blank>"]
    if min_rating:  # the floor must have cut rows, or this case checks nothing new
        assert len(official(name, "train")["inputs"]) < len(csv_rows("sudoku/csv", "train"))


def test_both_blank_characters_become_token_1_as_officially():
    questions = [q for _, q, _, _ in csv_rows("sudoku/csv", "test")]
    assert any("." in q for q in questions) and any("0" in q for q in questions)
    inputs = official("sudoku/plain", "test")["inputs"]
    for q, row in zip(questions, inputs, strict=True):
        blanks = np.array([ch in ".0" for ch in q])
        np.testing.assert_array_equal(row == 1, blanks)


def _line_permutations() -> np.ndarray:
    """The 1296 row orders Sudoku allows: bands permuted, rows permuted inside each band."""
    orders = []
    for bands in itertools.permutations(range(3)):
        for inner in itertools.product(itertools.permutations(range(3)), repeat=3):
            orders.append([b * 3 + i for b, rows in zip(bands, inner, strict=True) for i in rows])
    return np.array(orders)


LINES = _line_permutations()
LINE_SET = {tuple(order) for order in LINES.tolist()}


def find_transform(original: np.ndarray, view: np.ndarray) -> SudokuTransform | None:
    """A SudokuTransform t with t.apply(original) == view for two solved token grids
    (9, 9), or None. Tries every transpose, column order and source of the view's first
    row; the digit map then follows from that row, and the row order from the rest."""
    view_digits = view.astype(np.int64) - 1
    for transpose in (False, True):
        source = (original.T if transpose else original).astype(np.int64) - 1
        moved = source[:, LINES].transpose(1, 0, 2)  # (1296 column orders, 9 rows, 9)
        for first in range(9):
            digit_map = np.zeros((len(LINES), 10), dtype=np.int64)
            digit_map[np.arange(len(LINES))[:, None], moved[:, first]] = view_digits[0]
            mapped = np.take_along_axis(digit_map, moved.reshape(len(LINES), 81), axis=1)
            mapped = mapped.reshape(-1, 9, 9)
            match = (mapped[:, None, :, :] == view_digits[None, :, None, :]).all(axis=3)
            for k in np.flatnonzero(match.any(axis=2).all(axis=1)):
                rows = tuple(match[k].argmax(axis=1).tolist())
                if rows in LINE_SET:
                    digits = tuple(digit_map[k, 1:].tolist())
                    return SudokuTransform(digits, transpose, rows, tuple(LINES[k].tolist()))
    return None


def assert_views_are_transforms(split: dict) -> list[bool]:
    """Every view of every group is a Sudoku symmetry of the group's first (original)
    puzzle, applied to the puzzle and its solution alike; the transposes found."""
    inputs, labels = split["inputs"], split["labels"]
    transposed = []
    groups = split["group_indices"]
    for start, end in zip(groups[:-1], groups[1:], strict=True):
        first = split["puzzle_indices"][start]
        original_in, original_out = inputs[first].reshape(9, 9), labels[first].reshape(9, 9)
        for example in split["puzzle_indices"][start + 1 : end]:
            t = find_transform(original_out, labels[example].reshape(9, 9))
            assert t is not None, f"example {example} is no Sudoku symmetry of {first}"
            np.testing.assert_array_equal(t.apply(original_in).reshape(-1), inputs[example])
            transposed.append(t.transpose)
    return transposed


def test_sudoku_augmentation_matches_the_officials_structure_and_kind(tmp_path):
    name = "sudoku/aug"
    views = MANIFEST["datasets"][name]["config"]["num_aug"]
    ours, theirs = read_split(ponder_sudoku(tmp_path, aug=views), "train"), official(name, "train")
    for key in ("puzzle_identifiers", "puzzle_indices", "group_indices"):  # not random
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    assert ours["inputs"].shape == theirs["inputs"].shape == (6 * (1 + views), 81)
    assert_same_metadata(ours["metadata"], theirs["metadata"], len(theirs["puzzle_identifiers"]))
    firsts = theirs["puzzle_indices"][theirs["group_indices"][:-1]]  # each group's original
    for key in ("inputs", "labels"):
        np.testing.assert_array_equal(ours[key][firsts], theirs[key][firsts], err_msg=key)
    for split in (theirs, ours):  # both draw from the same family of symmetries
        transposed = assert_views_are_transforms(split)
        assert len(transposed) == 6 * views and any(transposed) and not all(transposed)
    assert_same_split(read_split(tmp_path / "ponder", "test"), official(name, "test"))


def test_difference_official_augmented_sudoku_arrays_are_int64(tmp_path):
    # HRM's digit map is an int64 array, so with num_aug > 0 its inputs and labels are int64
    # (uint8 without); ponder writes uint8 either way. The values are tokens 0..10 in both.
    assert official("sudoku/aug", "train")["inputs"].dtype == np.int64
    assert official("sudoku/plain", "train")["inputs"].dtype == np.uint8
    ours = read_split(ponder_sudoku(tmp_path, aug=1), "train")
    assert ours["inputs"].dtype == ours["labels"].dtype == np.uint8


def encode_sudoku(text: str) -> np.ndarray:
    return np.array([1 if ch in ".0" else int(ch) + 1 for ch in text], dtype=np.uint8)


def drawn_rows(split: dict, rows: list[list[str]], encode) -> list[int]:
    """Which CSV row each example of the split is (each must be one)."""
    encoded = [encode(q).tobytes() for _, q, _, _ in rows]
    return [encoded.index(x.astype(np.uint8).tobytes()) for x in split["inputs"]]


def test_difference_sudoku_subsample_order_and_random_stream(tmp_path):
    # HRM draws np.random.choice(total, size, replace=False) from the unseeded global RNG
    # and keeps the draw order; ponder draws from a generator seeded by --seed, in file order.
    name, rows = "sudoku/subsample", csv_rows("sudoku/csv", "train")
    entry = MANIFEST["datasets"][name]
    size = entry["config"]["subsample_size"]
    theirs = drawn_rows(official(name, "train"), rows, encode_sudoku)
    legacy = np.random.RandomState(entry["numpy_seed"]).choice(len(rows), size, replace=False)
    assert theirs == legacy.tolist() and theirs != sorted(theirs)
    root = ponder_sudoku(tmp_path, subsample=size)
    ours = drawn_rows(read_split(root, "train"), rows, encode_sudoku)
    assert len(set(ours)) == size and ours == sorted(ours)
    assert_same_split(read_split(root, "test"), official(name, "test"))


def test_difference_ponder_refuses_a_training_puzzle_with_two_solutions(tmp_path):
    # HRM's builder writes any row; ponder needs one solution per training puzzle, since
    # the label of a puzzle with two is arbitrary.
    folder, rows = "sudoku/csv_two_solutions", csv_rows("sudoku/csv_two_solutions", "train")
    assert SUDOKU.count_solutions(encode_sudoku(rows[0][1]).reshape(9, 9)) == 2
    np.testing.assert_array_equal(
        official("sudoku/two_solutions", "train")["inputs"][0], encode_sudoku(rows[0][1])
    )
    with pytest.raises(UserError, match="line 2: the puzzle has more than one solution"):
        ponder_sudoku(tmp_path, folder=folder)


# --------------------------------------------------------------------------- Maze-Hard

MAZE_SEQ_LEN = official("maze/plain", "test")["metadata"]["seq_len"]


def ponder_maze(tmp_path: Path, split: str, **options) -> Path:
    source = FIXTURES / "maze/csv" / f"{split}.csv"
    return import_maze_hard(source, tmp_path / f"ponder_{split}", **options)


@pytest.mark.parametrize("split", ["train", "test"])
def test_maze_hard_import_equals_the_official_build(split, tmp_path):
    # Difference: ponder imports one file, into its test split (train stays empty unless
    # --train-fraction); HRM's builder reads train.csv into train and test.csv into test.
    root = ponder_maze(tmp_path, split)
    assert_same_split(read_split(root, "test"), official("maze/plain", split))
    assert read_split(root, "train")["inputs"].shape == (0, MAZE_SEQ_LEN)
    assert json.loads((root / "identifiers.json").read_text()) == ["<blank>"]


def test_maze_hard_dihedral_augmentation_equals_the_officials():
    # HRM's --aug gives each training maze its 8 dihedral views, in HRM's transform order;
    # ponder's grid_split (ponder data build maze --aug) writes exactly the same arrays.
    rows = read_maze_hard_csv(FIXTURES / "maze/csv/train.csv")
    split = grid_split(MAZE, [(r.question, r.answer) for r in rows], True, MAZE_SEQ_LEN)
    theirs = official("maze/aug", "train")
    ours = {name: getattr(split, name) for name in ARRAYS}
    ours["metadata"] = split.metadata.to_json()
    assert_same_split(ours, theirs)
    assert len(theirs["inputs"]) == 8 * len(rows)
    plain, augmented = official("maze/plain", "test"), official("maze/aug", "test")
    for name in ARRAYS:  # the test split is never augmented
        np.testing.assert_array_equal(augmented[name], plain[name], err_msg=name)


def test_difference_the_maze_hard_import_does_not_augment(tmp_path):
    # `ponder data import maze-hard` has no --aug: its training groups hold one maze each.
    root = ponder_maze(tmp_path, "train", train_fraction=0.5, seed=0)
    groups = read_split(root, "train")["group_indices"]
    assert len(groups) > 1 and set(np.diff(groups).tolist()) == {1}
    assert set(np.diff(official("maze/aug", "train")["group_indices"]).tolist()) == {8}


def encode_maze(text: str) -> np.ndarray:
    return np.array(["# SGo".index(ch) + 1 for ch in text], dtype=np.uint8)


def test_difference_the_official_maze_subsample_is_an_unseeded_draw():
    # HRM's --subsample_size draws from numpy's global RNG in draw order; ponder's
    # maze-hard import has no subsample (--train-fraction with --seed splits one file).
    name, rows = "maze/subsample", csv_rows("maze/csv", "train")
    entry = MANIFEST["datasets"][name]
    size = entry["config"]["subsample_size"]
    theirs = drawn_rows(official(name, "train"), rows, encode_maze)
    legacy = np.random.RandomState(entry["numpy_seed"]).choice(len(rows), size, replace=False)
    assert theirs == legacy.tolist() and theirs != sorted(theirs)
