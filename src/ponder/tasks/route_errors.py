"""Where a route answer's wrong cells sit, for the trace of a failed answer
(ponder.eval.trace): near a junction, or far from the start and the goal. Geometry only:
a task (the maze) passes its grid as boolean masks.

A wrong cell is a passable cell that the answer marks as route and the reference does not,
or the reverse. With one shortest route (a perfect maze) the reference is the only right
answer; with several (loops, obstacle grids) these are the cells where it differs from the
stored one, which may be another right route.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def error_sites(
    passable: np.ndarray, route: np.ndarray, reference: np.ndarray, start: np.ndarray,
    goal: np.ndarray,
) -> dict:  # fmt: skip
    """Shares and distances of the wrong cells, from (H, W) bool masks: the passable cells,
    the answer's route cells, the reference's, and the start and goal cells.
    `wrong_cells` their count; `at_junction` the share of them at a cell with 3 or 4 open
    neighbours, beside `junction_share`, that share among all open cells (the chance level);
    `from_start` / `from_goal` their mean maze distance from S / G as a fraction of the
    S-G distance (near 0: next to the endpoint, near 1: as far as the other endpoint)."""
    wrong = passable & (route != reference)
    junction = passable & (_open_neighbours(passable) >= 3)
    start, goal = _find(start), _find(goal)
    from_start, from_goal = _distances(passable, start), _distances(passable, goal)
    route = max(1.0, float(from_start[goal]))
    cells = np.argwhere(wrong)
    return {
        "wrong_cells": float(len(cells)),
        "at_junction": float(junction[wrong].mean()) if len(cells) else 0.0,
        "junction_share": float(junction[passable].mean()),
        "from_start": _mean_at(from_start, cells) / route,
        "from_goal": _mean_at(from_goal, cells) / route,
    }


def _open_neighbours(passable: np.ndarray) -> np.ndarray:
    padded = np.pad(passable, 1).astype(np.int8)
    return padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]


def _find(mask: np.ndarray) -> tuple[int, int]:
    found = np.argwhere(mask)
    return (int(found[0][0]), int(found[0][1])) if len(found) else (0, 0)


def _distances(passable: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """BFS distance over passable cells from `source` (H, W); unreachable cells -1."""
    dist = np.full(passable.shape, -1, dtype=np.int64)
    dist[source] = 0
    queue = deque([source])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            inside = 0 <= nr < passable.shape[0] and 0 <= nc < passable.shape[1]
            if inside and passable[nr, nc] and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def _mean_at(dist: np.ndarray, cells: np.ndarray) -> float:
    values = [dist[r, c] for r, c in cells if dist[r, c] >= 0]
    return float(np.mean(values)) if values else 0.0
