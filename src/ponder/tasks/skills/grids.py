"""Deterministic grid operations the skills' oracles and input draws share: copies, shifts,
neighbourhoods, 4-connected reach and objects, cropping, and a grid's byte key.

Grids are uint8 arrays (h, w) of colours 0..9; 0 is black, the background.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

COLOURS = tuple(range(1, 10))  # non-black
STEPS_4 = ((1, 0), (-1, 0), (0, 1), (0, -1))
STEPS_8 = (*STEPS_4, (1, 1), (1, -1), (-1, 1), (-1, -1))


def u8(grid: np.ndarray) -> np.ndarray:
    """A fresh C-ordered uint8 copy, so an output never shares memory with its input."""
    return np.array(grid, dtype=np.uint8, order="C")


def shifted(grid: np.ndarray, dy: int, dx: int, fill: Any) -> np.ndarray:
    """At (r, c): grid[r + dy, c + dx], or `fill` beyond the edge."""
    h, w = grid.shape
    padded = np.pad(grid, 1, constant_values=fill)
    return padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def any_neighbour(mask: np.ndarray, steps: Sequence[tuple[int, int]]) -> np.ndarray:
    """Cells with a True neighbour at one of `steps`."""
    out = np.zeros(mask.shape, dtype=bool)
    for dy, dx in steps:
        out |= shifted(mask, dy, dx, False)
    return out


def reach(allowed: np.ndarray, starts: Sequence[tuple[int, int]]) -> np.ndarray:
    """Cells of `allowed` 4-connected to a start (a BFS; starts outside `allowed` ignored)."""
    h, w = allowed.shape
    reached = np.zeros((h, w), dtype=bool)
    queue: deque[tuple[int, int]] = deque()
    for r, c in starts:
        if allowed[r, c] and not reached[r, c]:
            reached[r, c] = True
            queue.append((r, c))
    while queue:
        r, c = queue.popleft()
        for dy, dx in STEPS_4:
            y, x = r + dy, c + dx
            if 0 <= y < h and 0 <= x < w and allowed[y, x] and not reached[y, x]:
                reached[y, x] = True
                queue.append((y, x))
    return reached


def objects(grid: np.ndarray) -> list[np.ndarray]:
    """Masks of the 4-connected groups of non-black cells (colours ignored), in reading
    order of their first cell."""
    left = grid != 0
    found = []
    while left.any():
        r, c = np.argwhere(left)[0]
        mask = reach(left, [(int(r), int(c))])
        found.append(mask)
        left &= ~mask
    return found


def crop_to_content(grid: np.ndarray) -> np.ndarray:
    """The bounding box of the non-zero cells (the grid itself when it has none)."""
    rows = np.flatnonzero(grid.any(axis=1))
    cols = np.flatnonzero(grid.any(axis=0))
    if rows.size == 0:
        return grid.copy()
    return grid[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy()


def grid_key(grid: np.ndarray | None) -> bytes:
    """Shape and cells as bytes: equal keys, equal grids (None, a hidden grid: "?;")."""
    if grid is None:
        return b"?;"
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return f"{grid.shape[0]}x{grid.shape[1]}:".encode() + grid.tobytes()
