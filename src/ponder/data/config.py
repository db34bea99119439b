"""The run config's `data` section: which dataset a run reads and what its recipe expects
of it. Owned by the data room; ponder.config.RunConfig composes it."""

from __future__ import annotations

from pydantic import Field

from ponder.models.base import FrozenConfig


class DataConfig(FrozenConfig):
    """Used by the dataset loader (ponder.runs.open_run_data): which dataset a run reads,
    and what its recipe expects of it."""

    path: str = "data/maze_quick"
    """Dataset directory (HRM/TRM layout)."""
    task: str | None = None
    """The dataset's task (maze, routing, ...); taken from the dataset's ponder.json when
    not set (an HRM/TRM-built dataset has none, so name it here)."""
    vocab_size: int | None = Field(None, gt=0)
    """The vocabulary size the recipe expects (null: whatever the dataset has). A dataset
    that differs is refused with both values named, before any model is built."""
    seq_len: int | None = Field(None, gt=0)
    """The tokens per example the recipe expects (null: whatever the dataset has); checked
    as vocab_size is."""
    num_puzzle_identifiers: int | None = Field(None, gt=0)
    """The puzzle identifiers the recipe expects (null: whatever the dataset has); checked
    as vocab_size is."""
    fresh_tasks: bool = False
    """Generated skills datasets only: train on a new task instance in every batch row,
    drawn from the generators of the dataset's trained skills (ponder.data.fresh_skills), in
    place of its fixed training tasks. Deterministic by (seed, step); never a held-out skill
    nor a test-split instance. Refused with a puzzle table (puzzle_emb_len without a
    demo_encoder, or the oracle encoder) and with a curriculum."""
