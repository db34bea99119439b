"""Direct-prediction transformer: the baseline with the same layers and interface as the
recursive models, but one segment and no recursion. Its carry is empty."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ponder.models.assembly import build_io
from ponder.models.base import DataSpec, ModelOutputs, TrunkConfig


class TransformerConfig(TrunkConfig):
    """Used by the direct transformer (ponder.models.transformer): the baseline, one pass
    and no recursion."""

    name: Literal["transformer"] = "transformer"
    """The model: ponder.models picks the class by this name (a model section must give it)."""
    num_layers: int = Field(8, gt=0)
    """Blocks in the one stack, run once per segment."""


@dataclass
class EmptyCarry:
    """A direct model keeps no state between segments."""


class Transformer(nn.Module):
    def __init__(self, config: TransformerConfig, spec: DataSpec):
        super().__init__()
        self.config = config
        # The halting head keeps the interface uniform; with one segment it only reports
        # the model's confidence that its answer is right.
        self.embed, self.trunk, self.lm_head, self.q_head = build_io(config, spec)

    def init_carry(
        self, batch_size: int, device: torch.device | str, seq_len: int | None = None
    ) -> EmptyCarry:
        return EmptyCarry()

    def forward(
        self, carry: EmptyCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[EmptyCarry, ModelOutputs]:
        h = self.trunk(self.embed(batch))  # (B, P + L, D)
        q_halt, q_continue = self.q_head(h)
        logits = self.lm_head(
            h[:, self.config.puzzle_emb_len :]
        )  # (B, L, V), or (B, K, L, L) pointers
        stats = self.embed.last_stats or None  # the prefix's norms, an encoder's latent
        return carry, ModelOutputs(
            logits, q_halt, q_continue, stats=stats, aux_losses=dict(self.embed.last_aux)
        )
