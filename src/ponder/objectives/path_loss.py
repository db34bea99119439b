"""Loss of the path-sequence formulation: next-cell pointers, vectorised over the batch,
the route positions and the horizons (no Python loop over any of them).

For every route position i with current cell c_i and horizon k in 1..K, the model's
pointer row logits[b, k, c_i, :] (a distribution over the grid's L cells) is trained to
name c_{i+k} (multi-horizon supervision; K = 1 is plain next-cell prediction). Options:
- validity-aware: at k = 1, cells that are not passable 4-neighbours of c_i are masked out
  before the softmax (the model only chooses among legal moves);
- label smoothing eps: (1 - eps) * NLL + eps * mean NLL over the allowed cells.
The loss is the mean over horizons of each horizon's mean over its supervised positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ponder.models.base import ModelOutputs
from ponder.objectives.losses import halting_terms
from ponder.tasks.maze_path import open_neighbour_mask

MASKED = -1e9  # logit of a cell ruled out by the validity mask


def horizon_targets(routes: torch.Tensor, horizons: int) -> torch.Tensor:
    """routes (B, P), -1 padded -> (B, K, P): entry [b, k-1, i] is routes[b, i + k] or -1."""
    b, p = routes.shape
    padded = torch.cat([routes, routes.new_full((b, horizons), -1)], dim=1)  # (B, P + K)
    windows = padded.unfold(1, horizons + 1, 1)[:, :p]  # (B, P, K + 1): routes[i..i+K]
    return windows[:, :, 1:].permute(0, 2, 1)  # (B, K, P)


def path_loss(
    logits: torch.Tensor,
    routes: torch.Tensor,
    allowed: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """logits (B, K, L, L) pointer logits; routes (B, P) flat cells, -1 padded; allowed
    (B, L, L) bool legal moves (or None: no validity mask). Returns (loss, parts)."""
    b, k, length, _ = logits.shape
    p = routes.shape[1]
    targets = horizon_targets(routes, k)  # (B, K, P)
    source = routes.clamp(min=0)  # (B, P)
    supervised = (targets >= 0) & (routes >= 0)[:, None, :]  # (B, K, P)
    rows = logits.gather(2, source[:, None, :, None].expand(b, k, p, length)).float()
    legal = torch.ones_like(rows, dtype=torch.bool)  # (B, K, P, L)
    if allowed is not None:
        moves = allowed.gather(1, source[:, :, None].expand(b, p, length))  # (B, P, L)
        legal = torch.cat([moves[:, None], legal[:, 1:]], dim=1)  # only the next move
        rows = rows.masked_fill(~legal, MASKED)
    logp = F.log_softmax(rows, dim=-1)  # (B, K, P, L)
    nll = -logp.gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)  # (B, K, P)
    if label_smoothing > 0:
        spread = -(logp * legal).sum(-1) / legal.sum(-1).clamp(min=1)
        nll = (1 - label_smoothing) * nll + label_smoothing * spread
    weight = supervised.float()
    per_horizon = (nll * weight).sum((0, 2)) / weight.sum((0, 2)).clamp(min=1)  # (K,)
    used = weight.sum((0, 2)) > 0
    loss = per_horizon[used].mean() if used.any() else per_horizon.sum() * 0
    with torch.no_grad():
        hit = (rows[:, 0].argmax(-1) == targets[:, 0]) & supervised[:, 0]  # (B, P)
        next_acc = hit.sum() / supervised[:, 0].sum().clamp(min=1)
    return loss, {"path_loss": loss.detach(), "next_cell_acc": next_acc}


def path_segment_loss(
    out: ModelOutputs,
    batch: dict[str, torch.Tensor],
    q_continue_target: torch.Tensor | None = None,
    *,
    grid_shape: tuple[int, int],
    halt_weight: float,
    label_smoothing: float = 0.0,
    validity_mask: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """One segment of the path formulation: the pointer loss plus the halting terms, as
    losses.segment_loss does for grids. A row counts as correct (q_halt's target) when
    its next-cell pointer is right at every position of its route."""
    routes = batch["routes"]  # (B, P)
    allowed = open_neighbour_mask(batch["inputs"], grid_shape) if validity_mask else None
    loss, parts = path_loss(out.logits, routes, allowed, label_smoothing)
    with torch.no_grad():
        nxt = horizon_targets(routes, 1)[:, 0]  # (B, P)
        guess = out.logits[:, 0].argmax(-1).gather(1, routes.clamp(min=0))  # (B, P)
        correct = ((guess == nxt) | (nxt < 0)).all(dim=1)  # (B,)
    halt, halt_parts = halting_terms(out, correct, q_continue_target)
    return loss + halt_weight * halt, {**parts, **halt_parts}, correct
