"""The grid objective: the answer is the whole output grid as tokens, one per cell.

Training: the token cross-entropy of one segment (ponder.objectives.losses.segment_loss),
with the grid.* aids for route answers (class weights, sparsity, connectivity, a mass
limit; ponder.objectives.route_aids) and MLM-U. Judging: argmax tokens after the last
segment (and where the halting rule would have stopped), decoded to grids and judged by the
task's verifier; eval/samples.png draws failures first.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator

from ponder.errors import UserError
from ponder.eval.evaluate import evaluate_model, format_report, keep_givens, write_samples_png
from ponder.models.base import FrozenConfig
from ponder.objectives.base import Depth, Judgement, LossResult, Objective
from ponder.objectives.losses import cell_shares, segment_loss
from ponder.objectives.mlm_u import mlm_u_transform
from ponder.objectives.route_aids import class_weight_table, route_aids_from_config
from ponder.tasks.maze_hints import hint_labels, hint_rounds


class GridConfig(FrozenConfig):
    """Used by the grid objective (answers as grid tokens; tasks maze and routing).

    Aids for route answers (off by default; ponder.objectives.route_aids). A cell's weight
    is train.label_change_weight (if changed) x class weight, and each sequence's loss the
    weighted mean of its smoothed per-cell losses. The route terms read p, the predicted
    probability of the route token, over the route's area."""

    class_weights: dict[int, float] = {}
    """Maps a label token id to its cross-entropy weight (unnamed tokens: 1)."""
    route_token: int | None = Field(None, ge=0)
    """The token whose probability p the route terms read (null: the task's own)."""
    route_sparsity_weight: float = Field(0.0, ge=0)
    """Adds this x mean p to the loss."""
    connectivity_weight: float = Field(0.0, ge=0)
    """Adds this x the connectivity surrogate (route mass with missing route neighbours:
    gaps, dead ends, stray cells) to the loss."""
    max_route_mass: float | None = Field(None, gt=0)
    """An example whose sum of p is above this many times its label's route cells (at
    least 1) pays its excess mass instead of its cross-entropy that step (logged as
    blocked_fraction); null: off."""
    keep_givens: bool = False
    """Decoding copies the puzzle's given cells (the task's given_tokens: a maze's walls, S
    and G) from the input into the answer, the model's tokens elsewhere, so an answer is
    judged on the cells the puzzle leaves open. Off: the model's tokens everywhere. The
    verifier judges the whole answer either way."""
    hint: Literal["dead_end_fill"] | None = None
    """Algorithm hints (extra supervision from the oracle; report runs with it as such): the
    answer after t segments is trained towards an exact rule's state after hint_rate x t
    rounds instead of the final answer (the same once the rule has finished). Mazes:
    dead_end_fill (ponder.tasks.maze_hints: every open cell not yet filled is route). Needs
    train.progressive_alpha, whose branches know their depth. null: off."""
    hint_rate: int = Field(1, ge=1, le=64)
    """Rounds of the hint's rule per segment."""
    loss_cells: Literal["all", "open"] = "all"
    """Which cells the token loss counts: all, or open: only those the puzzle leaves open
    (not a given cell in the input), as DeepThinking trains mazes. open needs keep_givens,
    since nothing then teaches the model to repeat the given cells."""
    mlm_u: bool = False
    """MLM-U (arXiv 2412.05117): each fresh training example shows a uniformly random
    fraction of its solution's route cells in the input; the model predicts the whole
    answer. For tasks whose inputs can show a route (mazes)."""

    @model_validator(mode="after")
    def _open_cells_are_decoded_with_givens(self):
        if self.loss_cells == "open" and not self.keep_givens:
            raise ValueError(
                "loss_cells: open trains no given cell, so it needs keep_givens: true "
                "(they are copied from the input at decoding)"
            )
        return self

    @field_validator("class_weights")
    @classmethod
    def _class_weights_in_range(cls, value: dict[int, float]) -> dict[int, float]:
        for token, weight in value.items():
            if token < 0:
                raise ValueError(f"token id {token} must be >= 0")
            if not (math.isfinite(weight) and weight >= 0):
                raise ValueError(f"weight of token {token} must be a finite number >= 0")
        return value


class GridObjective(Objective):
    name = "grid"
    section = "grid"

    def _bind(self, data) -> None:
        self._ignore = ignore_label(data)
        self._weights = class_weight_table(self.settings.class_weights, data.spec.vocab_size)
        self._aids = route_aids_from_config(
            self.settings, data.task, data.spec.grid_shape, data.spec.vocab_size
        )
        self._reveal = self._mlm_u_tokens(data.task)
        self._decode = self._givens_kept(data.task)
        self._given = torch.tensor(data.task.given_tokens) if self._decode else None
        self._hint = self._hint_rule(data)
        self._hint_cache: tuple[torch.Tensor, torch.Tensor] | None = None

    def _hint_rule(self, data):
        """grid.hint's name and the grid shape, after checking the task and the recipe."""
        hint = self.settings.hint
        if hint is None:
            return None
        if hint not in getattr(data.task, "hints", ()):
            raise UserError(f"grid.hint: task {data.task.name} has no hint {hint!r}")
        if self.config.train.progressive_alpha is None:
            raise UserError(
                "grid.hint needs train.progressive_alpha (its branches know each answer's depth)"
            )
        return hint, tuple(data.spec.grid_shape)

    def targets_at(self, batch: dict, segments: int) -> dict:
        if self._hint is None:
            return batch
        inputs = batch["inputs"]  # (B, L); the rule's rounds are computed once per batch
        if self._hint_cache is None or self._hint_cache[0] is not inputs:
            name, shape = self._hint
            self._hint_cache = (inputs, hint_rounds(name, inputs, shape))
        done = segments * self.settings.hint_rate
        return {
            **batch,
            "labels": hint_labels(batch["labels"], self._hint_cache[1], done),
        }

    @property
    def decode(self):
        """decode(tokens (B, L), batch): the answer judged from a segment's argmax tokens
        (grid.keep_givens copies the given cells), or None: the tokens as they are."""
        return self._decode

    def _givens_kept(self, task):
        """grid.keep_givens: the decode that copies the task's given cells, else None."""
        if not self.settings.keep_givens:
            return None
        given = getattr(task, "given_tokens", ())
        if not given:
            raise UserError(f"grid.keep_givens: task {task.name} names no given cells to keep")
        return keep_givens(given)

    def _mlm_u_tokens(self, task) -> tuple[int, int] | None:
        if not self.settings.mlm_u:
            return None
        layout = getattr(task, "route_layout", None)
        if layout is None or layout.reveal is None:
            raise UserError(
                f"grid.mlm_u shows part of a route in the input; task {task.name}'s inputs "
                "cannot show one"
            )
        return layout.reveal

    def cell_shares(self, out, batch) -> torch.Tensor:
        """Over every labelled cell (grid.loss_cells leaves the loss's cells, not these)."""
        return cell_shares(out.logits, batch["labels"], self._ignore)

    def loss(self, out, batch, q_continue_target) -> LossResult:
        tc = self.config.train
        if self.settings.loss_cells == "open":
            batch = self._open_cells_only(batch)
        return segment_loss(
            out,
            batch,
            kind=tc.loss,
            ignore_label=self._ignore,
            halt_weight=tc.halt_loss_weight,
            change_weight=tc.label_change_weight,
            q_continue_target=q_continue_target,
            label_smoothing=tc.label_smoothing,
            class_weights=self._weights,
            route_aids=self._aids,
        )

    def _open_cells_only(self, batch: dict) -> dict:
        """The batch with the label of every given cell (walls, S, G) set to ignored."""
        inputs = batch["inputs"]  # (B, L)
        given = torch.isin(inputs, self._given.to(inputs.device))
        return {**batch, "labels": torch.where(given, self._ignore, batch["labels"])}

    def batch_transform(self):
        return None if self._reveal is None else mlm_u_transform(*self._reveal)

    def judge(self, model, data, depth: Depth) -> Judgement:
        report, preds, verdicts = evaluate_model(
            model, data.task, data.test, n_sup=depth.segments, batch_size=depth.batch_size,
            device=depth.device, limit=depth.limit, halt_rule=depth.halt_rule,
            until_halt=depth.until_halt, curve=depth.curve, decode=self._decode,
        )  # fmt: skip
        return Judgement(report, preds, verdicts)

    def write_outputs(self, data, judged: Judgement, out_dir: Path) -> dict[str, str]:
        count = self.config.eval.samples_png
        png = write_samples_png(
            data.task, data.test, judged.predictions, judged.details, out_dir / "samples.png", count
        )
        return {} if png is None else {"samples": str(png)}

    def format_report(self, report: dict, title: str = "") -> str:
        return format_report(report, title=title)

    def decode_one(
        self, logits: torch.Tensor, inputs: torch.Tensor, puzzle: np.ndarray
    ) -> np.ndarray:
        """The answer grid of a one-puzzle batch: argmax tokens (givens kept with
        grid.keep_givens), decoded."""
        tokens = logits.argmax(-1)
        if self._decode is not None:
            tokens = self._decode(tokens, {"inputs": inputs})
        return self.task.decode(tokens[0].cpu().numpy(), puzzle.shape)


def ignore_label(data) -> int:
    """The label id the loss skips (-100, matching nothing, when the dataset has none)."""
    ignore = data.train.metadata.ignore_label_id
    return -100 if ignore is None else ignore
