"""PoH (pointer-over-heads): a block stack refined R times, whose attention heads are mixed
per token by routing weights from a two-speed controller.

Per refinement r = 1..R, with x the embedded input and h the current state (B, L, D):

    f <- GRU_fast(h, f)                      every refinement
    s <- GRU_slow(f, s)                      every `controller_T` refinements
    w = route(softmax(W [f; s] / max(tau, tau_floor)))   (B, L, H), optional top-k
    h <- stack(h + x, head_weights=w)        heads scaled by H * w (uniform w: plain attention)

The routing entropy of each refinement, -sum_h w log w averaged over tokens, is returned in
`outputs.stats["route_entropy"]` (R,) and logged; with `route_entropy_weight` its mean,
weighted, is the model's auxiliary loss `route_entropy_loss`. One segment, no
carry between segments (like the direct transformer): the recursion is internal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from ponder.models.assembly import build_io
from ponder.models.base import DataSpec, ModelOutputs, TrunkConfig
from ponder.models.feedforward import Linear


class PoHConfig(TrunkConfig):
    """Used by the PoH model (ponder.models.poh): a block stack refined R times, its
    attention heads mixed per token by a two-speed controller."""

    name: Literal["poh"] = "poh"
    """The model: ponder.models picks the class by this name (a model section must give it)."""
    num_layers: int = Field(2, gt=0)
    """Blocks in the refined stack."""
    R: int = Field(4, gt=0)
    """Refinements of the stack."""
    controller_T: int = Field(2, gt=0)
    """The slow controller updates every T refinements."""
    controller_size: int = Field(32, gt=0)
    """Hidden size of each GRU cell."""
    route_temperature: float = Field(1.0, gt=0)
    """Initial value of the learned routing temperature."""
    route_temperature_floor: float = Field(0.1, gt=0)
    """The temperature never goes below this, so routing never turns one-hot."""
    route_topk: int = Field(0, ge=0)
    """0: dense routing; k: keep the k largest, renormalised."""
    route_entropy_weight: float = Field(0.0, ge=0)
    """Adds weight x mean routing entropy to the loss (positive: sharper routing)."""
    route_entropy_anneal: bool = False
    """Anneal route_entropy_weight linearly to 0 over the run (the engine reports its
    progress)."""

    @model_validator(mode="after")
    def _attention_only(self) -> PoHConfig:
        if self.mixer != "attention":
            raise ValueError("PoH routes attention heads: it needs mixer 'attention'")
        if self.route_topk > self.num_heads:
            raise ValueError("route_topk must be at most num_heads")
        return self


@dataclass
class EmptyCarry:
    """PoH keeps no state between segments."""


class HeadRouter(nn.Module):
    """The two-speed controller: per-token fast and slow GRU cells and a routing layer."""

    def __init__(self, config: PoHConfig):
        super().__init__()
        c = config.controller_size
        self.config = config
        self.fast = nn.GRUCell(config.hidden_size, c)
        self.slow = nn.GRUCell(c, c)
        self.route = Linear(2 * c, config.num_heads, bias=True)
        # Learned routing temperature, clamped at the floor so routing never turns one-hot.
        start = torch.tensor(float(config.route_temperature)).log()
        self.log_temperature = nn.Parameter(start)

    def init_state(self, tokens: int, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(tokens, self.config.controller_size, device=device, dtype=dtype)
        return zeros, zeros.clone()

    def forward(self, h: torch.Tensor, fast, slow, refinement: int):
        """h (B, L, D) -> head weights (B, L, H) and the new (fast, slow) states (B*L, C)."""
        b, length, d = h.shape
        fast = self.fast(h.reshape(b * length, d).float(), fast)
        if refinement % self.config.controller_T == 0:
            slow = self.slow(fast, slow)
        logits = self.route(torch.cat([fast, slow], dim=-1)).view(b, length, -1)
        return route_weights(logits, self.temperature(), self.config.route_topk), fast, slow

    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp().clamp(min=self.config.route_temperature_floor)


def route_weights(logits: torch.Tensor, temperature, topk: int) -> torch.Tensor:
    """(..., H) routing logits -> weights summing to 1; with topk > 0 only the k largest
    heads keep weight (the softmax is taken over them alone)."""
    scaled = logits / temperature
    if topk > 0:
        kth = scaled.topk(topk, dim=-1).values[..., -1:]  # (..., 1)
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    return torch.softmax(scaled, dim=-1)


def routing_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of -sum_h w log w (0 log 0 = 0): weights (B, L, H) -> scalar."""
    logs = torch.where(weights > 0, weights.log(), torch.zeros_like(weights))
    return -(weights * logs).sum(-1).mean()


class PoH(nn.Module):
    def __init__(self, config: PoHConfig, spec: DataSpec):
        super().__init__()
        self.config = config
        self.embed, self.trunk, self.lm_head, self.q_head = build_io(config, spec)
        self.router = HeadRouter(config)
        self.progress = 0.0  # share of training done, set by the engine (entropy annealing)

    def set_progress(self, fraction: float) -> None:
        self.progress = fraction

    def init_carry(
        self, batch_size: int, device: torch.device | str, seq_len: int | None = None
    ) -> EmptyCarry:
        return EmptyCarry()

    def forward(
        self, carry: EmptyCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[EmptyCarry, ModelOutputs]:
        x = self.embed(batch)  # (B, P + L, D)
        b, length, _ = x.shape
        fast, slow = self.router.init_state(b * length, x.device, torch.float32)
        h, entropies = x, []
        for r in range(self.config.R):
            weights, fast, slow = self.router(h, fast, slow, r)  # weights (B, P + L, H)
            entropies.append(routing_entropy(weights))
            h = self.trunk(h + x, head_weights=weights)
        q_halt, q_continue = self.q_head(h)
        logits = self.lm_head(h[:, self.config.puzzle_emb_len :])
        entropy = torch.stack(entropies)  # (R,)
        stats = {**self.embed.last_stats, "route_entropy": entropy}
        aux = dict(self.embed.last_aux)
        if self.config.route_entropy_weight > 0:
            aux["route_entropy_loss"] = self._entropy_weight() * entropy.mean()
        outputs = ModelOutputs(logits, q_halt, q_continue, stats=stats, aux_losses=aux)
        return carry, outputs

    def _entropy_weight(self) -> float:
        weight = self.config.route_entropy_weight
        if self.config.route_entropy_anneal:
            weight *= max(0.0, 1.0 - self.progress)
        return weight
