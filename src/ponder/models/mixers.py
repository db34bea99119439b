"""Token mixers other than attention, with Attention's call signature (rotary, mask and
head weights unused): a 3x3 convolution over the grid, and TRM's MLP over the sequence.

Shapes: B batch, L sequence, D hidden; a grid of H x W cells has L = H * W.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ponder.models.feedforward import SwiGLU, trunc_normal_
from ponder.models.grid import grid_of


class GridConv(nn.Module):
    """Token mixer as a dense 3x3 convolution over the 2D grid: each cell mixes its 8
    neighbours' features. Same call signature as Attention (rotary and mask unused). Its
    weights do not depend on the grid's size: the shape comes from the sequence length."""

    def __init__(self, hidden: int, grid_shape: tuple[int, int]):
        super().__init__()
        self.grid_shape = grid_shape
        self.conv = nn.Conv2d(hidden, hidden, 3, padding=1, bias=False)
        trunc_normal_(self.conv.weight, std=1.0 / math.sqrt(9 * hidden))

    def forward(self, x: torch.Tensor, rotary=None, mask=None, head_weights=None) -> torch.Tensor:
        b, seq, d = x.shape
        rows, cols = grid_of(seq, self.grid_shape)
        grid = x.transpose(1, 2).reshape(b, d, rows, cols)  # (B, D, H, W)
        return self.conv(grid).reshape(b, d, seq).transpose(1, 2)  # (B, L, D)


class SequenceMLP(nn.Module):
    """Token mixer as TRM's MLP over the sequence axis (`mlp_t`, its best Sudoku model): a
    SwiGLU across the P + L positions, shared by every channel. Same call signature as
    Attention (rotary and mask unused). Its weights fix the sequence length."""

    def __init__(self, length: int, expansion: float, multiple_of: int):
        super().__init__()
        self.length = length
        self.mlp = SwiGLU(length, expansion, multiple_of)

    def forward(self, x: torch.Tensor, rotary=None, mask=None, head_weights=None) -> torch.Tensor:
        if x.shape[1] != self.length:
            got = x.shape[1]
            raise ValueError(f"the MLP mixer is built for {self.length} positions, got {got}")
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)  # (B, D, L) -> mix L -> (B, L, D)
