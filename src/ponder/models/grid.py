"""The 2D grid a flat token sequence lies on: its shape read from the sequence length,
and the local-attention mask of a cell's grid neighbourhood.

Cells are in reading order: cell i is at row i // W, column i % W. P prefix tokens
(puzzle embedding, demonstration latent) come before the L = H * W cells.
"""

from __future__ import annotations

import math

import torch


def grid_of(cells: int, template: tuple[int, int]) -> tuple[int, int]:
    """The (H, W) of a grid of `cells` cells shaped like `template`, the grid a model was
    built for: square stays square, a routing city keeps its one header row (H - W fixed).
    This is how a size-agnostic model reads the grid shape from the batch's length."""
    if cells == template[0] * template[1]:
        return template
    extra = template[0] - template[1]  # H - W
    cols = (math.isqrt(extra * extra + 4 * cells) - extra) // 2
    if cols < 1 or cols * (cols + extra) != cells:
        raise ValueError(f"{cells} cells make no grid shaped like {template[0]}x{template[1]}")
    return cols + extra, cols


def require_grid(grid_shape: tuple[int, int] | None) -> tuple[int, int]:
    """`grid_shape`, or ValueError when the dataset has none (a layer that needs one)."""
    if grid_shape is None:
        raise ValueError("2D positions, local attention and grid convolutions need a grid")
    return grid_shape


def local_window_mask(grid_shape: tuple[int, int], radius: int, prefix: int = 0) -> torch.Tensor:
    """Boolean (P+L, P+L) mask letting each cell attend to cells within Chebyshev distance
    `radius` on the 2D grid: a locality prior (mazes are solved by local propagation).
    The P prefix (puzzle-embedding) tokens see and are seen by every position."""
    rows, cols = grid_shape
    r = torch.arange(rows * cols) // cols
    c = torch.arange(rows * cols) % cols
    near_rows = (r[:, None] - r[None, :]).abs() <= radius
    near_cols = (c[:, None] - c[None, :]).abs() <= radius
    grid = near_rows & near_cols  # (L, L)
    mask = torch.ones(prefix + rows * cols, prefix + rows * cols, dtype=torch.bool)
    mask[prefix:, prefix:] = grid
    return mask
