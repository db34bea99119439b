"""The path objective: the answer is the maze's route as next-cell pointers.

The model's answer head gives, for K horizons, logits over the grid's cells for "the cell
k moves after this one on the route" (B, K, L, L). Training: the pointer loss along each
stored route (ponder.objectives.path_loss), multi-horizon, optionally masked to legal moves.
Judging: follow the pointers greedily from S, turn the route into an answer grid and let
the maze verifier judge it (the same oracle and verifier as the grid objective).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np
import torch
from pydantic import Field

from ponder.errors import UserError
from ponder.eval.evaluate import format_report
from ponder.eval.paths import evaluate_paths
from ponder.models.base import DataSpec, FrozenConfig
from ponder.objectives.base import Depth, Judgement, LossResult, Objective
from ponder.objectives.path_loss import path_segment_loss
from ponder.tasks.maze_path import extract_routes, greedy_routes, route_to_answer


class PathConfig(FrozenConfig):
    """Used by the path objective (`objective: path`; mazes)."""

    horizons: int = Field(1, gt=0)
    """Pointers to the cell 1..K moves ahead (multi-horizon)."""
    validity_mask: bool = False
    """Mask the next-move logits to the passable 4-neighbours of the current cell before the
    softmax (the model only learns to choose among legal moves); decoding then also
    chooses among them, as the model was trained."""
    constrained_decoding: bool = False
    """Decoding picks only unvisited passable neighbours (every route is then legal by
    construction, so "valid" stops measuring the model)."""


class PathObjective(Objective):
    name = "path"
    section = "path"

    def prepare(self, data):
        super().prepare(data)
        self.refuse_grid_token_models("objective 'path' needs a pointer head (use objective grid)")
        if not getattr(data.task, "path_answers", False):
            raise UserError(
                f"objective 'path' is for tasks whose answer is a route from S to G (maze); "
                f"this dataset's task is {data.task.name}"
            )
        for split in (data.train, data.test):  # S ... G as flat cell indices, -1 padded
            split.extras["routes"] = extract_routes(
                split.inputs, split.labels, data.spec.grid_shape
            )
        return data

    def data_spec(self, spec: DataSpec) -> DataSpec:
        return replace(spec, pointer_horizons=self.settings.horizons)

    def _bind(self, data) -> None:
        tc = self.config.train
        self._loss = partial(
            path_segment_loss,
            grid_shape=data.spec.grid_shape,
            halt_weight=tc.halt_loss_weight,
            label_smoothing=tc.label_smoothing,
            validity_mask=self.settings.validity_mask,
        )

    def loss(self, out, batch, q_continue_target) -> LossResult:
        return self._loss(out, batch, q_continue_target)

    def judge(self, model, data, depth: Depth) -> Judgement:
        report, preds, verdicts = evaluate_paths(
            model, data.test, n_sup=depth.segments, batch_size=depth.batch_size,
            device=depth.device, limit=depth.limit, halt_rule=depth.halt_rule,
            until_halt=depth.until_halt, curve=depth.curve,
            constrained=self.settings.constrained_decoding,
            legal_only=self.settings.validity_mask,  # the choice set the model was trained on
        )  # fmt: skip
        return Judgement(report, preds, verdicts)

    def format_report(self, report: dict, title: str = "") -> str:
        return format_report(report, title=title)

    def decode_one(
        self, logits: torch.Tensor, inputs: torch.Tensor, puzzle: np.ndarray
    ) -> np.ndarray:
        """Follow the next-cell pointers of a one-puzzle batch from S; the route as a grid."""
        route = greedy_routes(
            logits[:, 0], inputs, puzzle.shape, inputs.shape[1] - 1,
            constrained=self.settings.constrained_decoding,
            legal_only=self.settings.validity_mask,
        )[0]  # fmt: skip
        return route_to_answer(puzzle, route[route >= 0].tolist())
