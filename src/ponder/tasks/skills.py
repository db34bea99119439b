"""Synthetic few-shot grid tasks (ARC-style) drawn from 18 named elementary skills.

A skill is one grid transformation (flip the grid, fill enclosed holes, count the objects,
...) in three parts: `sample_params` draws what one task instance fixes for all its pairs
(which axis to flip, which colour to fill with), `sample_input` draws one input grid for
those parameters, and `apply` is the exact oracle, input -> output. An instance is a
FewShotTask whose demonstration and test pairs share one draw of parameters, so the
demonstrations pin down the rule that the test asks for.

Inputs are drawn so that every answer is unique and every pair teaches something: inputs
that would be ambiguous (ties, touching objects) are never built, and pairs whose output
is blank or equal to the input are drawn again. Fourteen skills are for training; four
(HELDOUT_SKILLS) are kept back to measure whether a model composes what it learned.

All randomness comes from the caller's np.random.Generator: one seed, one task.
"""

from __future__ import annotations

import hashlib
import itertools
import numbers
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.fewshot import ARC_CANVAS, FewShotTask, Pair

Params = dict[str, Any]

GREY = 5  # mask's separator colour
_COLOURS = tuple(range(1, 10))  # non-black
_STEPS_4 = ((1, 0), (-1, 0), (0, 1), (0, -1))
_STEPS_8 = (*_STEPS_4, (1, 1), (1, -1), (-1, 1), (-1, -1))
_DRAWS_PER_PAIR = 200  # most skills accept far more than 1 draw in 10; this only stops loops
_DRAWS_PER_TASK = 50  # generate_split's redraws of a duplicate instance


# ---------------------------------------------------------------------- random helpers


def _size(rng: np.random.Generator, low: int, high: int) -> int:
    """A whole number in [low, high]."""
    return int(rng.integers(low, high + 1))


def _choose(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _pick_colours(rng: np.random.Generator, count: int, exclude: Sequence[int] = ()) -> list[int]:
    """`count` distinct non-black colours, none of `exclude`."""
    pool = [c for c in _COLOURS if c not in exclude]
    return [int(c) for c in rng.choice(pool, size=count, replace=False)]


def _noise(
    rng: np.random.Generator, shape: tuple[int, int], density: float, colours: Sequence[int]
) -> np.ndarray:
    """Each cell coloured (uniformly from `colours`) with probability `density`, else black."""
    filled = rng.random(shape) < density
    return np.where(filled, rng.choice(colours, size=shape), 0).astype(np.uint8)


def _random_grid(
    rng: np.random.Generator,
    max_size: int,
    density: tuple[float, float] = (0.3, 0.7),
    max_colours: int = 3,
) -> np.ndarray:
    """A grid of 3..max_size a side, scattered with up to `max_colours` colours."""
    shape = (_size(rng, 3, max_size), _size(rng, 3, max_size))
    colours = _pick_colours(rng, _size(rng, 1, max_colours))
    return _noise(rng, shape, rng.uniform(*density), colours)


# ---------------------------------------------------------------------- grid helpers


def _u8(grid: np.ndarray) -> np.ndarray:
    """A fresh C-ordered uint8 copy, so an output never shares memory with its input."""
    return np.array(grid, dtype=np.uint8, order="C")


def _shifted(grid: np.ndarray, dy: int, dx: int, fill: Any) -> np.ndarray:
    """At (r, c): grid[r + dy, c + dx], or `fill` beyond the edge."""
    h, w = grid.shape
    padded = np.pad(grid, 1, constant_values=fill)
    return padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]


def _any_neighbour(mask: np.ndarray, steps: Sequence[tuple[int, int]]) -> np.ndarray:
    """Cells with a True neighbour at one of `steps`."""
    out = np.zeros(mask.shape, dtype=bool)
    for dy, dx in steps:
        out |= _shifted(mask, dy, dx, False)
    return out


def _reach(allowed: np.ndarray, starts: Sequence[tuple[int, int]]) -> np.ndarray:
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
        for dy, dx in _STEPS_4:
            y, x = r + dy, c + dx
            if 0 <= y < h and 0 <= x < w and allowed[y, x] and not reached[y, x]:
                reached[y, x] = True
                queue.append((y, x))
    return reached


def _objects(grid: np.ndarray) -> list[np.ndarray]:
    """Masks of the 4-connected groups of non-black cells (colours ignored), in reading
    order of their first cell."""
    left = grid != 0
    objects = []
    while left.any():
        r, c = np.argwhere(left)[0]
        mask = _reach(left, [(int(r), int(c))])
        objects.append(mask)
        left &= ~mask
    return objects


def _crop_to_content(grid: np.ndarray) -> np.ndarray:
    """The bounding box of the non-zero cells (the grid itself when it has none)."""
    rows = np.flatnonzero(grid.any(axis=1))
    cols = np.flatnonzero(grid.any(axis=0))
    if rows.size == 0:
        return grid.copy()
    return grid[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy()


def _blob(rng: np.random.Generator, cells: int, max_h: int, max_w: int) -> np.ndarray:
    """A random 4-connected shape of `cells` cells (fewer if the box is smaller) grown in a
    max_h x max_w box, cropped to its bounding box."""
    shape = {(_size(rng, 0, max_h - 1), _size(rng, 0, max_w - 1))}
    while len(shape) < min(cells, max_h * max_w):
        around = {(r + dy, c + dx) for r, c in shape for dy, dx in _STEPS_4}
        frontier = sorted((r, c) for r, c in around - shape if 0 <= r < max_h and 0 <= c < max_w)
        shape.add(_choose(rng, frontier))
    mask = np.zeros((max_h, max_w), dtype=bool)
    mask[tuple(np.array(sorted(shape)).T)] = True
    return _crop_to_content(mask)


def _paint(mask: np.ndarray, colour: int) -> np.ndarray:
    return np.where(mask, colour, 0).astype(np.uint8)


def _place(
    rng: np.random.Generator, shape: tuple[int, int], stamps: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[tuple[int, int] | None]]:
    """Stamp each colour grid (0 = unpainted), in order, at a random free spot, the stamps'
    bounding boxes at least one cell apart even diagonally, so each stays its own object
    and none nests in another. The grid and each stamp's top-left corner (None for a stamp
    that found no room and was left out: small grids hold fewer objects)."""
    canvas = np.zeros(shape, dtype=np.uint8)
    taken = np.zeros(shape, dtype=bool)
    corners: list[tuple[int, int] | None] = []
    for stamp in stamps:
        spot = _free_spot(rng, taken, stamp.shape)
        corners.append(spot)
        if spot is None:
            continue
        r, c = spot
        sh, sw = stamp.shape
        np.copyto(canvas[r : r + sh, c : c + sw], stamp, where=stamp != 0)
        taken[r : r + sh, c : c + sw] = True
    return canvas, corners


def _free_spot(
    rng: np.random.Generator, taken: np.ndarray, size: tuple[int, int]
) -> tuple[int, int] | None:
    """A uniformly drawn top-left corner where a box of `size` keeps clear of `taken`."""
    h, w = taken.shape
    sh, sw = size
    if sh > h or sw > w:
        return None
    blocked = taken | _any_neighbour(taken, _STEPS_8)
    # Blocked cells in every window at once, from a summed-area table.
    table = np.pad(blocked.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    inside = table[sh:, sw:] - table[:-sh, sw:] - table[sh:, :-sw] + table[:-sh, :-sw]
    free = np.argwhere(inside == 0)
    if len(free) == 0:
        return None
    r, c = free[int(rng.integers(len(free)))]
    return int(r), int(c)


# Quarter turns (np.rot90, counter-clockwise) that make each direction point down: the
# direction skills are written once, for "down", and turned.
_TURNS_TO_DOWN = {"down": 0, "left": 1, "up": 2, "right": 3}
_DIRECTIONS = tuple(_TURNS_TO_DOWN)


def _towards(grid: np.ndarray, direction: str, downwards: Any) -> np.ndarray:
    """`downwards` (a transform written for "down") applied in `direction`."""
    turns = _TURNS_TO_DOWN[direction]
    return _u8(np.rot90(downwards(np.rot90(grid, turns)), -turns))


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


# ---------------------------------------------------------------------- skills


class Skill:
    """One transformation: what an instance fixes, how its inputs are drawn, the oracle."""

    name = ""
    min_size = 3  # the smallest max_size at which its inputs and outputs fit
    # Every value each parameter can take, in the order the draws are made: the default
    # sample_params draws each uniformly, and the oracle of a task file tries them all.
    choices: dict[str, tuple[Any, ...]] = {}

    def sample_params(self, rng: np.random.Generator) -> Params:
        """What all pairs of one instance share (plain Python values)."""
        return {key: _choose(rng, options) for key, options in self.choices.items()}

    def candidates(self, pairs: Sequence[Pair]) -> list[Params]:
        """Every parameter setting that may have made the demonstration `pairs`: all of
        `choices` (a skill may instead read its parameters off the pairs)."""
        keys, combos = list(self.choices), itertools.product(*self.choices.values())
        return [dict(zip(keys, combo, strict=True)) for combo in combos]

    def accepts(self, grid: np.ndarray) -> bool:
        """Whether `apply` is defined on `grid` (a task file may hold any grid)."""
        return True

    def sample_input(
        self, rng: np.random.Generator, params: Params, max_size: int
    ) -> np.ndarray | None:
        """One input grid, or None when this draw failed (the caller draws again)."""
        raise NotImplementedError

    def apply(self, grid: np.ndarray, params: Params) -> np.ndarray:
        """The oracle: the output for `grid`."""
        raise NotImplementedError


class Flip(Skill):
    name = "flip"
    choices = {"axis": ("h", "v")}  # h: mirror left-right; v: top-bottom

    def sample_input(self, rng, params, max_size):
        return _random_grid(rng, max_size)

    def apply(self, grid, params):
        return _u8(grid[:, ::-1] if params["axis"] == "h" else grid[::-1, :])


class Rotate(Skill):
    name = "rotate"
    choices = {"degrees": (90, 180, 270)}  # counter-clockwise

    def sample_input(self, rng, params, max_size):
        return _random_grid(rng, max_size)

    def apply(self, grid, params):
        return _u8(np.rot90(grid, params["degrees"] // 90))


class ColourMap(Skill):
    name = "colour_map"

    def sample_params(self, rng):
        sources = _pick_colours(rng, _size(rng, 2, 4))
        while True:  # a derangement: every listed colour changes
            order = rng.permutation(len(sources))
            if all(int(j) != i for i, j in enumerate(order)):
                break
        return {"mapping": tuple((s, sources[int(j)]) for s, j in zip(sources, order, strict=True))}

    def candidates(self, pairs):
        # The mapping is read off the pairs, cell by cell: one colour, one image.
        image: dict[int, int] = {}
        for pair in pairs:
            if pair.input.shape != pair.output.shape:
                return []
            cells = np.unique(np.stack([pair.input.ravel(), pair.output.ravel()], axis=1), axis=0)
            for source, target in cells.tolist():
                if image.setdefault(source, target) != target:
                    return []
        moved = tuple((s, t) for s, t in sorted(image.items()) if s != t)
        # sample_params permutes 2..4 non-black colours among themselves
        sources, targets = {s for s, _ in moved}, {t for _, t in moved}
        permuted = sources == targets and 0 not in sources
        return [{"mapping": moved}] if moved and permuted else []

    def sample_input(self, rng, params, max_size):
        sources = [s for s, _ in params["mapping"]]
        shape = (_size(rng, 3, max_size), _size(rng, 3, max_size))
        grid = _noise(rng, shape, rng.uniform(0.6, 0.9), sources)
        # Every mapped colour shows in every input, so any demonstration reveals the mapping.
        return grid if set(sources) <= set(np.unique(grid).tolist()) else None

    def apply(self, grid, params):
        table = np.arange(10, dtype=np.uint8)
        for source, target in params["mapping"]:
            table[source] = target
        return table[grid]


class Translate(Skill):
    name = "translate"
    choices = {"dy": tuple(range(-2, 3)), "dx": tuple(range(-2, 3))}

    def sample_params(self, rng):
        while True:
            dy, dx = _size(rng, -2, 2), _size(rng, -2, 2)
            if (dy, dx) != (0, 0):
                return {"dy": dy, "dx": dx}

    def candidates(self, pairs):
        return [p for p in super().candidates(pairs) if (p["dy"], p["dx"]) != (0, 0)]

    def sample_input(self, rng, params, max_size):
        return _random_grid(rng, max_size, density=(0.15, 0.35), max_colours=2)

    def apply(self, grid, params):
        h, w = grid.shape
        dy, dx = params["dy"], params["dx"]
        out = np.zeros_like(grid)
        kept = grid[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        top, left = max(0, dy), max(0, dx)
        out[top : top + kept.shape[0], left : left + kept.shape[1]] = kept
        return out


class Gravity(Skill):
    name = "gravity"
    choices = {"direction": _DIRECTIONS}

    def sample_input(self, rng, params, max_size):
        return _random_grid(rng, max_size, density=(0.15, 0.4))

    def apply(self, grid, params):
        return _towards(grid, params["direction"], _fall_down)


class FloodFill(Skill):
    name = "flood_fill"
    min_size = 4
    choices = {"fill": _COLOURS}

    def sample_params(self, rng):
        return {"fill": _pick_colours(rng, 1)[0]}

    def sample_input(self, rng, params, max_size):
        h, w = _size(rng, 4, max_size), _size(rng, 4, max_size)
        rings, closed = [], []
        for i in range(_size(rng, 1, 3)):
            colour = _pick_colours(rng, 1, exclude=[params["fill"]])[0]
            ring = _ring(_size(rng, 3, min(h, 6)), _size(rng, 3, min(w, 6)), colour)
            is_closed = i == 0 or rng.random() < 0.6  # an open ring shows what is not filled
            if not is_closed:
                _break_ring(rng, ring)
            rings.append(ring)
            closed.append(is_closed)
        grid, corners = _place(rng, (h, w), rings)
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
        enclosed = background & ~_reach(background, border)
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
    ring[_choose(rng, sides)] = 0


class CountObjects(Skill):
    name = "count_objects"
    choices = {"colour": _COLOURS}

    def sample_params(self, rng):
        return {"colour": _pick_colours(rng, 1)[0]}

    def sample_input(self, rng, params, max_size):
        h, w = _size(rng, 3, max_size), _size(rng, 3, max_size)
        count = _size(rng, 1, min(6, max_size))
        stamps = [
            _paint(_blob(rng, _size(rng, 1, 4), 3, 3), _pick_colours(rng, 1)[0])
            for _ in range(count)
        ]
        return _place(rng, (h, w), stamps)[0]  # apart even diagonally: a clear count

    def apply(self, grid, params):
        return np.full((1, len(_objects(grid))), params["colour"], dtype=np.uint8)


class Crop(Skill):
    name = "crop"

    def sample_input(self, rng, params, max_size):
        h, w = _size(rng, 3, max_size), _size(rng, 3, max_size)
        # The box is smaller than the grid, so the crop always removes something.
        shape = _blob(rng, _size(rng, 3, 10), min(5, h - 1), min(5, w - 1))
        colours = _pick_colours(rng, _size(rng, 1, 2))
        stamp = np.where(shape, rng.choice(colours, size=shape.shape), 0).astype(np.uint8)
        return _place(rng, (h, w), [stamp])[0]

    def apply(self, grid, params):
        return _u8(_crop_to_content(grid))


class Scale(Skill):
    name = "scale"
    min_size = 6  # a 2x2 input scaled by 3
    choices = {"factor": (2, 3)}

    def sample_input(self, rng, params, max_size):
        most = max_size // params["factor"]
        shape = (_size(rng, 2, most), _size(rng, 2, most))
        colours = _pick_colours(rng, _size(rng, 1, 3))
        return _noise(rng, shape, rng.uniform(0.4, 0.8), colours)

    def apply(self, grid, params):
        factor = params["factor"]
        return _u8(np.repeat(np.repeat(grid, factor, axis=0), factor, axis=1))


class SymmetryComplete(Skill):
    name = "symmetry_complete"
    min_size = 4
    choices = {"erased_side": ("left", "right")}

    def sample_input(self, rng, params, max_size):
        h, half = _size(rng, 3, max_size), _size(rng, 2, max_size // 2)
        middle = int(2 * half < max_size and rng.random() < 0.5)  # odd widths have an axis column
        colours = _pick_colours(rng, _size(rng, 1, 3))
        density = rng.uniform(0.5, 0.8)
        left = _noise(rng, (h, half), density, colours)
        grid = np.hstack([left, _noise(rng, (h, middle), density, colours), left[:, ::-1]])
        side = grid[:, :half] if params["erased_side"] == "left" else grid[:, -half:]
        coloured = np.argwhere(side != 0)
        if len(coloured) == 0:
            return None
        erased = rng.choice(len(coloured), _size(rng, 1, max(1, len(coloured) // 2)), replace=False)
        for r, c in coloured[erased]:
            side[r, c] = 0  # a view: erases in grid
        return grid

    def apply(self, grid, params):
        # Only one half lost cells, so each mirror pair keeps its colour on one side.
        return np.where(grid != 0, grid, grid[:, ::-1]).astype(np.uint8)


class DrawLine(Skill):
    name = "draw_line"
    choices = {"direction": _DIRECTIONS}

    def sample_input(self, rng, params, max_size):
        turns = _TURNS_TO_DOWN[params["direction"]]
        h, w = _size(rng, 3, max_size), _size(rng, 3, max_size)
        # Drawn pointing down, then turned: one pixel per column (no line runs into another
        # pixel) and none on the bottom row (every pixel draws something).
        down_h, down_w = (h, w) if turns % 2 == 0 else (w, h)
        down = np.zeros((down_h, down_w), dtype=np.uint8)
        for col in rng.choice(down_w, size=_size(rng, 1, min(3, down_w)), replace=False):
            down[_size(rng, 0, down_h - 2), col] = _pick_colours(rng, 1)[0]
        return np.rot90(down, -turns)

    def apply(self, grid, params):
        return _towards(grid, params["direction"], _extend_down)


class RecolourBySize(Skill):
    name = "recolour_by_size"
    min_size = 4
    choices = {"largest": _COLOURS, "other": _COLOURS}

    def sample_params(self, rng):
        largest, other = _pick_colours(rng, 2)
        return {"largest": largest, "other": other}

    def sample_input(self, rng, params, max_size):
        h, w = _size(rng, 4, max_size), _size(rng, 4, max_size)
        colour = _pick_colours(rng, 1, exclude=[params["largest"], params["other"]])[0]
        sizes = rng.choice(np.arange(1, 9), size=_size(rng, 2, 4), replace=False)  # no ties
        stamps = [_paint(_blob(rng, int(s), 4, 4), colour) for s in sizes]
        grid, corners = _place(rng, (h, w), stamps)
        return grid if sum(c is not None for c in corners) >= 2 else None

    def apply(self, grid, params):
        objects = _objects(grid)
        biggest = max((int(m.sum()) for m in objects), default=0)
        out = np.zeros_like(grid)
        for mask in objects:
            out[mask] = params["largest"] if mask.sum() == biggest else params["other"]
        return out


class Denoise(Skill):
    name = "denoise"
    min_size = 4

    def sample_input(self, rng, params, max_size):
        h, w = _size(rng, 4, max_size), _size(rng, 4, max_size)
        shapes = [_blob(rng, _size(rng, 3, 8), 4, 4) for _ in range(_size(rng, 1, 2))]
        noise = [np.ones((1, 1), dtype=bool) for _ in range(_size(rng, 1, 4))]
        stamps = [_paint(m, _pick_colours(rng, 1)[0]) for m in shapes + noise]
        grid, corners = _place(rng, (h, w), stamps)  # objects first: they need the room
        # Both kinds must show (the generic check drops a grid with no noise left).
        return grid if corners[0] is not None else None

    def apply(self, grid, params):
        coloured = grid != 0
        lonely = coloured & ~_any_neighbour(coloured, _STEPS_8)
        return np.where(lonely, 0, grid).astype(np.uint8)


class Outline(Skill):
    name = "outline"

    def sample_input(self, rng, params, max_size):
        h, w = _size(rng, 3, max_size), _size(rng, 3, max_size)
        stamps = [
            np.full(
                (_size(rng, 2, min(h, 5)), _size(rng, 2, min(w, 5))),
                _pick_colours(rng, 1)[0],
                dtype=np.uint8,
            )
            for _ in range(_size(rng, 1, 3))
        ]
        return _place(rng, (h, w), stamps)[0]

    def apply(self, grid, params):
        # Inside: all 8 neighbours exist and share the cell's colour. Cells on the grid's
        # edge stay, as a rectangle's border does.
        values = grid.astype(np.int16)
        inside = grid != 0
        for dy, dx in _STEPS_8:
            inside &= _shifted(values, dy, dx, -1) == values
        return np.where(inside, 0, grid).astype(np.uint8)


class Tile(Skill):
    name = "tile"
    min_size = 6  # a 2-wide input tiled 3 times
    choices = {"axis": ("horizontal", "vertical"), "times": (2, 3)}

    def sample_input(self, rng, params, max_size):
        along, across = _size(rng, 2, max_size // params["times"]), _size(rng, 2, max_size)
        shape = (across, along) if params["axis"] == "horizontal" else (along, across)
        colours = _pick_colours(rng, _size(rng, 1, 3))
        return _noise(rng, shape, rng.uniform(0.4, 0.8), colours)

    def apply(self, grid, params):
        times = params["times"]
        return _u8(np.tile(grid, (1, times) if params["axis"] == "horizontal" else (times, 1)))


class SortBars(Skill):
    name = "sort_bars"
    choices = {"gap": (0, 1)}  # empty columns between neighbouring bars

    def sample_input(self, rng, params, max_size):
        h, w = _size(rng, 3, max_size), _size(rng, 3, max_size)
        step = 1 + params["gap"]
        count = _size(rng, 2, min(5, h, (w + params["gap"]) // step))
        start = _size(rng, 0, w - (count * step - params["gap"]))
        heights = rng.choice(np.arange(1, h + 1), size=count, replace=False)  # no ties
        grid = np.zeros((h, w), dtype=np.uint8)
        for i, height in enumerate(heights):
            grid[h - height :, start + i * step] = _pick_colours(rng, 1)[0]
        return grid

    def apply(self, grid, params):
        bars = np.flatnonzero(grid[-1] != 0)  # a bar stands on the bottom row
        heights = (grid[:, bars] != 0).sum(axis=0)
        out = grid.copy()
        out[:, bars] = grid[:, bars[np.argsort(heights, kind="stable")]]
        return out


class MajorityColour(Skill):
    name = "majority_colour"
    choices = {"output": ("1x1", "same_shape")}

    def sample_input(self, rng, params, max_size):
        shape = (_size(rng, 3, max_size), _size(rng, 3, max_size))
        colours = _pick_colours(rng, _size(rng, 2, 3))
        values = rng.choice(colours, size=shape, p=rng.dirichlet(np.ones(len(colours))))
        grid = np.where(rng.random(shape) < rng.uniform(0.5, 0.9), values, 0).astype(np.uint8)
        counts = sorted((int((grid == c).sum()) for c in colours), reverse=True)
        return grid if counts[0] > counts[1] else None  # no ties

    def apply(self, grid, params):
        counts = np.bincount(grid.ravel(), minlength=10)
        counts[0] = 0
        shape = (1, 1) if params["output"] == "1x1" else grid.shape
        return np.full(shape, int(np.argmax(counts)), dtype=np.uint8)


class Mask(Skill):
    name = "mask"
    min_size = 5  # two 2-wide halves and the separator
    choices = {"colour": tuple(c for c in _COLOURS if c != GREY)}

    def sample_params(self, rng):
        return {"colour": _pick_colours(rng, 1, exclude=[GREY])[0]}

    def sample_input(self, rng, params, max_size):
        h, half = _size(rng, 3, max_size), _size(rng, 2, (max_size - 1) // 2)
        left_colour, right_colour = _pick_colours(rng, 2, exclude=[GREY])
        left = _noise(rng, (h, half), rng.uniform(0.3, 0.7), [left_colour])
        right = _noise(rng, (h, half), rng.uniform(0.3, 0.7), [right_colour])
        return np.hstack([left, np.full((h, 1), GREY, dtype=np.uint8), right])

    def accepts(self, grid):
        return grid.shape[1] >= 3 and grid.shape[1] % 2 == 1  # two halves and the separator

    def apply(self, grid, params):
        middle = grid.shape[1] // 2
        both = (grid[:, :middle] != 0) & (grid[:, middle + 1 :] != 0)
        return np.where(both, params["colour"], 0).astype(np.uint8)


SKILLS: dict[str, Skill] = {
    skill.name: skill
    for skill in (
        Flip(), Rotate(), ColourMap(), Translate(), Gravity(), FloodFill(), CountObjects(),
        Crop(), Scale(), SymmetryComplete(), DrawLine(), RecolourBySize(), Denoise(),
        Outline(), Tile(), SortBars(), MajorityColour(), Mask(),
    )
}  # fmt: skip

# Held out of training, each built from parts that trained skills teach, so generalising
# to them is possible in principle:
#   flip: mirroring is in symmetry_complete, a flip of both axes is rotate 180;
#   outline: telling a shape's inside from its border is flood_fill's, deleting cells by
#     their neighbourhood is denoise's;
#   majority_colour: counting is count_objects', a grid filled with one colour or resized
#     to 1x1 is in scale / count_objects' outputs;
#   sort_bars: moving cells along an axis is gravity's, comparing sizes recolour_by_size's.
HELDOUT_SKILLS: tuple[str, ...] = ("flip", "outline", "majority_colour", "sort_bars")
TRAIN_SKILLS: tuple[str, ...] = tuple(s for s in SKILLS if s not in HELDOUT_SKILLS)


# ---------------------------------------------------------------------- instances


def generate_task(
    skill: str,
    rng: np.random.Generator,
    *,
    num_demos: int = 3,
    num_tests: int = 1,
    max_size: int = 10,
    name: str | None = None,
) -> FewShotTask:
    """One instance of `skill`: num_demos demonstrations and num_tests test pairs, distinct
    inputs, every grid at most max_size a side. The name defaults to "<skill>-<content hash>"."""
    task, _ = generate_instance(
        skill, rng, num_demos=num_demos, num_tests=num_tests, max_size=max_size, name=name
    )
    return task


def random_task(
    rng: np.random.Generator, skill: str | None = None, num_demos: int = 3, max_size: int = 10
) -> FewShotTask:
    """A task of `skill`, or of a skill drawn from every skill (the registry's generate)."""
    chosen = skill or _choose(rng, sorted(SKILLS))
    return generate_task(chosen, rng, num_demos=num_demos, max_size=max_size)


def generate_instance(
    skill: str,
    rng: np.random.Generator,
    *,
    num_demos: int = 3,
    num_tests: int = 1,
    max_size: int = 10,
    name: str | None = None,
) -> tuple[FewShotTask, Params]:
    """generate_task, also returning the instance's parameters (every pair's output is
    SKILLS[skill].apply(pair.input, params))."""
    chosen = _check_request(skill, num_demos, num_tests, max_size)
    params = chosen.sample_params(rng)
    pairs = _draw_pairs(chosen, rng, params, num_demos + num_tests, max_size)
    task = FewShotTask(name or "", tuple(pairs[:num_demos]), tuple(pairs[num_demos:]), skill)
    if name is None:
        task = replace(task, name=f"{skill}-{task_key(task).hex()[:12]}")
    return task, params


def _check_request(skill: object, num_demos: object, num_tests: object, max_size: object) -> Skill:
    if not isinstance(skill, str) or skill not in SKILLS:
        raise UserError(f"unknown skill {skill!r}; known skills: {', '.join(SKILLS)}")
    for what, value in (("num_demos", num_demos), ("num_tests", num_tests)):
        if not _is_whole(value) or value < 1:
            raise UserError(f"{what} must be a whole number >= 1, got {value!r}")
    chosen = SKILLS[skill]
    if not _is_whole(max_size) or not chosen.min_size <= max_size <= ARC_CANVAS:
        raise UserError(
            f"skill {skill!r} needs max_size between {chosen.min_size} and {ARC_CANVAS}, "
            f"got {max_size!r}"
        )
    return chosen


def _is_whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _draw_pairs(
    skill: Skill, rng: np.random.Generator, params: Params, count: int, max_size: int
) -> list[Pair]:
    """`count` pairs with distinct inputs, each drawn until it teaches something."""
    pairs: list[Pair] = []
    inputs: set[bytes] = set()
    for _ in range(_DRAWS_PER_PAIR * count):
        pair = _draw_pair(skill, rng, params, max_size)
        if pair is None or _grid_key(pair.input) in inputs:
            continue
        inputs.add(_grid_key(pair.input))
        pairs.append(pair)
        if len(pairs) == count:
            return pairs
    raise UserError(
        f"could not draw {count} distinct {skill.name!r} pairs at max_size {max_size}; "
        "ask for fewer pairs or a larger max_size"
    )


def _draw_pair(
    skill: Skill, rng: np.random.Generator, params: Params, max_size: int
) -> Pair | None:
    """One pair, or None when the input is degenerate: blank, an output that is blank or
    equal to the input (a flip of a symmetric grid), or a grid past max_size."""
    grid = skill.sample_input(rng, params, max_size)
    if grid is None or not grid.any():
        return None
    grid = _u8(grid)
    output = _u8(skill.apply(grid, params))
    fits = max(*grid.shape, *output.shape) <= max_size
    unchanged = grid.shape == output.shape and np.array_equal(grid, output)
    return Pair(grid, output) if fits and output.any() and not unchanged else None


def _grid_key(grid: np.ndarray | None) -> bytes:
    if grid is None:
        return b"?;"
    grid = np.ascontiguousarray(grid, dtype=np.uint8)
    return f"{grid.shape[0]}x{grid.shape[1]}:".encode() + grid.tobytes()


def task_key(task: FewShotTask) -> bytes:
    """A hash of the task's content (every grid, in order, and which pairs are demos), not
    of its name: equal keys mean the same instance."""
    digest = hashlib.sha256(f"{len(task.train)}/{len(task.test)};".encode())
    for pair in (*task.train, *task.test):
        digest.update(_grid_key(pair.input))
        digest.update(_grid_key(pair.output))
    return digest.digest()


def generate_split(
    skills: Sequence[str], count: int, rng: np.random.Generator, **kw: Any
) -> list[FewShotTask]:
    """`count` distinct instances; instance i is of skills[i % len(skills)]. `kw` goes to
    generate_task (num_demos, num_tests, max_size); names come from the content, so they
    are unique."""
    if isinstance(skills, str) or not skills:
        raise UserError(f"skills must be a non-empty list of skill names, got {skills!r}")
    if not _is_whole(count) or count < 0:
        raise UserError(f"count must be a whole number >= 0, got {count!r}")
    if "name" in kw:
        raise UserError("generate_split names its tasks itself; do not pass name")
    for skill in skills:
        _check_request(skill, 1, 1, kw.get("max_size", 10))
    tasks: list[FewShotTask] = []
    keys: set[bytes] = set()
    for i in range(count):
        tasks.append(_fresh_task(skills[i % len(skills)], rng, keys, kw))
    return tasks


def _fresh_task(
    skill: str, rng: np.random.Generator, keys: set[bytes], kw: dict[str, Any]
) -> FewShotTask:
    """An instance of `skill` whose key is not in `keys` (then added)."""
    for _ in range(_DRAWS_PER_TASK):
        task = generate_task(skill, rng, **kw)
        key = task_key(task)
        if key not in keys:
            keys.add(key)
            return task
    raise UserError(
        f"could not draw another distinct {skill!r} instance in {_DRAWS_PER_TASK} tries; "
        "ask for fewer tasks or a larger max_size"
    )


# ---------------------------------------------------------------------- the oracle of a task file


def solve_task(task: FewShotTask) -> list[np.ndarray]:
    """The oracle for a task from a file, which does not say its skill: the test outputs of
    the skills (with parameters) that turn every demonstration input into its output.
    UserError when none does, or when those that do answer the test differently."""
    found: dict[bytes, tuple[set[str], list[np.ndarray]]] = {}
    for skill in SKILLS.values():
        for params in skill.candidates(task.train):
            answers = _answers(skill, params, task)
            if answers is not None:
                key = b"|".join(_grid_key(grid) for grid in answers)
                found.setdefault(key, (set(), answers))[0].add(skill.name)
    if not found:
        raise UserError(
            "no skill turns every demonstration input into its output, so there is no "
            f"oracle answer (skills: {', '.join(SKILLS)})"
        )
    if len(found) > 1:
        names = sorted(set().union(*(names for names, _ in found.values())))
        raise UserError(
            f"the demonstrations fit skills that answer the test differently "
            f"({', '.join(names)}); add a demonstration that tells them apart"
        )
    return next(iter(found.values()))[1]


def _answers(skill: Skill, params: Params, task: FewShotTask) -> list[np.ndarray] | None:
    """The test outputs under (skill, params) when it explains every demonstration, else None."""
    for pair in task.train:
        output = _output(skill, params, pair.input)
        if output is None or output.shape != pair.output.shape:
            return None
        if not np.array_equal(output, pair.output):
            return None
    outputs = [_output(skill, params, pair.input) for pair in task.test]
    return None if any(grid is None for grid in outputs) else outputs


def _output(skill: Skill, params: Params, grid: np.ndarray) -> np.ndarray | None:
    """The skill's output for `grid`; None where the skill is undefined on it or the
    output is no grid (0 wide: count_objects of a blank grid; past the ARC canvas)."""
    if not skill.accepts(grid):
        return None
    output = skill.apply(grid, params)
    return output if 0 < min(output.shape) and max(output.shape) <= ARC_CANVAS else None
