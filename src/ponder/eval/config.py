"""The run config's `eval` section: batch size and pictures of evaluation. Owned by the
evaluation room; ponder.config.RunConfig composes it."""

from __future__ import annotations

from pydantic import Field

from ponder.models.base import FrozenConfig


class EvalConfig(FrozenConfig):
    """Used by evaluation (the objectives' judging, ponder.eval), during and after training."""

    batch_size: int = Field(256, gt=0)
    """Examples per evaluation batch."""
    samples_png: int = Field(6, ge=0)
    """Mazes drawn in eval/samples.png (failures first); few-shot: tasks drawn as PNGs."""
