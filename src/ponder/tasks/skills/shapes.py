"""Skills about objects (4-connected groups of coloured cells): filling closed rings,
counting, cropping to the content, recolouring by size, removing lone cells, outlining."""

from __future__ import annotations

import numpy as np

from ponder.tasks.skills.draws import blob, choose, paint, pick_colours, place, size
from ponder.tasks.skills.grids import (
    COLOURS,
    STEPS_8,
    any_neighbour,
    crop_to_content,
    objects,
    reach,
    shifted,
    u8,
)
from ponder.tasks.skills.skill import Skill


class FloodFill(Skill):
    name = "flood_fill"
    min_size = 4
    choices = {"fill": COLOURS}

    def sample_params(self, rng):
        return {"fill": pick_colours(rng, 1)[0]}

    def sample_input(self, rng, params, max_size):
        h, w = size(rng, 4, max_size), size(rng, 4, max_size)
        rings, closed = [], []
        for i in range(size(rng, 1, 3)):
            colour = pick_colours(rng, 1, exclude=[params["fill"]])[0]
            ring = _ring(size(rng, 3, min(h, 6)), size(rng, 3, min(w, 6)), colour)
            is_closed = i == 0 or rng.random() < 0.6  # an open ring shows what is not filled
            if not is_closed:
                _break_ring(rng, ring)
            rings.append(ring)
            closed.append(is_closed)
        grid, corners = place(rng, (h, w), rings)
        # Filled cells must be exactly the placed closed rings' insides (rings could in
        # principle enclose background between them; such draws are dropped).
        inside = np.zeros((h, w), dtype=bool)
        for ring, corner, is_closed in zip(rings, corners, closed, strict=True):
            if is_closed and corner is not None:
                r, c = corner
                inside[r + 1 : r + ring.shape[0] - 1, c + 1 : c + ring.shape[1] - 1] = True
        filled = self.apply(grid, params) != grid
        return grid if np.array_equal(filled, inside) else None

    def apply(self, grid, params):
        h, w = grid.shape
        background = grid == 0
        border = [(r, c) for r in range(h) for c in (0, w - 1)]
        border += [(r, c) for r in (0, h - 1) for c in range(w)]
        enclosed = background & ~reach(background, border)
        return np.where(enclosed, params["fill"], grid).astype(np.uint8)


def _ring(h: int, w: int, colour: int) -> np.ndarray:
    """A hollow h x w rectangle outline."""
    ring = np.full((h, w), colour, dtype=np.uint8)
    ring[1:-1, 1:-1] = 0
    return ring


def _break_ring(rng: np.random.Generator, ring: np.ndarray) -> None:
    """Open a gap in a side (never a corner: a missing corner keeps the inside closed)."""
    h, w = ring.shape
    sides = [(0, c) for c in range(1, w - 1)] + [(h - 1, c) for c in range(1, w - 1)]
    sides += [(r, 0) for r in range(1, h - 1)] + [(r, w - 1) for r in range(1, h - 1)]
    ring[choose(rng, sides)] = 0


class CountObjects(Skill):
    name = "count_objects"
    choices = {"colour": COLOURS}

    def sample_params(self, rng):
        return {"colour": pick_colours(rng, 1)[0]}

    def sample_input(self, rng, params, max_size):
        h, w = size(rng, 3, max_size), size(rng, 3, max_size)
        count = size(rng, 1, min(6, max_size))
        stamps = [
            paint(blob(rng, size(rng, 1, 4), 3, 3), pick_colours(rng, 1)[0]) for _ in range(count)
        ]
        return place(rng, (h, w), stamps)[0]  # apart even diagonally: a clear count

    def apply(self, grid, params):
        return np.full((1, len(objects(grid))), params["colour"], dtype=np.uint8)


class Crop(Skill):
    name = "crop"

    def sample_input(self, rng, params, max_size):
        h, w = size(rng, 3, max_size), size(rng, 3, max_size)
        # The box is smaller than the grid, so the crop always removes something.
        shape = blob(rng, size(rng, 3, 10), min(5, h - 1), min(5, w - 1))
        colours = pick_colours(rng, size(rng, 1, 2))
        stamp = np.where(shape, rng.choice(colours, size=shape.shape), 0).astype(np.uint8)
        return place(rng, (h, w), [stamp])[0]

    def apply(self, grid, params):
        return u8(crop_to_content(grid))


class RecolourBySize(Skill):
    name = "recolour_by_size"
    min_size = 4
    choices = {"largest": COLOURS, "other": COLOURS}

    def sample_params(self, rng):
        largest, other = pick_colours(rng, 2)
        return {"largest": largest, "other": other}

    def sample_input(self, rng, params, max_size):
        h, w = size(rng, 4, max_size), size(rng, 4, max_size)
        colour = pick_colours(rng, 1, exclude=[params["largest"], params["other"]])[0]
        sizes = rng.choice(np.arange(1, 9), size=size(rng, 2, 4), replace=False)  # no ties
        stamps = [paint(blob(rng, int(s), 4, 4), colour) for s in sizes]
        grid, corners = place(rng, (h, w), stamps)
        return grid if sum(c is not None for c in corners) >= 2 else None

    def apply(self, grid, params):
        found = objects(grid)
        biggest = max((int(m.sum()) for m in found), default=0)
        out = np.zeros_like(grid)
        for mask in found:
            out[mask] = params["largest"] if mask.sum() == biggest else params["other"]
        return out


class Denoise(Skill):
    name = "denoise"
    min_size = 4

    def sample_input(self, rng, params, max_size):
        h, w = size(rng, 4, max_size), size(rng, 4, max_size)
        shapes = [blob(rng, size(rng, 3, 8), 4, 4) for _ in range(size(rng, 1, 2))]
        specks = [np.ones((1, 1), dtype=bool) for _ in range(size(rng, 1, 4))]
        stamps = [paint(m, pick_colours(rng, 1)[0]) for m in shapes + specks]
        grid, corners = place(rng, (h, w), stamps)  # objects first: they need the room
        # Both kinds must show (the generic check drops a grid with no noise left).
        return grid if corners[0] is not None else None

    def apply(self, grid, params):
        coloured = grid != 0
        lonely = coloured & ~any_neighbour(coloured, STEPS_8)
        return np.where(lonely, 0, grid).astype(np.uint8)


class Outline(Skill):
    name = "outline"

    def sample_input(self, rng, params, max_size):
        h, w = size(rng, 3, max_size), size(rng, 3, max_size)
        stamps = [
            np.full(
                (size(rng, 2, min(h, 5)), size(rng, 2, min(w, 5))),
                pick_colours(rng, 1)[0],
                dtype=np.uint8,
            )
            for _ in range(size(rng, 1, 3))
        ]
        return place(rng, (h, w), stamps)[0]

    def apply(self, grid, params):
        # Inside: all 8 neighbours exist and share the cell's colour. Cells on the grid's
        # edge stay, as a rectangle's border does.
        values = grid.astype(np.int16)
        inside = grid != 0
        for dy, dx in STEPS_8:
            inside &= shifted(values, dy, dx, -1) == values
        return np.where(inside, 0, grid).astype(np.uint8)
