"""Direct-prediction transformer: the baseline with the same layers and interface as the
recursive models, but one segment and no recursion. Its carry is empty."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ponder.models.base import DataSpec, FrozenConfig, ModelOutputs
from ponder.models.layers import Linear, TokenEmbedding, Trunk


class TransformerConfig(FrozenConfig):
    name: Literal["transformer"] = "transformer"
    hidden_size: int = Field(512, gt=0)
    num_heads: int = Field(8, gt=0)
    num_layers: int = Field(8, gt=0)
    expansion: float = Field(4.0, gt=0)
    ffn_multiple_of: int = Field(256, gt=0)
    pos_encoding: Literal["rope", "rope2d", "learned", "none"] = "rope"
    attn_window: int = Field(0, ge=0)
    q_pool: Literal["first", "mean"] = "first"
    halt_bias_init: float = -5.0


@dataclass
class EmptyCarry:
    """A direct model keeps no state between segments."""


class Transformer(nn.Module):
    def __init__(self, config: TransformerConfig, spec: DataSpec):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.embed = TokenEmbedding(
            spec.vocab_size, d, spec.seq_len, learned_positions=config.pos_encoding == "learned"
        )
        self.trunk = Trunk(
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
        # A halting head keeps the interface uniform; with one segment it only reports
        # the model's confidence that its answer is right.
        self.q_head = Linear(d, 1, bias=True)
        nn.init.zeros_(self.q_head.weight)
        nn.init.constant_(self.q_head.bias, config.halt_bias_init)

    def init_carry(self, batch_size: int, device: torch.device | str) -> EmptyCarry:
        return EmptyCarry()

    def forward(
        self, carry: EmptyCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[EmptyCarry, ModelOutputs]:
        h = self.trunk(self.embed(batch["inputs"]))  # (B, L, D)
        pooled = h[:, 0] if self.config.q_pool == "first" else h.mean(dim=1)
        q_halt = self.q_head(pooled).squeeze(-1).float()
        return carry, ModelOutputs(logits=self.lm_head(h), q_halt=q_halt)
