"""Losses and per-batch metrics. Metrics are returned as (sum, count) pairs so they can be
accumulated over steps and ranks and divided only when reported."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ponder.models.base import ModelOutputs
from ponder.objectives.token_loss import token_cross_entropy

if TYPE_CHECKING:
    from ponder.objectives.route_aids import RouteAids


def segment_loss(
    out: ModelOutputs,
    batch: dict[str, torch.Tensor],
    *,
    kind: str,
    ignore_label: int,
    halt_weight: float,
    change_weight: float = 1.0,
    q_continue_target: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
    route_aids: RouteAids | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """Loss of one supervision segment: mean over the batch of the (weighted) per-sequence
    mean token loss, plus halt_weight * BCE(q_halt, "the whole answer is right"), plus
    halt_weight * BCE(q_continue, its Q-learning target (B,)) when a target is given (HRM).
    class_weights (V,) multiply each cell's weight by its label's; route_aids add the route
    terms and may drop examples' token loss (ponder.objectives.route_aids).
    Returns (loss, parts, seq_correct (B,) bool)."""
    labels = batch["labels"]
    nll, mask = token_cross_entropy(out.logits, labels, kind, ignore_label, label_smoothing)
    weight = mask.float()  # (B, L)
    if change_weight != 1.0:
        changed = labels != batch["inputs"]
        weight = weight * torch.where(changed, change_weight, 1.0)
    if class_weights is not None:
        weight = weight * class_weights.to(weight.device)[torch.where(mask, labels, 0)]
    per_seq = (nll * weight).sum(-1) / weight.sum(-1).clamp(min=1e-6)  # (B,)
    lm = per_seq.mean()
    with torch.no_grad():
        token_ok = (out.logits.argmax(-1) == labels) & mask  # (B, L)
        seq_correct = token_ok.sum(-1) == mask.sum(-1)  # (B,)
    halt, halt_parts = halting_terms(out, seq_correct, q_continue_target)
    parts = {"lm_loss": lm.detach(), **halt_parts}
    parts["token_acc"] = (token_ok.sum() / mask.sum().clamp(min=1)).detach()
    loss = lm
    if route_aids is not None:  # lm_loss above stays the CE of every row, blocked or not
        loss, aid_parts = route_aids.apply(out.logits, batch, per_seq, kind)
        parts.update(aid_parts)
    return loss + halt_weight * halt, parts, seq_correct


@torch.no_grad()
def cell_shares(logits: torch.Tensor, labels: torch.Tensor, ignore_label: int) -> torch.Tensor:
    """(B,) per row: right argmax cells over labelled cells (0 for a row with none), from
    logits (B, L, V) and labels (B, L)."""
    mask = labels != ignore_label  # (B, L)
    right = ((logits.argmax(-1) == labels) & mask).sum(-1).float()
    return right / mask.sum(-1).clamp(min=1)


def halting_terms(
    out: ModelOutputs, correct: torch.Tensor, q_continue_target: torch.Tensor | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """BCE(q_halt, "the whole answer is right" (B,)), plus BCE(q_continue, its Q-learning
    target) when one is given (HRM). Returns (sum, parts)."""
    halt = F.binary_cross_entropy_with_logits(out.q_halt, correct.float())
    parts = {"halt_loss": halt.detach()}
    if q_continue_target is not None:
        cont = F.binary_cross_entropy_with_logits(out.q_continue, q_continue_target)
        parts["continue_loss"] = cont.detach()
        halt = halt + cont
    return halt, parts
