"""check_dataset: each corruption of a built dataset is named; leaks are caught up to symmetry."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ponder.data.build import build_dataset
from ponder.data.check import check_dataset, format_summary
from ponder.data.format import content_hash
from ponder.errors import UserError

PATH = 5


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("built") / "maze"
    return build_dataset("maze", root, train=16, test=8, seed=1, size=7)


@pytest.fixture()
def copy(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "maze"))


def _edit(root: Path, split: str, field: str, change: Callable[[np.ndarray], np.ndarray]) -> None:
    path = root / split / f"all__{field}.npy"
    np.save(path, change(np.load(path)))


def _edit_json(path: Path, **changes: object) -> None:
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def _rehash(root: Path) -> None:
    _edit_json(root / "ponder.json", content_hash=content_hash(root))


def test_clean_dataset_summary(built: Path) -> None:
    summary = check_dataset(built)
    assert summary["task"] == "maze" and summary["aug"] is None
    train = summary["train"]
    assert (train["examples"], train["puzzles"], train["groups"]) == (16, 16, 16)
    assert (train["seq_len"], train["vocab_size"]) == (49, 6)
    assert sum(train["label_histogram"]) == 16 * 49 and train["label_histogram"][0] == 0
    assert summary["leakage"] == {"dihedral": False, "leaked_puzzles": 0}
    text = format_summary(summary)
    assert "OK" in text and "16 examples" in text and "exact match" in text


def _set_first(value: int) -> Callable[[np.ndarray], np.ndarray]:
    def change(a: np.ndarray) -> np.ndarray:
        a.flat[0] = value
        return a

    return change


CORRUPTIONS = [
    ("train", "labels", _set_first(9), r"train: labels holds token 9, outside \[0, 6\)"),
    ("test", "inputs", lambda a: a.astype(np.float32), "test: inputs must be an integer array"),
    (
        "train",
        "inputs",
        lambda a: a[:, :-1],
        r"train: inputs has shape \[16, 48\], expected \[N, 49\]",
    ),
    ("train", "puzzle_indices", lambda a: a[::-1], "train: puzzle_indices must start at 0"),
    ("train", "puzzle_indices", lambda a: a[:-1], "train: puzzle_indices ends at 15, expected 16"),
    ("train", "group_indices", lambda a: np.r_[a[:2], a[1:]], "group_indices has an empty entry"),
    ("test", "puzzle_identifiers", _set_first(1), r"test: puzzle identifier 1 outside \[0, 1\)"),
    (
        "train",
        "labels",
        lambda a: np.where(a == PATH, PATH, 0).astype(a.dtype),
        r"labels in train are padding except the answer \(\d+% of input cells have ignored "
        "labels\\); labels must be the whole output grid",
    ),
]


@pytest.mark.parametrize(("split", "field", "change", "words"), CORRUPTIONS)
def test_corruption_is_named(copy: Path, split: str, field: str, change, words: str) -> None:
    _edit(copy, split, field, change)
    with pytest.raises(UserError, match=words):
        check_dataset(copy)


def test_missing_file(copy: Path) -> None:
    (copy / "test" / "all__group_indices.npy").unlink()
    with pytest.raises(UserError, match=r"test/all__group_indices\.npy: file not found"):
        check_dataset(copy)


def test_metadata_totals(copy: Path) -> None:
    _edit_json(copy / "train" / "dataset.json", total_groups=3)
    with pytest.raises(UserError, match="total_groups 3, arrays hold 16"):
        check_dataset(copy)
    _edit_json(copy / "train" / "dataset.json", total_groups=16, total_puzzles=5)
    with pytest.raises(UserError, match="total_puzzles 5, arrays hold 16"):
        check_dataset(copy)


def test_changed_files_fail_the_content_hash(copy: Path) -> None:
    _edit(copy, "test", "labels", lambda a: a.copy())  # same values, rewritten: still fine
    check_dataset(copy)
    _edit_json(copy / "train" / "dataset.json", mean_puzzle_examples=2.0)
    with pytest.raises(UserError, match="content_hash does not match"):
        check_dataset(copy)


def test_exact_leak_is_caught(copy: Path) -> None:
    train = np.load(copy / "train" / "all__inputs.npy")
    _edit(copy, "test", "inputs", lambda a: np.r_[train[[3, 5]], a[2:]])
    with pytest.raises(UserError, match=r"2 test puzzles leak: .*\(exactly\)"):
        check_dataset(copy)


def test_leak_up_to_symmetry(copy: Path) -> None:
    train = np.load(copy / "train" / "all__inputs.npy")
    rotated = np.rot90(train[0].reshape(7, 7)).reshape(1, 49)
    _edit(copy, "test", "inputs", lambda a: np.r_[rotated, a[1:]])
    _rehash(copy)
    # Without augmentation a rotated maze is a different puzzle...
    assert check_dataset(copy)["leakage"]["dihedral"] is False
    # ...but a model trained on all 8 views has seen it.
    _edit_json(copy / "ponder.json", aug="dihedral")
    with pytest.raises(UserError, match=r"1 test puzzles leak: .*rotation/reflection"):
        check_dataset(copy)


def test_dihedral_dataset_checks_up_to_symmetry(tmp_path: Path) -> None:
    root = build_dataset("maze", tmp_path / "d", train=6, test=4, seed=2, size=7, aug="dihedral")
    summary = check_dataset(root)
    assert summary["leakage"]["dihedral"] is True and summary["train"]["puzzles"] == 48


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="dataset directory not found"):
        check_dataset(tmp_path / "nope")
