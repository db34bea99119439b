"""TRM: the Tiny Recursive Model (Jolicoeur-Martineau, arXiv 2510.04871).

One small network updates a latent z and an answer y. Per supervision segment:

    repeat T times:                 # the first T-1 without gradient
        repeat n times: z <- net(z + y + x)
        y <- net(y + z)

so the last recursion backpropagates through its n + 1 calls. The answer is read from y;
q_halt ("the answer is right now") from a pooled y. Paper symbols map to config keys here
and nowhere else: n -> `n`, T -> `T`; N_sup (segments) is the engine's `train.N_sup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ponder.models.base import DataSpec, FrozenConfig, ModelOutputs
from ponder.models.layers import Linear, TokenEmbedding, Trunk, trunc_normal_


class TRMConfig(FrozenConfig):
    name: Literal["trm"] = "trm"
    hidden_size: int = Field(512, gt=0)
    num_heads: int = Field(8, gt=0)
    num_layers: int = Field(2, gt=0)  # layers in the one shared net (paper: 2)
    expansion: float = Field(4.0, gt=0)
    ffn_multiple_of: int = Field(256, gt=0)
    pos_encoding: Literal["rope", "rope2d", "learned", "none"] = "rope"
    attn_window: int = Field(0, ge=0)  # 0: global attention; r: 2D window of radius r
    n: int = Field(6, gt=0)  # latent updates per recursion (paper n; 4 for Maze and ARC)
    T: int = Field(3, gt=0)  # recursions per segment, the first T-1 without gradient
    q_pool: Literal["first", "mean"] = "first"  # where q_halt reads y (papers: first)
    halt_bias_init: float = -5.0  # negative, so early training does not halt at once


@dataclass
class TRMCarry:
    z: torch.Tensor  # (B, L, D) latent reasoning state
    y: torch.Tensor  # (B, L, D) embedded current answer


class TRM(nn.Module):
    def __init__(self, config: TRMConfig, spec: DataSpec):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.embed = TokenEmbedding(
            spec.vocab_size, d, spec.seq_len, learned_positions=config.pos_encoding == "learned"
        )
        self.net = Trunk(
            hidden=d,
            num_heads=config.num_heads,
            num_layers=config.num_layers,
            expansion=config.expansion,
            multiple_of=config.ffn_multiple_of,
            seq_len=spec.seq_len,
            pos_encoding=config.pos_encoding,
            grid_shape=spec.grid_shape,
            attn_window=config.attn_window,
        )
        self.lm_head = Linear(d, spec.vocab_size)
        self.q_head = Linear(d, 1, bias=True)
        # HRM/TRM: q head starts at weight 0 and a negative bias, i.e. "do not halt yet".
        nn.init.zeros_(self.q_head.weight)
        nn.init.constant_(self.q_head.bias, config.halt_bias_init)
        # Fixed (not learned) initial states, one vector broadcast to every position.
        self.register_buffer("z_init", trunc_normal_(torch.empty(d), std=1.0))
        self.register_buffer("y_init", trunc_normal_(torch.empty(d), std=1.0))
        self.seq_len = spec.seq_len

    def init_carry(self, batch_size: int, device: torch.device | str) -> TRMCarry:
        shape = (batch_size, self.seq_len, self.config.hidden_size)
        z = self.z_init.to(device).expand(shape).clone()
        y = self.y_init.to(device).expand(shape).clone()
        return TRMCarry(z=z, y=y)

    def recursion(
        self, z: torch.Tensor, y: torch.Tensor, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One recursion: n latent updates with the input injected, then one answer update."""
        for _ in range(self.config.n):
            z = self.net(z + y + x)
        y = self.net(y + z)
        return z, y

    def forward(
        self, carry: TRMCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[TRMCarry, ModelOutputs]:
        x = self.embed(batch["inputs"])  # (B, L, D)
        z, y = carry.z.to(x.dtype), carry.y.to(x.dtype)
        with torch.no_grad():
            for _ in range(self.config.T - 1):
                z, y = self.recursion(z, y, x)
        z, y = self.recursion(z, y, x)
        logits = self.lm_head(y)  # (B, L, V)
        pooled = y[:, 0] if self.config.q_pool == "first" else y.mean(dim=1)  # (B, D)
        q_halt = self.q_head(pooled).squeeze(-1).float()  # (B,)
        return TRMCarry(z=z.detach(), y=y.detach()), ModelOutputs(logits=logits, q_halt=q_halt)
