"""A curriculum: train on easier datasets first, then on the run's own (train.curriculum).

Stages are datasets of one shape (same vocabulary, sequence length and grid), so the model
never changes: for routing, small cities are drawn on a canvas of the final size
(`ponder data build routing --size 6 --canvas 10`). The last stage is data.path.

Two rules move to the next stage:
- schedule (at_steps): stage i + 1 starts at step at_steps[i]. The stage is a pure function
  of the step, so resuming needs nothing beyond the step.
- accuracy (threshold): `observe(metrics)` with an evaluation of the current stage's test
  split advances one stage when its exact reaches the threshold. The stage is state, saved
  with checkpoints through `state_dict` / `load_state_dict`.

Each stage keeps its own TrainBatches stream, indexed by the global step, so the batches are
deterministic either way. Rows still working on an earlier stage's example when the stage
changes finish it (at most N_sup segments) before they take the new stage's examples.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import torch

from ponder.data.loader import TrainBatches
from ponder.errors import UserError


class CurriculumBatches:
    """The `batch(step)` interface of TrainBatches over a list of stages."""

    def __init__(
        self,
        stages: Sequence[TrainBatches],
        at_steps: Sequence[int] | None = None,
        threshold: float | None = None,
    ) -> None:
        if (at_steps is None) == (threshold is None):
            raise ValueError("a curriculum needs exactly one of at_steps or threshold")
        if at_steps is not None and len(at_steps) != len(stages) - 1:
            raise ValueError(f"{len(stages)} stages need {len(stages) - 1} at_steps")
        self.stages = list(stages)
        self.at_steps = None if at_steps is None else list(at_steps)
        self.threshold = threshold
        self._stage = 0  # accuracy mode only: the stage reached so far

    @property
    def last(self) -> int:
        return len(self.stages) - 1

    @property
    def stage(self) -> int:
        """Accuracy mode: the stage reached so far (schedule mode: use stage_at)."""
        return self._stage

    @property
    def by_accuracy(self) -> bool:
        return self.threshold is not None

    def stage_at(self, step: int) -> int:
        """The stage that serves `step` (in accuracy mode: the current one)."""
        if self.at_steps is None:
            return self._stage
        return bisect.bisect_right(self.at_steps, step)  # number of starts at or before step

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """The batch of the stage serving `step`: inputs/labels int64 [b, L], ..."""
        return self.stages[self.stage_at(step)].batch(step)

    def log_fields(self, step: int) -> dict[str, float]:
        """Extra training-log fields for the step just taken."""
        return {"curriculum_stage": float(self.stage_at(step))}

    def observe(self, metrics: dict[str, float]) -> bool:
        """Accuracy mode: advance one stage when `metrics` (an evaluation of the current
        stage) has exact >= threshold. True when it advanced; schedule mode ignores it."""
        if not self.by_accuracy or self._stage >= self.last:
            return False
        if metrics.get("exact", 0.0) >= self.threshold:
            self._stage += 1
            return True
        return False

    def state_dict(self) -> dict[str, int]:
        return {"curriculum_stage": self._stage}

    def load_state_dict(self, state: dict[str, int]) -> None:
        stage = int(state.get("curriculum_stage", 0))
        if not 0 <= stage <= self.last:
            raise UserError(f"checkpoint curriculum stage {stage} is outside 0..{self.last}")
        self._stage = stage
