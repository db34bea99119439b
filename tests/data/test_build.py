"""build_dataset: reproducible, idempotent, safe, leak-free, honest labels, walls present."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ponder import tasks
from ponder.data.augment import canonical_key, dihedral
from ponder.data.build import build_dataset
from ponder.data.format import content_hash, load_split, read_identifiers, read_ponder_json
from ponder.errors import UserError

WALL, OPEN, PATH = 1, 2, 5
SMALL = {"train": 12, "test": 6, "seed": 3, "size": 7}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    a = build_dataset("maze", tmp_path / "a", **SMALL, aug="dihedral")
    b = build_dataset("maze", tmp_path / "b", **SMALL, aug="dihedral")
    files = _files(a)
    assert files == _files(b)
    assert "train/all__inputs.npy" in files and "identifiers.json" in files
    c = build_dataset("maze", tmp_path / "c", **(SMALL | {"seed": 4}), aug="dihedral")
    assert _files(c)["train/all__inputs.npy"] != files["train/all__inputs.npy"]


def test_layout_metadata_and_ponder_json(tmp_path: Path) -> None:
    root = build_dataset("maze", tmp_path / "d", **SMALL)
    train = load_split(root, "train")
    meta = train.metadata
    assert (meta.vocab_size, meta.seq_len, meta.pad_id, meta.ignore_label_id) == (6, 49, 0, 0)
    assert meta.total_groups == 12 and meta.total_puzzles == 12 and meta.sets == ("all",)
    assert train.inputs.shape == (12, 49) and train.inputs.dtype == np.uint8
    assert train.puzzle_indices.dtype == np.int32 and train.puzzle_identifiers.tolist() == [0] * 12
    assert read_identifiers(root) == ["<blank>"]
    info = read_ponder_json(root)
    assert info is not None
    assert info["task"] == "maze" and info["params"]["size"] == 7 and info["aug"] is None
    assert (info["seed"], info["train"], info["test"], info["format_version"]) == (3, 12, 6, 1)
    assert info["content_hash"] == content_hash(root)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_inputs_have_walls_and_labels_are_whole_grids(tmp_path: Path) -> None:
    root = build_dataset("maze", tmp_path / "d", **SMALL)
    maze = tasks.get("maze")
    for name in ("train", "test"):
        split = load_split(root, name)
        # Regression: a prototype's maze inputs had no walls at all.
        assert (split.inputs == WALL).any(axis=1).all()
        assert (split.labels != 0).all()  # never padding
        # The label is the input with some open cells marked as path.
        same = split.labels == split.inputs
        assert ((split.inputs == OPEN) & (split.labels == PATH) | same).all()
        for q, a in zip(split.inputs, split.labels, strict=True):
            assert maze.verify(maze.decode(q, (7, 7)), maze.decode(a, (7, 7)))["exact"]


def test_no_duplicates_and_no_leak(tmp_path: Path) -> None:
    root = build_dataset("maze", tmp_path / "d", train=40, test=20, seed=0, size=7)
    train, test = load_split(root, "train"), load_split(root, "test")
    train_rows = {r.tobytes() for r in train.inputs}
    assert len(train_rows) == 40
    assert not train_rows & {r.tobytes() for r in test.inputs}


def test_dihedral_groups_hold_eight_views(tmp_path: Path) -> None:
    root = build_dataset("maze", tmp_path / "d", **SMALL, aug="dihedral")
    train, test = load_split(root, "train"), load_split(root, "test")
    assert train.group_indices.tolist() == list(range(0, 12 * 8 + 1, 8))
    assert train.puzzle_indices.tolist() == list(range(12 * 8 + 1))
    assert train.metadata.total_groups == 12 and train.metadata.total_puzzles == 96
    base = train.inputs[0].reshape(7, 7)
    for k in range(8):
        np.testing.assert_array_equal(train.inputs[k].reshape(7, 7), dihedral(base, k))
    # The test split is never augmented, and shares no puzzle with train up to symmetry.
    assert test.group_indices.tolist() == list(range(7)) and len(test.inputs) == 6
    train_keys = {canonical_key(r.reshape(7, 7)) for r in train.inputs}
    assert not train_keys & {canonical_key(r.reshape(7, 7)) for r in test.inputs}


def test_rebuild_is_idempotent_and_silent(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = build_dataset("maze", tmp_path / "d", **SMALL)
    stamp = (root / "ponder.json").stat().st_mtime_ns
    capsys.readouterr()
    # size 7 given again, plus a default spelled out: the same dataset.
    assert build_dataset("maze", root, **SMALL, min_path=0) == root
    assert (root / "ponder.json").stat().st_mtime_ns == stamp
    assert capsys.readouterr() == ("", "")


def test_a_dataset_built_before_a_new_none_parameter_is_reused(tmp_path: Path) -> None:
    root = build_dataset("routing", tmp_path / "d", train=4, test=2, seed=0, size=6)
    meta = json.loads((root / "ponder.json").read_text())
    del meta["params"]["canvas"]  # as written before routing gained `canvas`
    (root / "ponder.json").write_text(json.dumps(meta))
    assert build_dataset("routing", root, train=4, test=2, seed=0, size=6) == root
    with pytest.raises(UserError, match="different dataset"):
        build_dataset("routing", root, train=4, test=2, seed=0, size=6, canvas=8)


def test_different_dataset_is_refused_unless_overwrite(tmp_path: Path) -> None:
    root = build_dataset("maze", tmp_path / "d", **SMALL)
    before = _files(root)
    with pytest.raises(UserError, match="already holds a different dataset; pass --overwrite"):
        build_dataset("maze", root, **(SMALL | {"seed": 9}))
    assert _files(root) == before
    build_dataset("maze", root, **(SMALL | {"seed": 9}), overwrite=True)
    assert read_ponder_json(root)["seed"] == 9
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_foreign_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="refusing to replace .*: it is not a dataset directory"):
        build_dataset("maze", tmp_path / "d", **SMALL)
    assert (tmp_path / "d" / "notes.txt").read_text() == "mine"


def test_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    maze = tasks.get("maze")
    calls = {"n": 0}
    real_solve = maze.solve

    def flaky_solve(puzzle: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] > 5:
            raise RuntimeError("boom")
        return real_solve(puzzle)

    monkeypatch.setattr(maze, "solve", flaky_solve)
    with pytest.raises(RuntimeError, match="boom"):
        build_dataset("maze", tmp_path / "d", **SMALL)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"aug": "colour"}, "unknown augmentation 'colour'"),
        ({"colour": 3}, "has no parameter 'colour'"),
        ({"train": 0}, "train must be an integer >= 1"),
        ({"test": -1}, "test must be an integer >= 0"),
    ],
)
def test_user_mistakes(tmp_path: Path, kwargs: dict, words: str) -> None:
    with pytest.raises(UserError, match=words):
        build_dataset("maze", tmp_path / "d", **(SMALL | kwargs))
    assert not (tmp_path / "d").exists()


def test_exhausted_puzzle_space_is_a_user_error(tmp_path: Path) -> None:
    # 5x5 mazes come in fewer than 200 distinct layouts: asking for more must fail clearly.
    with pytest.raises(UserError, match="could only generate .* distinct train puzzles"):
        build_dataset("maze", tmp_path / "d", train=500, test=0, seed=0, size=5)
    assert list(tmp_path.iterdir()) == []


def test_ponder_json_keys_are_sorted(tmp_path: Path) -> None:
    root = build_dataset("maze", tmp_path / "d", **SMALL)
    text = (root / "ponder.json").read_text()
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert os.access(root / "train" / "all__inputs.npy", os.R_OK)
