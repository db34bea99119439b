"""Random-wall maze families, drawn as wall masks and endpoints (maze.py makes the tokens).

obstacles: every cell a wall with one probability, S and G on two random free cells.

searchformer: the generator of Lehnert et al. 2024 ("Beyond A*", the Searchformer code's
`searchformer/maze.py`), which the HRM paper cites for Maze-Hard: a wall count drawn
uniformly from 30%..50% of the cells (3 * (cells // 10) .. 5 * (cells // 10)), the walls
on uniformly random cells, no border walls, S and G on free cells, and routes of fewer
than `side` cells discarded. Searchformer then tries start/goal pairs on the layout; HRM
kept the instances whose shortest route is longer than 110. A route that long is rarer
than 1 draw in 40,000 (measured at 30x30), so here the goal is drawn among the cells at
least `min_path` moves from the start, and each layout gets up to SEARCHFORMER_STARTS
starts (Searchformer also tries 100 pairs a layout): the same kind of maze and the same
filter, reached in a few thousand breadth-first searches instead of tens of thousands.
"""

from __future__ import annotations

import numbers
from collections import deque
from collections.abc import Callable
from functools import lru_cache, partial

import numpy as np

from ponder.errors import UserError

SEARCHFORMER_STARTS = 100  # starts tried on one wall layout before drawing a new one

# (walls (side, side) bool, start, goal): S and G as flat indices of free cells.
Layout = tuple[np.ndarray, int, int]


def family_sampler(
    family: str, side: int, min_path: int, wall_density: float | None, default_density: float
) -> tuple[str, Callable[[np.random.Generator], Layout | None]]:
    """What `family` draws (named in messages) and its draw; UserError for a wall_density
    the family cannot take."""
    if family == "searchformer":
        if wall_density is not None:
            raise UserError("wall_density is drawn per maze (30-50%) in the searchformer family")
        return "searchformer grid (30-50% walls)", partial(
            searchformer, side=side, min_path=min_path
        )
    density = default_density if wall_density is None else wall_density
    if not isinstance(density, numbers.Real) or not 0.0 <= density < 1.0:
        raise UserError(f"wall_density must be in [0, 1), got {density!r}")
    return f"obstacle grid (wall density {density})", partial(
        scattered, side=side, density=float(density)
    )


def scattered(rng: np.random.Generator, side: int, density: float) -> Layout | None:
    """Each cell a wall with probability `density`; S and G two distinct free cells (None
    when fewer than two are free). The draws are those the obstacles family always made,
    so its datasets stay byte-identical."""
    walls = rng.random((side, side)) < density
    free = np.flatnonzero(~walls)
    if len(free) < 2:
        return None
    start, goal = rng.choice(free, size=2, replace=False)
    return walls, int(start), int(goal)


def searchformer(rng: np.random.Generator, side: int, min_path: int) -> Layout | None:
    """One wall layout as Searchformer draws it, and a start with a goal at least
    max(min_path, side - 1) moves away (Searchformer keeps plans of at least `side`
    cells); None when none of the starts tried has such a goal."""
    cells = side * side
    count = int(rng.integers(3 * (cells // 10), 5 * (cells // 10) + 1))
    order = rng.permutation(cells)
    walls = np.zeros(cells, dtype=bool)
    walls[order[:count]] = True
    free = order[count:]
    least = max(int(min_path), side - 1)
    for _ in range(SEARCHFORMER_STARTS):
        start = int(free[rng.integers(len(free))])
        far = np.flatnonzero(distances(~walls, side, start) >= least)
        if far.size:
            return walls.reshape(side, side), start, int(far[rng.integers(far.size)])
    return None


def distances(free: np.ndarray, side: int, start: int) -> np.ndarray:
    """Moves from `start` to every cell of a (side * side,) free mask over 4-neighbour
    steps, -1 where it cannot be reached (breadth-first search)."""
    passable, neighbours = free.tolist(), _neighbours(side)
    dist = [-1] * len(passable)
    dist[start] = 0
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        step = dist[cell] + 1
        for nxt in neighbours[cell]:
            if passable[nxt] and dist[nxt] < 0:
                dist[nxt] = step
                queue.append(nxt)
    return np.asarray(dist)


@lru_cache(maxsize=8)
def _neighbours(side: int) -> tuple[tuple[int, ...], ...]:
    """Each cell's 4-neighbours (flat indices), computed once a side: the searches of a
    searchformer build are its whole cost."""
    return tuple(
        tuple(
            r * side + c
            for r, c in ((row - 1, col), (row, col - 1), (row, col + 1), (row + 1, col))
            if 0 <= r < side and 0 <= c < side
        )
        for row in range(side)
        for col in range(side)
    )
