"""Batches for training and evaluation, deterministic by step.

Training visits groups (base puzzles) rather than examples, as HRM and TRM do, so an
augmented puzzle with 8 (or 1000) views counts once per epoch. The stream is a pure function
of (seed, step): resuming needs only the step, and every DDP rank computes the same global
batch and keeps its own rows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

import numpy as np
import torch

from ponder.data.format import Split
from ponder.errors import UserError


class TrainBatches:
    """The training stream of `split`.

    Global position g = step * global_batch_size + i lies in epoch g // G at slot g % G
    (G groups). Each epoch has a permutation of the groups and, per slot, a uniform puzzle of
    the group and a uniform example of the puzzle, all drawn from default_rng([seed, epoch]).
    """

    def __init__(
        self,
        split: Split,
        global_batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        cache_epochs: int = 8,
    ) -> None:
        check_global_batch(global_batch_size, rank, world_size)
        if split.num_groups < 1:
            raise UserError("the training split has no groups to sample")
        self.split = split
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // world_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.num_groups = split.num_groups
        self._group_starts = split.group_indices[:-1].astype(np.int64)  # [G]
        self._group_sizes = np.diff(split.group_indices.astype(np.int64))  # [G] puzzles
        self._puzzle_starts = split.puzzle_indices[:-1].astype(np.int64)  # [P]
        self._puzzle_sizes = np.diff(split.puzzle_indices.astype(np.int64))  # [P] examples
        if self._group_sizes.min() < 1 or (
            self._puzzle_sizes.size and self._puzzle_sizes.min() < 1
        ):
            raise UserError(
                "the training split has an empty group or puzzle; run `ponder data check`"
            )
        # A batch can span many epochs when G is small, so keep at least that many.
        spans = -(-global_batch_size // self.num_groups) + 1
        self._cache_size = max(cache_epochs, spans)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def _epoch_examples(self, epoch: int) -> np.ndarray:
        """[G] example index at each slot of `epoch` (LRU-cached)."""
        cached = self._cache.get(epoch)
        if cached is not None:
            self._cache.move_to_end(epoch)
            return cached
        rng = np.random.default_rng([self.seed, epoch])
        groups = rng.permutation(self.num_groups)  # [G]
        u_puzzle, u_example = rng.random(self.num_groups), rng.random(self.num_groups)
        puzzles = self._group_starts[groups] + (u_puzzle * self._group_sizes[groups]).astype(
            np.int64
        )
        examples = self._puzzle_starts[puzzles] + (u_example * self._puzzle_sizes[puzzles]).astype(
            np.int64
        )
        self._cache[epoch] = examples
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return examples

    def example_indices(self, step: int) -> np.ndarray:
        """[local_batch_size] int64 example indices of this rank's rows at `step`."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        start = step * self.global_batch_size + self.rank * self.local_batch_size
        positions = np.arange(start, start + self.local_batch_size, dtype=np.int64)
        epochs, slots = np.divmod(positions, self.num_groups)
        out = np.empty(self.local_batch_size, dtype=np.int64)
        for epoch in range(int(epochs[0]), int(epochs[-1]) + 1):  # usually 1-2 epochs
            rows = epochs == epoch
            out[rows] = self._epoch_examples(epoch)[slots[rows]]
        return out

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """This rank's rows of the global batch at `step`: inputs/labels int64 [b, L],
        puzzle_identifiers int64 [b]."""
        return _gather(self.split, self.example_indices(step), with_index=False)

    def epoch_of(self, step: int) -> float:
        """Epochs (passes over the groups) completed before `step`, for logging."""
        return step * self.global_batch_size / self.num_groups

    @property
    def steps_per_epoch(self) -> float:
        return self.num_groups / self.global_batch_size


def eval_batches(
    split: Split, batch_size: int, rank: int = 0, world_size: int = 1
) -> Iterator[dict[str, torch.Tensor]]:
    """Every example of `split` once, in order; rank r takes examples r::world_size in
    batches of `batch_size` (the last may be smaller). "index" holds each row's example
    position in the split, to match results back."""
    _check_sharding(batch_size, rank, world_size)
    positions = np.arange(rank, split.num_examples, world_size, dtype=np.int64)
    for start in range(0, len(positions), batch_size):
        yield _gather(split, positions[start : start + batch_size], with_index=True)


def check_global_batch(global_batch_size: int, rank: int, world_size: int) -> None:
    """A training stream's global batch must split evenly over the DDP ranks."""
    _check_sharding(global_batch_size, rank, world_size)
    if global_batch_size % world_size:
        raise UserError(
            f"global batch size {global_batch_size} is not divisible by world size {world_size}"
        )


def _check_sharding(batch_size: int, rank: int, world_size: int) -> None:
    if batch_size < 1:
        raise UserError(f"batch size must be >= 1, got {batch_size}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise UserError(f"rank {rank} is not valid for world size {world_size}")


def _gather(split: Split, examples: np.ndarray, with_index: bool) -> dict[str, torch.Tensor]:
    """Rows `examples` [b] of the split as int64 tensors."""
    # Puzzle of example i: the last puzzle whose first example is <= i.
    puzzles = np.searchsorted(split.puzzle_indices, examples, side="right") - 1
    # One [2, b, L] buffer for inputs and labels: two separate large allocations were
    # several times slower (fresh pages from the OS on every batch).
    tokens = np.empty((2, len(examples), split.inputs.shape[1]), dtype=np.int64)
    tokens[0] = split.inputs[examples]
    tokens[1] = split.labels[examples]
    both = torch.from_numpy(tokens)
    out = {
        "inputs": both[0],
        "labels": both[1],
        "puzzle_identifiers": torch.from_numpy(split.puzzle_identifiers[puzzles].astype(np.int64)),
    }
    for key, values in split.extras.items():
        out[key] = torch.from_numpy(values[examples])
    if split.fewshot:
        out.update(demonstrations(split, examples, puzzles))
    if with_index:
        out["index"] = torch.from_numpy(examples.copy())
    return out


def demonstrations(
    split: Split, examples: np.ndarray, puzzles: np.ndarray
) -> dict[str, torch.Tensor]:
    """The demonstration pairs each example may see: demo_inputs / demo_labels (b, K, L)
    int64 and demo_mask (b, K) bool. A slot is visible when it is filled and is not the
    example itself: an example that is one of its puzzle's demonstrations never sees its
    own answer (leave-one-out)."""
    fs = split.fewshot
    slots = fs["demo_inputs"].shape[1]
    mask = np.arange(slots)[None, :] < fs["demo_counts"][puzzles][:, None]  # (b, K)
    own = fs["example_slot"][examples]  # (b,) slot of the example itself, -1 for test pairs
    rows = np.nonzero(own >= 0)[0]
    mask[rows, own[rows]] = False
    return {
        "demo_inputs": torch.from_numpy(fs["demo_inputs"][puzzles].astype(np.int64)),
        "demo_labels": torch.from_numpy(fs["demo_labels"][puzzles].astype(np.int64)),
        "demo_mask": torch.from_numpy(mask),
    }
