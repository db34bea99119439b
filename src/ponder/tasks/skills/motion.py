"""Skills that move or extend cells along a direction: gravity, drawing lines from pixels,
and sorting bars by height."""

from __future__ import annotations

from typing import Any

import numpy as np

from ponder.tasks.skills.draws import pick_colours, random_grid, size
from ponder.tasks.skills.grids import u8
from ponder.tasks.skills.skill import Skill

# Quarter turns (np.rot90, counter-clockwise) that make each direction point down: the
# direction skills are written once, for "down", and turned.
_TURNS_TO_DOWN = {"down": 0, "left": 1, "up": 2, "right": 3}
_DIRECTIONS = tuple(_TURNS_TO_DOWN)


def _towards(grid: np.ndarray, direction: str, downwards: Any) -> np.ndarray:
    """`downwards` (a transform written for "down") applied in `direction`."""
    turns = _TURNS_TO_DOWN[direction]
    return u8(np.rot90(downwards(np.rot90(grid, turns)), -turns))


def _fall_down(grid: np.ndarray) -> np.ndarray:
    """Each column's coloured cells stacked on the bottom row, in their order."""
    out = np.zeros_like(grid)
    height = grid.shape[0]
    for c in range(grid.shape[1]):
        kept = grid[:, c][grid[:, c] != 0]
        out[height - len(kept) :, c] = kept
    return out


def _extend_down(grid: np.ndarray) -> np.ndarray:
    """Every cell takes the colour of the nearest coloured cell at or above it."""
    h, w = grid.shape
    marked_rows = np.where(grid != 0, np.arange(h)[:, None], -1)
    nearest = np.maximum.accumulate(marked_rows, axis=0)
    colours = grid[np.maximum(nearest, 0), np.arange(w)[None, :]]
    return np.where(nearest >= 0, colours, 0).astype(np.uint8)


class Gravity(Skill):
    name = "gravity"
    choices = {"direction": _DIRECTIONS}

    def sample_input(self, rng, params, max_size):
        return random_grid(rng, max_size, density=(0.15, 0.4))

    def apply(self, grid, params):
        return _towards(grid, params["direction"], _fall_down)


class DrawLine(Skill):
    name = "draw_line"
    choices = {"direction": _DIRECTIONS}

    def sample_input(self, rng, params, max_size):
        turns = _TURNS_TO_DOWN[params["direction"]]
        h, w = size(rng, 3, max_size), size(rng, 3, max_size)
        # Drawn pointing down, then turned: one pixel per column (no line runs into another
        # pixel) and none on the bottom row (every pixel draws something).
        down_h, down_w = (h, w) if turns % 2 == 0 else (w, h)
        down = np.zeros((down_h, down_w), dtype=np.uint8)
        for col in rng.choice(down_w, size=size(rng, 1, min(3, down_w)), replace=False):
            down[size(rng, 0, down_h - 2), col] = pick_colours(rng, 1)[0]
        return np.rot90(down, -turns)

    def apply(self, grid, params):
        return _towards(grid, params["direction"], _extend_down)


class SortBars(Skill):
    name = "sort_bars"
    choices = {"gap": (0, 1)}  # empty columns between neighbouring bars

    def sample_input(self, rng, params, max_size):
        h, w = size(rng, 3, max_size), size(rng, 3, max_size)
        step = 1 + params["gap"]
        count = size(rng, 2, min(5, h, (w + params["gap"]) // step))
        start = size(rng, 0, w - (count * step - params["gap"]))
        heights = rng.choice(np.arange(1, h + 1), size=count, replace=False)  # no ties
        grid = np.zeros((h, w), dtype=np.uint8)
        for i, height in enumerate(heights):
            grid[h - height :, start + i * step] = pick_colours(rng, 1)[0]
        return grid

    def apply(self, grid, params):
        bars = np.flatnonzero(grid[-1] != 0)  # a bar stands on the bottom row
        heights = (grid[:, bars] != 0).sum(axis=0)
        out = grid.copy()
        out[:, bars] = grid[:, bars[np.argsort(heights, kind="stable")]]
        return out
