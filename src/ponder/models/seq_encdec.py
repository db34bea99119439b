"""Encoder-decoder few-shot model (the standard baseline).

Encoder: a bidirectional stack over the flat sequence [demo 1 input, demo 1 output, ...,
demo K output, query input], each token embedded as token + role (demo input, demo output,
query input) + its cell's learned position (shared by all grids, so a decoder query can find
"the same cell" in every grid), with 1D RoPE over the flat sequence in self-attention and a
key-padding mask hiding unusable demo slots (demo_mask False).
Decoder: L learned output queries, one per cell, with self-attention (1D RoPE over the cells),
cross-attention to the encoder memory (hidden slots masked) and SwiGLU. The answer is NOT
generated autoregressively: the whole output canvas is predicted in one pass, one logit
vector per output slot, trained by plain cross-entropy. One segment, empty carry;
`labels` is never read.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ponder.models.base import DataSpec, FrozenConfig, ModelOutputs
from ponder.models.feedforward import Linear
from ponder.models.heads import QHead
from ponder.models.seq_layers import (
    DecoderBlock,
    Rotary,
    embedding_table,
    slot_key_mask,
    unit_sum,
)
from ponder.models.transformer import EmptyCarry
from ponder.models.trunk import Block


class SeqEncDecConfig(FrozenConfig):
    """Used by the encoder-decoder few-shot model (ponder.models.seq_encdec): the standard
    baseline."""

    name: Literal["seq_encdec"] = "seq_encdec"
    """The model: ponder.models picks the class by this name (a model section must give it)."""
    q_continue: Literal[False] = False
    """Always false: these models answer in one segment, so they have no Q-learning
    continue head (the engine reads this key of every model)."""
    demo_encoder: None = None
    """Always null: the demonstrations are part of the model's own input sequence."""
    hidden_size: int = Field(64, gt=0)
    """Width D of every token's state."""
    num_heads: int = Field(4, gt=0)
    """Attention heads per block; hidden_size / num_heads must be even (1D RoPE)."""
    encoder_layers: int = Field(2, gt=0)
    """Blocks of the bidirectional encoder over the demonstrations and the query input."""
    decoder_layers: int = Field(2, gt=0)
    """Blocks of the decoder over the output queries (self- and cross-attention)."""
    expansion: float = Field(4.0, gt=0)
    """SwiGLU inner = 2/3 * expansion * hidden, rounded up."""
    ffn_multiple_of: int = Field(16, gt=0)
    """The SwiGLU inner width is rounded up to a multiple of this."""
    halt_bias_init: float = -5.0
    """Initial bias of the halting head: negative, so early training does not halt at once."""


# Role embedding rows.
DEMO_IN, DEMO_OUT, QUERY_IN = range(3)


class SeqEncDec(nn.Module):
    def __init__(self, config: SeqEncDecConfig, spec: DataSpec):
        super().__init__()
        self.config = config
        d, heads = config.hidden_size, config.num_heads
        self.seq_len = spec.seq_len
        self.head_dim = d // heads
        self.tokens = embedding_table(spec.vocab_size, d)
        self.roles = embedding_table(3, d)
        self.cells = embedding_table(spec.seq_len, d)  # encoder: position of a cell in its grid
        self.queries = embedding_table(spec.seq_len, d)  # decoder: one query per output cell
        self.encoder = nn.ModuleList(
            Block(d, heads, config.expansion, config.ffn_multiple_of)
            for _ in range(config.encoder_layers)
        )
        self.decoder = nn.ModuleList(
            DecoderBlock(d, heads, config.expansion, config.ffn_multiple_of)
            for _ in range(config.decoder_layers)
        )
        self.lm_head = Linear(d, spec.vocab_size)
        self.q_head = QHead(d, config.halt_bias_init, pool="mean")

    def init_carry(
        self, batch_size: int, device: torch.device | str, seq_len: int | None = None
    ) -> EmptyCarry:
        return EmptyCarry()

    def _embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The encoder input (B, T, D), T = (2K + 1) * L, at unit scale."""
        demos = torch.stack([batch["demo_inputs"], batch["demo_labels"]], dim=2)  # (B, K, 2, L)
        roles, cells = self.roles.weight, self.cells.weight  # (3, D), (L, D)
        x_demo = unit_sum(self.tokens(demos), roles[DEMO_IN : DEMO_OUT + 1, None], cells)
        x_query = unit_sum(self.tokens(batch["inputs"]), roles[QUERY_IN], cells)  # (B, L, D)
        return torch.cat([x_demo.flatten(1, 3), x_query], dim=1)

    def _memory_mask(self, demo_mask: torch.Tensor) -> torch.Tensor:
        """(B, 1, 1, T): every token may see the usable demo slots and the query input."""
        demo_valid = slot_key_mask(demo_mask, 2 * self.seq_len)  # (B, 2KL)
        query = demo_mask.new_ones(demo_mask.shape[0], self.seq_len)
        return torch.cat([demo_valid, query], dim=1)[:, None, None, :]

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Memory (B, T, D) and its key mask (B, 1, 1, T)."""
        x = self._embed(batch)
        rotary = Rotary(torch.arange(x.shape[1]), self.head_dim, x.device)
        mask = self._memory_mask(batch["demo_mask"])
        for block in self.encoder:
            x = block(x, rotary, mask)
        return x, mask

    def forward(
        self, carry: EmptyCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[EmptyCarry, ModelOutputs]:
        memory, mask = self.encode(batch)
        b = memory.shape[0]
        x = unit_sum(self.queries.weight).expand(b, -1, -1)  # (B, L, D)
        rotary = Rotary(torch.arange(self.seq_len), self.head_dim, x.device)
        for block in self.decoder:
            x = block(x, memory, mask, rope_self=rotary)  # cross-attention without rotary
        q_halt, _ = self.q_head(x)
        return carry, ModelOutputs(logits=self.lm_head(x), q_halt=q_halt)
