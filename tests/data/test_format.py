"""On-disk format: round trip, HRM-built datasets, several sets, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from support import write_hrm_layout

from ponder import tasks
from ponder.data.check import check_dataset, check_split
from ponder.data.format import (
    DatasetMetadata,
    Split,
    content_hash,
    load_split,
    read_identifiers,
    read_ponder_json,
    write_split,
)
from ponder.errors import UserError

# Three 7x7 mazes in HRM's text charset "# SGo" (tokens 1..5, pad 0), with their solutions.
MAZE_A = ["#######", "#S    #", "##### #", "#     #", "# #####", "#    G#", "#######"]
SOLVED_A = ["#######", "#Soooo#", "#####o#", "#ooooo#", "#o#####", "#ooooG#", "#######"]
MAZE_B = ["#######", "#S#   #", "# # # #", "# # # #", "# # # #", "#   #G#", "#######"]
SOLVED_B = ["#######", "#S#ooo#", "#o#o#o#", "#o#o#o#", "#o#o#o#", "#ooo#G#", "#######"]
MAZE_C = [r.replace("S", "x").replace("G", "S").replace("x", "G") for r in MAZE_A]
SOLVED_C = [r.replace("S", "x").replace("G", "S").replace("x", "G") for r in SOLVED_A]


def _hrm_tokens(rows: list[str]) -> np.ndarray:
    """HRM's char2id: uint8 lookup, "# SGo" -> 1..5, flattened row-major."""
    char2id = np.zeros(256, np.uint8)
    char2id[np.array([ord(c) for c in "# SGo"])] = np.arange(5) + 1
    return char2id[np.frombuffer("".join(rows).encode(), dtype=np.uint8)]


def write_hrm_maze_dataset(root: Path) -> None:
    """What HRM's dataset/build_maze_dataset.py writes (no aug): no ponder.json,
    no total_puzzles, unsorted compact JSON, uint8 tokens, int32 offsets."""
    splits = {"train": [(MAZE_A, SOLVED_A), (MAZE_B, SOLVED_B)], "test": [(MAZE_C, SOLVED_C)]}
    arrays = {
        name: (
            np.vstack([_hrm_tokens(q) for q, _ in pairs]),
            np.vstack([_hrm_tokens(a) for _, a in pairs]),
            np.zeros(len(pairs)),
        )
        for name, pairs in splits.items()
    }
    write_hrm_layout(root, arrays)


def _small_split(n: int = 3, seq_len: int = 4) -> Split:
    meta = DatasetMetadata(
        pad_id=0,
        ignore_label_id=None,
        blank_identifier_id=0,
        vocab_size=6,
        seq_len=seq_len,
        num_puzzle_identifiers=2,
        total_groups=2,
        mean_puzzle_examples=1.5,
        sets=("all",),
        total_puzzles=2,
    )
    return Split(
        metadata=meta,
        inputs=np.arange(n * seq_len, dtype=np.uint8).reshape(n, seq_len) % 5 + 1,
        labels=np.full((n, seq_len), 2, dtype=np.uint8),
        puzzle_identifiers=np.array([0, 1], dtype=np.int32),
        puzzle_indices=np.array([0, 1, n], dtype=np.int32),
        group_indices=np.array([0, 1, 2], dtype=np.int32),
    )


def test_round_trip(tmp_path: Path) -> None:
    split = _small_split()
    write_split(tmp_path, "train", split)
    back = load_split(tmp_path, "train")
    assert back.metadata == split.metadata
    for name in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
        np.testing.assert_array_equal(getattr(back, name), getattr(split, name))
        assert getattr(back, name).dtype == getattr(split, name).dtype
    saved = json.loads((tmp_path / "train" / "dataset.json").read_text())
    assert saved["ignore_label_id"] is None and saved["sets"] == ["all"]


def test_hrm_layout_loads_and_passes_check(tmp_path: Path) -> None:
    write_hrm_maze_dataset(tmp_path)
    train = load_split(tmp_path, "train")
    assert train.inputs.shape == (2, 49) and train.metadata.total_puzzles is None
    assert read_ponder_json(tmp_path) is None
    assert read_identifiers(tmp_path) == ["<blank>"]
    summary = check_dataset(tmp_path)
    assert summary["train"]["examples"] == 2 and summary["test"]["examples"] == 1
    assert summary["leakage"]["dihedral"] is False and summary["task"] is None
    # The HRM tokens mean the same cells to ponder's maze task: the labels solve the inputs.
    maze = tasks.get("maze")
    for q, a in zip(train.inputs, train.labels, strict=True):
        puzzle, answer = maze.decode(q, (7, 7)), maze.decode(a, (7, 7))
        assert maze.verify(puzzle, answer)["exact"]


def test_several_sets_are_concatenated(tmp_path: Path) -> None:
    d = tmp_path / "train"
    d.mkdir()
    meta = _small_split().metadata.to_json() | {"sets": ["a", "b"], "total_groups": 3}
    meta["total_puzzles"] = 3
    (d / "dataset.json").write_text(json.dumps(meta))
    sets = {
        "a": ([0, 2], [0, 1], 2),  # puzzle_indices, group_indices, examples
        "b": ([0, 1, 3], [0, 1, 2], 3),
    }
    for name, (pidx, gidx, n) in sets.items():
        np.save(d / f"{name}__inputs.npy", np.full((n, 4), 1, np.uint8))
        np.save(d / f"{name}__labels.npy", np.full((n, 4), 2, np.uint8))
        np.save(d / f"{name}__puzzle_identifiers.npy", np.zeros(len(pidx) - 1, np.int32))
        np.save(d / f"{name}__puzzle_indices.npy", np.array(pidx, np.int32))
        np.save(d / f"{name}__group_indices.npy", np.array(gidx, np.int32))
    split = load_split(tmp_path, "train")
    assert split.inputs.shape == (5, 4)
    assert split.puzzle_indices.tolist() == [0, 2, 3, 5]
    assert split.group_indices.tolist() == [0, 1, 2, 3]
    check_split("train", split)


def test_missing_pieces_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="split directory not found"):
        load_split(tmp_path, "train")
    write_split(tmp_path, "train", _small_split())
    (tmp_path / "train" / "all__labels.npy").unlink()
    with pytest.raises(UserError, match=r"all__labels\.npy: file not found"):
        load_split(tmp_path, "train")


def test_bad_json_and_missing_key(tmp_path: Path) -> None:
    write_split(tmp_path, "train", _small_split())
    path = tmp_path / "train" / "dataset.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match="dataset.json: invalid JSON"):
        load_split(tmp_path, "train")
    meta = _small_split().metadata.to_json()
    del meta["vocab_size"]
    path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="missing key 'vocab_size'"):
        load_split(tmp_path, "train")
    path.write_text(json.dumps(meta | {"vocab_size": "six"}))
    with pytest.raises(UserError, match="'vocab_size' must be an integer"):
        load_split(tmp_path, "train")


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    write_split(tmp_path, "train", _small_split())
    np.save(tmp_path / "train" / "all__inputs.npy", np.array([{"x": 1}], dtype=object))
    with pytest.raises(UserError, match="not a readable .npy"):
        load_split(tmp_path, "train")


def test_content_hash_tracks_array_bytes(tmp_path: Path) -> None:
    write_split(tmp_path, "train", _small_split())
    before = content_hash(tmp_path)
    (tmp_path / "identifiers.json").write_text("[]")  # not covered by the hash
    assert content_hash(tmp_path) == before
    split = _small_split()
    split.labels[0, 0] = 3
    write_split(tmp_path, "train", split)
    assert content_hash(tmp_path) != before
