"""Demonstration memory: a task's demonstration pairs as tokens the recursion attends to.

A pooled demonstration encoder (ponder.models.conditioning) squeezes a task into one vector
before the model sees it. Here nothing is squeezed: every cell of every usable
demonstration pair becomes a memory token, and the query's cells cross-attend to them in
every block of the recursion (ponder.models.attention.CrossAttention), so a rule such as
"colour 3 becomes colour 7" can be read off the cells where the demonstrations show it.

A memory token is the pair's input colour and output colour at one cell, embedded together
(so an aligned pair shows its cell-by-cell mapping in one token), with 2D rotary positions
of the cell, the same ones the query cells get: the attention sees the 2D offset between a
query cell and a demonstration cell. There is no pair index, so permuting the pairs
permutes the memory and leaves the attention unchanged; slots that are not usable (empty,
the example's own pair, demo_mask False) and cells that are padding in both grids are
masked out. One learned "nothing" token is always there, so a row can attend to nothing.

Shapes: B batch, K demonstration slots, L = C*C cells per grid, D model hidden, H heads,
Dh = D / H, P prefix tokens before the query's cells, M = 1 + K*L memory tokens.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ponder.models.attention import Memory
from ponder.models.base import DemoMemoryConfig
from ponder.models.feedforward import trunc_normal_
from ponder.models.rotary import RotaryEmbedding, rope_tables
from ponder.models.trunk import Block

PAD = 0  # the canvas padding token (ponder.tasks.fewshot.PAD)


class DemoMemory(nn.Module):
    """batch (demo_inputs, demo_labels (B, K, L), demo_mask (B, K)) -> Memory."""

    def __init__(
        self,
        config: DemoMemoryConfig,
        vocab_size: int,
        hidden: int,
        grid_shape: tuple[int, int],
        prefix: int,
    ):
        super().__init__()
        self.scale = math.sqrt(hidden)
        self.inputs = nn.Embedding(vocab_size, hidden)
        self.outputs = nn.Embedding(vocab_size, hidden)
        for table in (self.inputs, self.outputs):
            trunc_normal_(table.weight, std=1.0 / self.scale)  # x sqrt(D): unit scale
        self.nothing = nn.Parameter(trunc_normal_(torch.empty(1, 1, hidden), std=1.0))
        cells = grid_shape[0] * grid_shape[1]
        head_dim = hidden // config.num_heads
        self.pair_rotary = RotaryEmbedding(head_dim, cells, grid_shape)
        self.blocks = nn.ModuleList(
            Block(hidden, config.num_heads, 4.0, 16) for _ in range(config.num_layers)
        )
        query = rope_tables(head_dim, cells, grid_shape, prefix)  # (P + L, Dh/2), prefix 0
        cell = rope_tables(head_dim, cells, grid_shape, 0)  # (L, Dh/2)
        # cos and sin once, here, not in every forward: (P + L, Dh/2) and (L, Dh/2)
        for name, angles in (("query", query), ("cell", cell)):
            self.register_buffer(f"{name}_cos", angles.cos(), persistent=False)
            self.register_buffer(f"{name}_sin", angles.sin(), persistent=False)

    def forward(self, batch: dict[str, torch.Tensor]) -> Memory:
        inputs = _as_tokens(batch["demo_inputs"])  # (B, K, L)
        outputs = _as_tokens(batch["demo_labels"])
        usable = batch["demo_mask"]  # (B, K)
        b, k, _ = inputs.shape
        cells = self.inputs(inputs) + self.outputs(outputs)  # (B, K, L, D)
        cells = self.scale / math.sqrt(2) * cells  # two unit-scale embeddings: unit scale
        cells = self._contextualise(cells, usable)
        keep = usable.unsqueeze(-1) & ((inputs != PAD) | (outputs != PAD))  # (B, K, L)
        tokens = torch.cat([self.nothing.expand(b, 1, -1).to(cells.dtype), cells.flatten(1, 2)], 1)
        keep = torch.cat([keep.new_ones(b, 1), keep.flatten(1)], 1)  # (B, M)
        # The "nothing" token is unrotated (angle 0: cos 1, sin 0); then K copies of the cells.
        key_cos = torch.cat([torch.ones_like(self.cell_cos[:1]), self.cell_cos.repeat(k, 1)])
        key_sin = torch.cat([torch.zeros_like(self.cell_sin[:1]), self.cell_sin.repeat(k, 1)])
        return Memory(tokens, keep, self.query_cos, self.query_sin, key_cos, key_sin)

    def _contextualise(self, cells: torch.Tensor, usable: torch.Tensor) -> torch.Tensor:
        """Self-attention over each usable pair's cells (num_layers blocks); unusable pairs
        are never computed, so nothing about them can reach the memory."""
        if not self.blocks:
            return cells
        pairs = cells[usable]  # (N, L, D)
        for block in self.blocks:
            pairs = block(pairs, self.pair_rotary, None)
        out = torch.zeros_like(cells)
        out[usable] = pairs.to(out.dtype)
        return out


def _as_tokens(grids: torch.Tensor) -> torch.Tensor:
    """An ignore label (< 0) is padding here."""
    return grids.where(grids >= 0, PAD)
