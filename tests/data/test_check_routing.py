"""check_dataset on routing data: the whole answer grid passes; labels that are padding
except the route, or that leave holes (padding on roads but not on buildings), are refused."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ponder.data.build import build_dataset
from ponder.data.check import MAX_LABEL_HOLE_FRACTION, check_dataset, check_split
from ponder.data.format import DatasetMetadata, Split
from ponder.errors import UserError
from ponder.tasks.routing import PAD, ROUTE, STREET, STREET_JAM


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("built") / "routing"
    return build_dataset("routing", root, train=12, test=4, seed=1, size=6)


@pytest.fixture()
def copy(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "routing"))


def _edit_labels(root: Path, change: Callable[[np.ndarray], np.ndarray]) -> None:
    path = root / "train" / "all__labels.npy"
    np.save(path, change(np.load(path)).astype(np.uint8))


def test_a_built_routing_dataset_passes(built: Path) -> None:
    summary = check_dataset(built)
    assert summary["task"] == "routing" and summary["train"]["seq_len"] == 7 * 6
    assert summary["train"]["label_histogram"][PAD] == 0  # every label cell is a real token


def test_labels_padding_except_the_route_are_refused(copy: Path) -> None:
    _edit_labels(copy, lambda a: np.where(a == ROUTE, ROUTE, PAD))
    with pytest.raises(UserError, match="labels in train are padding except the answer") as info:
        check_dataset(copy)
    assert "\n" not in str(info.value)


def test_labels_with_holes_on_the_streets_are_refused(copy: Path) -> None:
    # Padding only where a small street is: under half the cells, so the older check alone
    # would pass it, yet "route on every street" would then look perfect to the loss.
    _edit_labels(copy, lambda a: np.where(np.isin(a, (STREET, STREET_JAM)), PAD, a))
    labels = np.load(copy / "train" / "all__labels.npy")
    assert MAX_LABEL_HOLE_FRACTION < (labels == PAD).mean() < 0.5
    with pytest.raises(UserError, match=r"labels in train have holes: \d+% of the cells") as info:
        check_dataset(copy)
    assert "\n" not in str(info.value)


def _split(inputs: np.ndarray, labels: np.ndarray) -> Split:
    n, seq_len = inputs.shape
    meta = DatasetMetadata(
        pad_id=0, ignore_label_id=0, blank_identifier_id=0, vocab_size=12, seq_len=seq_len,
        num_puzzle_identifiers=1, total_groups=n, mean_puzzle_examples=1.0,
    )  # fmt: skip
    index = np.arange(n + 1, dtype=np.int32)
    return Split(meta, inputs, labels, np.zeros(n, np.int32), index, index)


def test_a_smaller_output_on_a_padded_canvas_passes() -> None:
    # ARC-style: 4x4 input and a 3x3 output on an 8x8 canvas, each closed by an
    # end-of-grid frame (token 1) whose corner stays padding: 1 of 16 cells in the box.
    def canvas(side: int, colour: int) -> np.ndarray:
        grid = np.zeros((8, 8), np.uint8)
        grid[:side, :side] = colour
        grid[side, :side] = grid[:side, side] = 1
        return grid.reshape(-1)

    inputs = np.stack([canvas(4, 5)] * 4)
    labels = np.stack([canvas(3, 7)] * 4)
    check_split("train", _split(inputs, labels), (8, 8))
    holes = labels.copy()
    holes[:, 9] = 0  # one cell inside the 3x3 output ignored too: 2 of 16
    with pytest.raises(UserError, match="have holes"):
        check_split("train", _split(inputs, holes), (8, 8))
