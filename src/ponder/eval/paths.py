"""Evaluation of the path-sequence formulation: follow the model's next-cell pointers from S
after the last segment, and judge each route (exact by the maze verifier, valid, reached
goal, optimal-length ratio, first-error position). Labels are never used to decide."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ponder.data.format import Split
from ponder.eval.evaluate import Predictions, exact_curve, predict, summarise
from ponder.models.halting import StopRule
from ponder.tasks.maze_path import greedy_routes, judge_route


def predict_routes(
    model: nn.Module,
    split: Split,
    *,
    constrained: bool = False,
    legal_only: bool = False,
    **run,
) -> Predictions:
    """Routes (N, L) after all n_sup segments and at the segment the halting rule picks;
    `run` holds evaluate.predict's settings (n_sup, batch_size, device, limit, halt_rule)."""
    shape = _shape(split)

    def follow(pointers: torch.Tensor, batch: dict) -> torch.Tensor:
        return greedy_routes(
            pointers, batch["inputs"], shape, shape[0] * shape[1] - 1,
            constrained=constrained, legal_only=legal_only,
        )  # fmt: skip

    return predict(model, split, read=read_pointers, decode=follow, **run)


def read_pointers(out) -> torch.Tensor:
    """A path model's answer after one segment: its next-cell pointers (B, L, L)."""
    return out.logits[:, 0].float()


def judge_routes(split: Split, routes: np.ndarray, index: np.ndarray) -> list[dict]:
    shape = _shape(split)
    verdicts = []
    for route, i in zip(routes, index, strict=True):
        puzzle = np.asarray(split.inputs[i]).reshape(shape)
        verdicts.append(judge_route(puzzle, route[route >= 0].tolist()))
    return verdicts


def evaluate_paths(
    model: nn.Module,
    split: Split,
    *,
    n_sup: int,
    batch_size: int,
    device: torch.device,
    limit: int = 0,
    halt_rule: StopRule = "trm",
    constrained: bool = False,
    legal_only: bool = False,
    until_halt: bool = False,
    curve: tuple[int, ...] = (),
) -> tuple[dict, Predictions, list[dict]]:
    """Judge the routes the model's pointers give. `legal_only`: choose among passable
    4-neighbours (use it for a model trained with the validity mask, whose logits of other
    cells were never trained); `constrained`: also never revisit."""
    preds = predict_routes(
        model, split, n_sup=n_sup, batch_size=batch_size, device=device, limit=limit,
        halt_rule=halt_rule, constrained=constrained, legal_only=legal_only,
        until_halt=until_halt, curve=curve,
    )  # fmt: skip
    verdicts = judge_routes(split, preds.final, preds.index)
    early = judge_routes(split, preds.at_halt, preds.index)
    errors = [v.pop("first_error") for v in verdicts]
    for v in early:
        v.pop("first_error")
    report = summarise(verdicts, preds, early, n_sup)
    wrong = [e for e in errors if e >= 0]
    # Where the first bad move falls, over the routes that have one (-1: none has).
    report["first_error_mean"] = float(np.mean(wrong)) if wrong else -1.0
    report["constrained_decoding"] = constrained
    report.update(exact_curve(preds, lambda routes: judge_routes(split, routes, preds.index)))
    return report, preds, verdicts


def _shape(split: Split) -> tuple[int, int]:
    side = int(round(split.metadata.seq_len**0.5))
    return side, side
