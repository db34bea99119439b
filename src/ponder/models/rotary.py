"""Rotary positions (RoPE): 1D from the flat index, or 2D with half of each head's
channels turned by the row and half by the column.

Shapes: H heads, L sequence, Dh head width; angle tables are (L, Dh/2).
"""

from __future__ import annotations

import torch
from torch import nn

from ponder.models.grid import grid_of


def rope_angles(positions: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Rotation angles (L, dim/2) for integer positions (L,) over `dim` channels."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    return positions.float()[:, None] * inv_freq[None, :]


def rope_tables(head_dim: int, cells: int, grid_shape, prefix: int) -> torch.Tensor:
    """(P + L, Dh/2) rotation angles: 1D from the flat index, or 2D (half of the channels by
    row, half by column); the P prefix tokens unrotated (angle 0)."""
    if grid_shape is None:
        angles = rope_angles(torch.arange(cells), head_dim)  # (L, Dh/2)
    else:
        rows, cols = grid_shape
        assert rows * cols == cells, "grid shape must cover the sequence"
        idx, half = torch.arange(cells), head_dim // 2
        angles = torch.cat([rope_angles(idx // cols, half), rope_angles(idx % cols, half)], -1)
    return torch.cat([angles.new_zeros(prefix, angles.shape[1]), angles])


class RotaryEmbedding(nn.Module):
    """Rotary positions. 1D: angle from the flat index. 2D: half of each head's channels
    rotate with the row, half with the column, so a grid neighbour is the same relative
    rotation wherever it is (1D RoPE sees "below" as an offset of W, learned per width).
    2D tables for grids of other sizes than the one built for are made when first met."""

    def __init__(
        self, head_dim: int, seq_len: int, grid_shape: tuple[int, int] | None, prefix: int = 0
    ):
        super().__init__()
        self.head_dim, self.grid_shape, self.prefix = head_dim, grid_shape, prefix
        angles = rope_tables(head_dim, seq_len, grid_shape, prefix)  # (P + L, Dh/2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)
        self._other: dict[tuple[int, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin (length, Dh/2) for a sequence of `length` tokens, prefix included."""
        if length == self.cos.shape[0]:
            return self.cos, self.sin
        key = (length, device)
        if key not in self._other:
            cells = length - self.prefix
            shape = None if self.grid_shape is None else grid_of(cells, self.grid_shape)
            angles = rope_tables(self.head_dim, cells, shape, self.prefix).to(device)
            self._other[key] = (angles.cos(), angles.sin())
        return self._other[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate x (B, H, L, Dh) pairwise: channel i with channel i + Dh/2."""
        cos, sin = self.tables(x.shape[-2], x.device)  # (L, Dh/2)
        return rotate(x, cos, sin)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary positions: x (..., L, Dh), channel i turned with channel i + Dh/2 by the
    angles whose cos and sin are (L, Dh/2); in fp32, returned in x's dtype."""
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
    return out.to(x.dtype)
