"""Training aids for route answers (issue 5): class weights, and three terms that read the
predicted route probabilities. All are vectorised over the batch and the cells.

- class weights (any task): each label cell's cross-entropy weight is multiplied by the
  weight of its label token (`class_weight_table`). It combines with the other weights of
  `losses.segment_loss` by multiplication: a cell weighs
      [label != ignore] * (label_change_weight if label != input else 1) * w[label]
  and each sequence's loss is the weighted mean (sum w * nll / sum w) of its cells' nll,
  label smoothing included (smoothing is applied to a cell's nll, then the cell weighted).
  With no other weights this is torch's `F.cross_entropy(weight=w)` per sequence.
- sparsity: mean over the city cells of p_i, the predicted probability of the route token.
- connectivity surrogate: with q_i = p_i, and q_i = 1 on the start and end cells of the
  input, and s_i = sum of q_j over the cells j one legal move from i (4 neighbours, plus the
  diagonal ones when i and j are both avenue cells of the input, as routing's moves are):
      mean_i q_i * relu(k_i - s_i),  k_i = 1 at the start and end, 2 elsewhere.
  A cell on a route has two route neighbours and an endpoint one, so a connected route
  predicted with certainty costs exactly 0; route mass with missing neighbours (gaps, dead
  ends, stray cells, an endpoint nothing leads to) costs up to 2 per cell. It does not
  punish extra neighbours (blobs, branches): that is the sparsity term's and the CE's job.
- mass constraint: an example whose route mass (sum of p_i over the city) is above
  max_route_mass x its label's route-cell count (at least 1) has its cross-entropy dropped
  for that step; in its place it pays the excess mass, relu(mass - limit) / city cells,
  whose gradient only lowers route probabilities. Dropping the CE alone left a trap,
  measured: with the connectivity term on, a model that marked every cell had every
  example blocked and a connectivity cost of 0, so its loss was ~0 and it never left
  (0% exact, path_ratio 1). `blocked_fraction` logs the share of blocked examples.
The header row of a routing grid is never a city cell: it is left out of all three.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ponder.errors import UserError
from ponder.objectives.token_loss import stablemax_log_probs
from ponder.tasks.base import RouteLayout

ORTHOGONAL = ((-1, 0), (1, 0), (0, -1), (0, 1))
DIAGONAL = ((-1, -1), (-1, 1), (1, -1), (1, 1))


# ----------------------------------------------------------------------------- the terms


def route_probs(logits: torch.Tensor, token: int, kind: str) -> torch.Tensor:
    """logits (B, L, V) -> (B, L) fp32 probability of `token`, by the loss's own softmax
    ("softmax" or "stablemax")."""
    if kind == "stablemax":
        logp = stablemax_log_probs(logits)
    else:
        logp = F.log_softmax(logits.float(), dim=-1)
    return logp[..., token].exp()


def city_cells(x: torch.Tensor, grid_shape: tuple[int, int], header_rows: int) -> torch.Tensor:
    """(B, L) flat grid values -> (B, H - header_rows, W), the city part of the grid."""
    return x.reshape(x.shape[0], *grid_shape)[:, header_rows:]


def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """(B, H, W) -> (B, H, W) with out[:, r, c] = x[:, r + dy, c + dx], 0 off the grid."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1))  # (B, H + 2, W + 2)
    return padded[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def neighbour_mass(q: torch.Tensor, avenue: torch.Tensor) -> torch.Tensor:
    """q (B, H, W) route mass, avenue (B, H, W) bool -> (B, H, W): sum of q over the cells
    one legal move away (4 neighbours; diagonal ones when both cells are avenues)."""
    total = sum(shifted(q, dy, dx) for dy, dx in ORTHOGONAL)
    av = avenue.to(q.dtype)
    diagonal = sum(shifted(q * av, dy, dx) for dy, dx in DIAGONAL)  # q_j * [j avenue]
    return total + diagonal * av  # ... * [i avenue]


def connectivity_penalty(
    p: torch.Tensor, tokens: torch.Tensor, layout: RouteLayout
) -> torch.Tensor:
    """p (B, H, W) route probabilities, tokens (B, H, W) input tokens of the city -> scalar
    mean of q_i * relu(k_i - s_i) (module docstring); 0 for a certain, connected route."""
    end = torch.isin(tokens, tokens.new_tensor(layout.endpoints))  # (B, H, W) bool
    avenue = torch.isin(tokens, tokens.new_tensor(layout.avenues))  # (B, H, W) bool
    q = torch.where(end, 1.0, p)  # (B, H, W)
    need = torch.where(end, 1.0, 2.0)  # (B, H, W): k_i
    return (q * F.relu(need - neighbour_mass(q, avenue))).mean()


def excess_mass(p: torch.Tensor, labels: torch.Tensor, route: int, max_mass: float) -> torch.Tensor:
    """p (B, H, W) route probabilities, labels (B, H, W) -> (B,) route mass above max_mass x
    the label's route-cell count (at least 1, so a route of no cells, S next to E, still
    allows max_mass), per city cell; 0 for an example within the limit."""
    mass = p.sum((1, 2))  # (B,)
    count = (labels == route).sum((1, 2)).clamp(min=1)  # (B,)
    return F.relu(mass - max_mass * count) / (p.shape[1] * p.shape[2])


@dataclass(frozen=True)
class RouteAids:
    """The route terms of one run (weights from grid.*), applied to one segment."""

    layout: RouteLayout
    grid_shape: tuple[int, int]
    sparsity_weight: float = 0.0
    connectivity_weight: float = 0.0
    max_mass: float | None = None

    def apply(
        self,
        logits: torch.Tensor,
        batch: dict[str, torch.Tensor],
        per_seq: torch.Tensor,
        kind: str,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """per_seq (B,) cross-entropy of each example -> (CE mean over the batch with each
        over-mass example's CE replaced by its excess mass, plus the weighted penalties;
        parts to log)."""
        rows = self.layout.header_rows
        p = city_cells(route_probs(logits, self.layout.route, kind), self.grid_shape, rows)
        sparsity = p.mean()
        parts = {"route_prob": sparsity.detach()}  # mean route probability of a city cell
        if self.max_mass is not None:
            labels = city_cells(batch["labels"], self.grid_shape, rows)
            excess = excess_mass(p, labels, self.layout.route, self.max_mass)  # (B,)
            blocked = excess.detach() > 0
            per_seq = torch.where(blocked, excess, per_seq)  # CE replaced, not just dropped
            parts["blocked_fraction"] = blocked.float().mean()
        loss = per_seq.mean()  # over all B rows: a kept row's gradient is as without blocking
        if self.sparsity_weight > 0:
            loss = loss + self.sparsity_weight * sparsity
        if self.connectivity_weight > 0:
            tokens = city_cells(batch["inputs"], self.grid_shape, rows)
            connect = connectivity_penalty(p, tokens, self.layout)
            parts["connectivity_loss"] = connect.detach()
            loss = loss + self.connectivity_weight * connect
        return loss, parts


# ----------------------------------------------------------------------------- from config


def enabled_route_keys(grid) -> list[str]:
    """The grid.* keys (a GridConfig) that turn on a route term."""
    on = {
        "route_sparsity_weight": grid.route_sparsity_weight > 0,
        "connectivity_weight": grid.connectivity_weight > 0,
        "max_route_mass": grid.max_route_mass is not None,
    }
    return [f"grid.{key}" for key, value in on.items() if value]


def route_aids_from_config(
    grid, task, grid_shape: tuple[int, int], vocab_size: int
) -> RouteAids | None:
    """The run's route terms from its grid.* section, or None when none is on. UserError
    for a task without a route layout, or a grid.route_token outside the vocabulary."""
    keys = enabled_route_keys(grid)
    if not keys:
        return None
    layout = getattr(task, "route_layout", None)
    if layout is None:
        raise UserError(
            f"{keys[0]} needs a task whose answers mark a route (maze, routing); "
            f"this dataset's task is {task.name}"
        )
    if grid.route_token is not None:
        _check_token("grid.route_token", grid.route_token, vocab_size)
        layout = replace(layout, route=grid.route_token)
    return RouteAids(
        layout,
        grid_shape,
        sparsity_weight=grid.route_sparsity_weight,
        connectivity_weight=grid.connectivity_weight,
        max_mass=grid.max_route_mass,
    )


def class_weight_table(weights: dict[int, float], vocab_size: int) -> torch.Tensor | None:
    """grid.class_weights {token: weight} -> (V,) fp32 weights, 1 for unnamed tokens; None
    when empty (the plain loss). UserError for a token outside the vocabulary."""
    if not weights:
        return None
    table = torch.ones(vocab_size)
    for token, weight in weights.items():
        _check_token("grid.class_weights", token, vocab_size)
        table[token] = weight
    return table


def _check_token(key: str, token: int, vocab_size: int) -> None:
    if not 0 <= token < vocab_size:
        raise UserError(
            f"{key}: token id {token} is outside the dataset's vocabulary (0..{vocab_size - 1})"
        )
