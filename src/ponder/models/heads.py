"""The model's outputs read from its final state: the answer head (tokens of the answer
grid, or next-cell pointers for a path objective) and the halting head.

Shapes: B batch, L sequence, D hidden, V vocabulary, K pointer horizons.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ponder.models.feedforward import Linear


class QHead(nn.Module):
    """Halting logits from a pooled state: q_halt ("the answer is right now") and, when
    asked for, q_continue (HRM's Q-learning). Weight 0 and a negative bias at init (HRM/TRM),
    i.e. "do not halt yet" until the model has learned when its answers are right."""

    def __init__(self, hidden: int, bias_init: float, pool: str, with_continue: bool = False):
        super().__init__()
        self.pool = pool
        self.with_continue = with_continue
        self.proj = Linear(hidden, 2 if with_continue else 1, bias=True)
        nn.init.zeros_(self.proj.weight)
        nn.init.constant_(self.proj.bias, bias_init)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """h (B, L, D) -> q_halt (B,), q_continue (B,) or None; in fp32."""
        pooled = h[:, 0] if self.pool == "first" else h.mean(dim=1)  # (B, D)
        q = self.proj(pooled).float()  # (B, 1 or 2)
        return q[:, 0], (q[:, 1] if self.with_continue else None)


class PointerHead(nn.Module):
    """The path-sequence answer: next-cell pointers for K horizons. h (B, L, D) ->
    (B, K, L, L), where row i scores every cell as the one k moves after cell i on the
    route (scaled dot products of a per-horizon query of cell i and a key of each cell)."""

    def __init__(self, hidden: int, horizons: int):
        super().__init__()
        self.horizons = horizons
        self.query = Linear(hidden, horizons * hidden)
        self.key = Linear(hidden, hidden)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, length, d = h.shape
        q = self.query(h).view(b, length, self.horizons, d).transpose(1, 2)  # (B, K, L, D)
        k = self.key(h).unsqueeze(1)  # (B, 1, L, D)
        return q @ k.transpose(-1, -2) / math.sqrt(d)  # (B, K, L, L)


def build_answer_head(config, spec) -> nn.Module:
    """Tokens of the answer grid (B, L, V), or next-cell pointers (B, K, L, L) when the
    objective asks for them (spec.pointer_horizons = K > 0)."""
    if spec.pointer_horizons > 0:
        return PointerHead(config.hidden_size, spec.pointer_horizons)
    return Linear(config.hidden_size, spec.vocab_size)
