"""Random draws the skills build their input grids from: sizes, colours, noise, connected
blobs, and stamps placed apart on a canvas.

All randomness comes from the caller's np.random.Generator, drawn in a fixed order, so one
seed gives one grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ponder.tasks.skills.grids import COLOURS, STEPS_4, STEPS_8, any_neighbour, crop_to_content


def size(rng: np.random.Generator, low: int, high: int) -> int:
    """A whole number in [low, high]."""
    return int(rng.integers(low, high + 1))


def choose(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def pick_colours(rng: np.random.Generator, count: int, exclude: Sequence[int] = ()) -> list[int]:
    """`count` distinct non-black colours, none of `exclude`."""
    pool = [c for c in COLOURS if c not in exclude]
    return [int(c) for c in rng.choice(pool, size=count, replace=False)]


def noise(
    rng: np.random.Generator, shape: tuple[int, int], density: float, colours: Sequence[int]
) -> np.ndarray:
    """Each cell coloured (uniformly from `colours`) with probability `density`, else black."""
    filled = rng.random(shape) < density
    return np.where(filled, rng.choice(colours, size=shape), 0).astype(np.uint8)


def random_grid(
    rng: np.random.Generator,
    max_size: int,
    density: tuple[float, float] = (0.3, 0.7),
    max_colours: int = 3,
) -> np.ndarray:
    """A grid of 3..max_size a side, scattered with up to `max_colours` colours."""
    shape = (size(rng, 3, max_size), size(rng, 3, max_size))
    colours = pick_colours(rng, size(rng, 1, max_colours))
    return noise(rng, shape, rng.uniform(*density), colours)


def blob(rng: np.random.Generator, cells: int, max_h: int, max_w: int) -> np.ndarray:
    """A random 4-connected shape of `cells` cells (fewer if the box is smaller) grown in a
    max_h x max_w box, cropped to its bounding box."""
    shape = {(size(rng, 0, max_h - 1), size(rng, 0, max_w - 1))}
    while len(shape) < min(cells, max_h * max_w):
        around = {(r + dy, c + dx) for r, c in shape for dy, dx in STEPS_4}
        frontier = sorted((r, c) for r, c in around - shape if 0 <= r < max_h and 0 <= c < max_w)
        shape.add(choose(rng, frontier))
    mask = np.zeros((max_h, max_w), dtype=bool)
    mask[tuple(np.array(sorted(shape)).T)] = True
    return crop_to_content(mask)


def paint(mask: np.ndarray, colour: int) -> np.ndarray:
    return np.where(mask, colour, 0).astype(np.uint8)


def place(
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
    blocked = taken | any_neighbour(taken, STEPS_8)
    # Blocked cells in every window at once, from a summed-area table.
    table = np.pad(blocked.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    inside = table[sh:, sw:] - table[:-sh, sw:] - table[sh:, :-sw] + table[:-sh, :-sw]
    free = np.argwhere(inside == 0)
    if len(free) == 0:
        return None
    r, c = free[int(rng.integers(len(free)))]
    return int(r), int(c)
