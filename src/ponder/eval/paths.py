"""Evaluation of the path-sequence formulation: follow the model's next-cell pointers from S
after the last segment, and judge each route (exact by the maze verifier, valid, reached
goal, optimal-length ratio, first-error position). Labels are never used to decide."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ponder.data.format import Split
from ponder.data.loader import eval_batches
from ponder.eval.evaluate import Predictions, summarise
from ponder.tasks.maze_path import greedy_routes, judge_route
from ponder.train.halting import HaltRule, halt_signal


@torch.no_grad()
def predict_routes(
    model: nn.Module,
    split: Split,
    *,
    n_sup: int,
    batch_size: int,
    device: torch.device,
    limit: int = 0,
    halt_rule: HaltRule = "trm",
    constrained: bool = False,
    legal_only: bool = False,
) -> Predictions:
    """Routes (N, L) after all n_sup segments and at the segment the halting rule picks."""
    shape = _shape(split)
    finals, halts, steps, indices, seen = [], [], [], [], 0
    for batch in eval_batches(split, batch_size):
        if limit and seen >= limit:
            break
        batch = {k: v.to(device) for k, v in batch.items()}
        final, at_halt, halt_step = _segments(model, batch, n_sup, halt_rule)
        decode = dict(
            shape=shape,
            max_moves=shape[0] * shape[1] - 1,
            constrained=constrained,
            legal_only=legal_only,
        )
        finals.append(greedy_routes(final, batch["inputs"], **decode).cpu().numpy())
        halts.append(greedy_routes(at_halt, batch["inputs"], **decode).cpu().numpy())
        steps.append(halt_step.cpu().numpy())
        indices.append(batch["index"].cpu().numpy())
        seen += len(finals[-1])
    cut = limit or None
    return Predictions(
        final=np.concatenate(finals)[:cut],
        at_halt=np.concatenate(halts)[:cut],
        halt_step=np.concatenate(steps)[:cut],
        index=np.concatenate(indices)[:cut],
    )


def _segments(model, batch, n_sup: int, halt_rule: HaltRule):
    """Next-cell pointer rows (B, L, L) after the last segment and at the halting one."""
    b = batch["inputs"].shape[0]
    carry = model.init_carry(b, batch["inputs"].device)
    halt_step = torch.full((b,), n_sup, dtype=torch.long, device=batch["inputs"].device)
    at_halt = None
    for segment in range(1, n_sup + 1):
        carry, out = model(carry, batch)
        pointers = out.logits[:, 0].float()  # horizon 1: (B, L, L)
        newly = halt_signal(out, halt_rule) & (halt_step == n_sup) & (segment < n_sup)
        halt_step = torch.where(newly, segment, halt_step)
        keep = (halt_step >= segment).view(-1, 1, 1)
        at_halt = pointers if at_halt is None else torch.where(keep, pointers, at_halt)
    return pointers, at_halt, halt_step


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
    halt_rule: HaltRule = "trm",
    constrained: bool = False,
    legal_only: bool = False,
) -> tuple[dict, Predictions, list[dict]]:
    """Judge the routes the model's pointers give. `legal_only`: choose among passable
    4-neighbours (use it for a model trained with the validity mask, whose logits of other
    cells were never trained); `constrained`: also never revisit."""
    preds = predict_routes(
        model, split, n_sup=n_sup, batch_size=batch_size, device=device, limit=limit,
        halt_rule=halt_rule, constrained=constrained, legal_only=legal_only,
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
    return report, preds, verdicts


def _shape(split: Split) -> tuple[int, int]:
    side = int(round(split.metadata.seq_len**0.5))
    return side, side
