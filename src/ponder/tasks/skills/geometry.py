"""Skills that move the whole grid's cells: flip, rotate, translate, scale, tile, and
completing a mirror-symmetric grid."""

from __future__ import annotations

import numpy as np

from ponder.tasks.skills.draws import noise, pick_colours, random_grid, size
from ponder.tasks.skills.grids import u8
from ponder.tasks.skills.skill import Skill


class Flip(Skill):
    name = "flip"
    choices = {"axis": ("h", "v")}  # h: mirror left-right; v: top-bottom

    def sample_input(self, rng, params, max_size):
        return random_grid(rng, max_size)

    def apply(self, grid, params):
        return u8(grid[:, ::-1] if params["axis"] == "h" else grid[::-1, :])


class Rotate(Skill):
    name = "rotate"
    choices = {"degrees": (90, 180, 270)}  # counter-clockwise

    def sample_input(self, rng, params, max_size):
        return random_grid(rng, max_size)

    def apply(self, grid, params):
        return u8(np.rot90(grid, params["degrees"] // 90))


class Translate(Skill):
    name = "translate"
    choices = {"dy": tuple(range(-2, 3)), "dx": tuple(range(-2, 3))}

    def sample_params(self, rng):
        while True:
            dy, dx = size(rng, -2, 2), size(rng, -2, 2)
            if (dy, dx) != (0, 0):
                return {"dy": dy, "dx": dx}

    def candidates(self, pairs):
        return [p for p in super().candidates(pairs) if (p["dy"], p["dx"]) != (0, 0)]

    def sample_input(self, rng, params, max_size):
        return random_grid(rng, max_size, density=(0.15, 0.35), max_colours=2)

    def apply(self, grid, params):
        h, w = grid.shape
        dy, dx = params["dy"], params["dx"]
        out = np.zeros_like(grid)
        kept = grid[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        top, left = max(0, dy), max(0, dx)
        out[top : top + kept.shape[0], left : left + kept.shape[1]] = kept
        return out


class Scale(Skill):
    name = "scale"
    min_size = 6  # a 2x2 input scaled by 3
    choices = {"factor": (2, 3)}

    def sample_input(self, rng, params, max_size):
        most = max_size // params["factor"]
        shape = (size(rng, 2, most), size(rng, 2, most))
        colours = pick_colours(rng, size(rng, 1, 3))
        return noise(rng, shape, rng.uniform(0.4, 0.8), colours)

    def apply(self, grid, params):
        factor = params["factor"]
        return u8(np.repeat(np.repeat(grid, factor, axis=0), factor, axis=1))


class SymmetryComplete(Skill):
    name = "symmetry_complete"
    min_size = 4
    choices = {"erased_side": ("left", "right")}

    def sample_input(self, rng, params, max_size):
        h, half = size(rng, 3, max_size), size(rng, 2, max_size // 2)
        middle = int(2 * half < max_size and rng.random() < 0.5)  # odd widths have an axis column
        colours = pick_colours(rng, size(rng, 1, 3))
        density = rng.uniform(0.5, 0.8)
        left = noise(rng, (h, half), density, colours)
        grid = np.hstack([left, noise(rng, (h, middle), density, colours), left[:, ::-1]])
        side = grid[:, :half] if params["erased_side"] == "left" else grid[:, -half:]
        coloured = np.argwhere(side != 0)
        if len(coloured) == 0:
            return None
        erased = rng.choice(len(coloured), size(rng, 1, max(1, len(coloured) // 2)), replace=False)
        for r, c in coloured[erased]:
            side[r, c] = 0  # a view: erases in grid
        return grid

    def apply(self, grid, params):
        # Only one half lost cells, so each mirror pair keeps its colour on one side.
        return np.where(grid != 0, grid, grid[:, ::-1]).astype(np.uint8)


class Tile(Skill):
    name = "tile"
    min_size = 6  # a 2-wide input tiled 3 times
    choices = {"axis": ("horizontal", "vertical"), "times": (2, 3)}

    def sample_input(self, rng, params, max_size):
        along, across = size(rng, 2, max_size // params["times"]), size(rng, 2, max_size)
        shape = (across, along) if params["axis"] == "horizontal" else (along, across)
        colours = pick_colours(rng, size(rng, 1, 3))
        return noise(rng, shape, rng.uniform(0.4, 0.8), colours)

    def apply(self, grid, params):
        times = params["times"]
        return u8(np.tile(grid, (1, times) if params["axis"] == "horizontal" else (times, 1)))
