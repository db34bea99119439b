"""Loader: batch(step) is a pure function of (seed, step); epochs cover groups; DDP slices."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ponder.data.build import build_dataset
from ponder.data.format import DatasetMetadata, Split, load_split
from ponder.data.loader import TrainBatches, eval_batches
from ponder.errors import UserError


def _synthetic(groups: int, views: int = 1, seq_len: int = 8) -> Split:
    """`groups` groups of `views` puzzles, one example each; example i's tokens all equal
    i % 250 + 1 and puzzle identifier = group, so rows can be traced back."""
    n = groups * views
    meta = DatasetMetadata(0, 0, 0, 256, seq_len, groups, groups, 1.0, ("all",), n)
    rows = np.repeat((np.arange(n) % 250 + 1)[:, None], seq_len, axis=1).astype(np.uint8)
    return Split(
        metadata=meta,
        inputs=rows,
        labels=rows.copy(),
        puzzle_identifiers=np.repeat(np.arange(groups, dtype=np.int32), views),
        puzzle_indices=np.arange(n + 1, dtype=np.int32),
        group_indices=np.arange(0, n + 1, views, dtype=np.int32),
    )


def test_batch_is_pure_function_of_seed_and_step() -> None:
    split = _synthetic(groups=37, views=3)
    a, b = TrainBatches(split, 16, seed=5), TrainBatches(split, 16, seed=5)
    for step in (0, 1, 2, 50, 7, 3):  # any order: no hidden state
        x, y = a.batch(step), b.batch(step)
        assert x.keys() == {"inputs", "labels", "puzzle_identifiers"}
        for key in x:
            assert torch.equal(x[key], y[key]) and x[key].dtype == torch.int64
        assert x["inputs"].shape == (16, 8) and x["puzzle_identifiers"].shape == (16,)
    assert not torch.equal(a.batch(0)["inputs"], TrainBatches(split, 16, seed=6).batch(0)["inputs"])


def test_every_group_once_per_epoch() -> None:
    split = _synthetic(groups=12, views=8)
    loader = TrainBatches(split, 4, seed=0)  # 3 steps per epoch
    for epoch in range(3):
        groups = torch.cat([loader.batch(epoch * 3 + s)["puzzle_identifiers"] for s in range(3)])
        assert sorted(groups.tolist()) == list(range(12))
    assert loader.epoch_of(3) == 1.0 and loader.epoch_of(1) == pytest.approx(1 / 3)


def test_batch_spanning_epochs_and_views() -> None:
    # 5 groups, batch 12: each batch crosses epochs; within each epoch all groups appear.
    split = _synthetic(groups=5, views=8)
    loader = TrainBatches(split, 12, seed=1)
    flat = torch.cat([loader.batch(s)["puzzle_identifiers"] for s in range(10)])  # 24 epochs
    for epoch in flat.view(-1, 5):
        assert sorted(epoch.tolist()) == list(range(5))
    # Different views of a group get picked over many epochs.
    tokens = torch.cat([loader.batch(s)["inputs"][:, 0] for s in range(10)])
    assert len(set(tokens.tolist())) > 20


def test_rank_slices_concatenate_to_global_batch() -> None:
    split = _synthetic(groups=23, views=2)
    whole = TrainBatches(split, 8, seed=4)
    ranks = [TrainBatches(split, 8, seed=4, rank=r, world_size=2) for r in range(2)]
    for step in range(6):
        parts = [r.batch(step) for r in ranks]
        assert parts[0]["inputs"].shape[0] == 4
        for key, value in whole.batch(step).items():
            assert torch.equal(torch.cat([p[key] for p in parts]), value)


def test_bad_sharding_is_a_user_error() -> None:
    split = _synthetic(groups=4)
    with pytest.raises(UserError, match="not divisible by world size 3"):
        TrainBatches(split, 8, seed=0, world_size=3)
    with pytest.raises(UserError, match="rank 2 is not valid"):
        TrainBatches(split, 8, seed=0, rank=2, world_size=2)


def test_batch_of_768_is_fast() -> None:
    split = _synthetic(groups=1000, views=8, seq_len=900)
    loader = TrainBatches(split, 768, seed=0)
    loader.batch(0)
    times = []
    for step in range(1, 30):
        start = time.perf_counter()
        loader.batch(step)
        times.append(time.perf_counter() - start)
    assert float(np.median(times)) < 0.005


@pytest.mark.parametrize(("batch_size", "world_size"), [(4, 1), (3, 2), (100, 3)])
def test_eval_batches_cover_each_example_once(batch_size: int, world_size: int) -> None:
    split = _synthetic(groups=10, views=2)
    seen = []
    for rank in range(world_size):
        for batch in eval_batches(split, batch_size, rank=rank, world_size=world_size):
            assert batch["inputs"].shape[0] <= batch_size
            index = batch["index"]
            assert torch.equal(
                batch["inputs"], torch.from_numpy(split.inputs[index.numpy()]).long()
            )
            assert torch.equal(batch["puzzle_identifiers"], index // 2)  # 2 views per group
            seen.extend(index.tolist())
    assert sorted(seen) == list(range(20))


def test_built_dataset_round_trip(tmp_path: Path) -> None:
    root = build_dataset("maze", tmp_path / "d", train=10, test=5, seed=0, size=7, aug="dihedral")
    train, test = load_split(root, "train"), load_split(root, "test")
    batch = TrainBatches(train, 10, seed=0).batch(0)
    assert batch["inputs"].shape == (10, 49) and (batch["inputs"] == 1).any(dim=1).all()
    assert [len(b["index"]) for b in eval_batches(test, 2)] == [2, 2, 1]
