"""The "champion" few-shot model: encoder-decoder with 2D grid positions, a permutation-
invariant encoding of the context pairs, and a bridge from the context to the decoder.

(a) 2D grid positions: every attention uses 2D RoPE on (row, col) cells, and the output slots
    sit on the same cells as the query input, so "the same cell" is relative offset 0.
(b) Permutation invariance: each demonstration pair, its input grid stacked over its output
    grid (a (2C, C) grid of 2L tokens), is encoded on its own by one shared pair encoder with
    no pair-index embedding. Permuting the demo slots (and demo_mask) permutes the memory,
    which the decoder reads as a set, so the answer does not change.
(c) Bridge: the masked mean over usable pairs of each pair's mean state is projected and
    added to the query-input embedding and to every output query.
The query input has its own encoder; the decoder (L learned output queries, one per cell:
self-attention, cross-attention to the union of the usable pairs' tokens and the encoded query
input, SwiGLU) predicts the whole output canvas in one pass, NOT autoregressively: one logit
vector per output slot, trained by plain cross-entropy. One segment, empty carry; `labels` is
never read.
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
    grid_positions,
    masked_mean,
    slot_key_mask,
    unit_sum,
)
from ponder.models.transformer import EmptyCarry
from ponder.models.trunk import Block


class SeqChampionConfig(FrozenConfig):
    """Used by the "champion" few-shot model (ponder.models.seq_champion): encoder-decoder
    with 2D positions and a permutation-invariant encoding of the demonstration pairs."""

    name: Literal["seq_champion"] = "seq_champion"
    """The model: ponder.models picks the class by this name (a model section must give it)."""
    q_continue: Literal[False] = False
    """Always false: these models answer in one segment, so they have no Q-learning
    continue head (the engine reads this key of every model)."""
    demo_encoder: None = None
    """Always null: the demonstrations are part of the model's own input sequence."""
    hidden_size: int = Field(64, gt=0)
    """Width D of every token's state."""
    num_heads: int = Field(4, gt=0)
    """Attention heads per block; head dim must be a multiple of 4 (2D RoPE)."""
    encoder_layers: int = Field(2, gt=0)
    """Blocks in the pair encoder and in the query encoder each."""
    decoder_layers: int = Field(2, gt=0)
    """Blocks of the decoder over the output queries (self- and cross-attention)."""
    expansion: float = Field(4.0, gt=0)
    """SwiGLU inner = 2/3 * expansion * hidden, rounded up."""
    ffn_multiple_of: int = Field(16, gt=0)
    """The SwiGLU inner width is rounded up to a multiple of this."""
    halt_bias_init: float = -5.0
    """Initial bias of the halting head: negative, so early training does not halt at once."""


# Role embedding rows.
PAIR_IN, PAIR_OUT, QUERY_IN = range(3)


def _blocks(config: SeqChampionConfig, n: int, kind: type[nn.Module]) -> nn.ModuleList:
    c = config
    return nn.ModuleList(
        kind(c.hidden_size, c.num_heads, c.expansion, c.ffn_multiple_of) for _ in range(n)
    )


class SeqChampion(nn.Module):
    def __init__(self, config: SeqChampionConfig, spec: DataSpec):
        super().__init__()
        if spec.grid_shape is None:
            raise ValueError("seq_champion needs a grid (2D positions)")
        self.config = config
        d = config.hidden_size
        rows, cols = spec.grid_shape
        self.seq_len = spec.seq_len
        self.head_dim = d // config.num_heads
        # (row, col) of each token: a pair is a (2C, C) grid, the query and answer (C, C).
        self.pair_pos = grid_positions(2 * rows, cols)  # (2L, 2)
        self.grid_pos = grid_positions(rows, cols)  # (L, 2)
        self.tokens = embedding_table(spec.vocab_size, d)
        self.roles = embedding_table(3, d)
        self.queries = embedding_table(spec.seq_len, d)  # one output query per cell
        self.pair_encoder = _blocks(config, config.encoder_layers, Block)
        self.query_encoder = _blocks(config, config.encoder_layers, Block)
        self.bridge = Linear(d, d)
        self.decoder = _blocks(config, config.decoder_layers, DecoderBlock)
        self.lm_head = Linear(d, spec.vocab_size)
        self.q_head = QHead(d, config.halt_bias_init, pool="mean")

    def init_carry(
        self, batch_size: int, device: torch.device | str, seq_len: int | None = None
    ) -> EmptyCarry:
        return EmptyCarry()

    def encode_pairs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each pair on its own, shared weights, no pair index: (B, K, 2L, D)."""
        pairs = torch.cat([batch["demo_inputs"], batch["demo_labels"]], dim=-1)  # (B, K, 2L)
        b, k, n = pairs.shape
        roles = self.roles.weight[PAIR_IN : PAIR_OUT + 1].repeat_interleave(self.seq_len, 0)
        x = unit_sum(self.tokens(pairs), roles).flatten(0, 1)  # (B*K, 2L, D)
        rotary = Rotary(self.pair_pos, self.head_dim, x.device)
        for block in self.pair_encoder:
            x = block(x, rotary, None)
        return x.view(b, k, n, -1)

    def encode_query(self, inputs: torch.Tensor, bridge: torch.Tensor) -> torch.Tensor:
        """Query input (B, L) with the bridge (B, D) added to every token -> (B, L, D)."""
        x = unit_sum(self.tokens(inputs), self.roles.weight[QUERY_IN]) + bridge[:, None]
        rotary = Rotary(self.grid_pos, self.head_dim, x.device)
        for block in self.query_encoder:
            x = block(x, rotary, None)
        return x

    def _memory(
        self, pairs: torch.Tensor, query: torch.Tensor, demo_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, Rotary]:
        """The decoder's memory (B, 2KL + L, D), its key mask (B, 1, 1, 2KL + L) hiding
        unusable pairs, and its rotary table (every pair on the same (2C, C) cells)."""
        b, k, n, _ = pairs.shape
        memory = torch.cat([pairs.flatten(1, 2), query], dim=1)
        valid = torch.cat([slot_key_mask(demo_mask, n), demo_mask.new_ones(b, self.seq_len)], 1)
        positions = torch.cat([self.pair_pos.repeat(k, 1), self.grid_pos])  # (2KL + L, 2)
        return memory, valid[:, None, None, :], Rotary(positions, self.head_dim, query.device)

    def forward(
        self, carry: EmptyCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[EmptyCarry, ModelOutputs]:
        demo_mask = batch["demo_mask"]
        pairs = self.encode_pairs(batch)  # (B, K, 2L, D)
        context = masked_mean(pairs.mean(dim=2), demo_mask)  # (B, D), order-free
        bridge = self.bridge(context)  # (B, D)
        query = self.encode_query(batch["inputs"], bridge)  # (B, L, D)
        memory, mask, rope_k = self._memory(pairs, query, demo_mask)
        x = unit_sum(self.queries.weight) + bridge[:, None]  # (B, L, D)
        rope_self = Rotary(self.grid_pos, self.head_dim, x.device)
        for block in self.decoder:
            x = block(x, memory, mask, rope_self, rope_k)
        q_halt, _ = self.q_head(x)
        return carry, ModelOutputs(logits=self.lm_head(x), q_halt=q_halt)
