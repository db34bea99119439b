"""The A* oracle: each cell's entry cost for a vehicle at an hour, the move rules, and a
cheapest route from S to E."""

from __future__ import annotations

import heapq

import numpy as np

from ponder.tasks.routing.tokens import (
    AVENUE_TOKENS,
    BASE_COST,
    END,
    END_COST,
    JAM_FACTOR,
    JAM_PROOF,
    JAMMED,
    START,
    VOCAB_SIZE,
)


def entry_costs(city: np.ndarray, vehicle: str, hour: int) -> np.ndarray:
    """int64 (H, W): the cost of moving into each cell, -1 where the vehicle may not go
    (S too: a route never re-enters its start)."""
    table = np.full(VOCAB_SIZE, -1, dtype=np.int64)
    jam = 1 if vehicle in JAM_PROOF else JAM_FACTOR[hour]
    for cls, base in BASE_COST[vehicle].items():
        table[cls] = base
        table[JAMMED[cls]] = base * jam
    table[END] = END_COST
    return table[np.asarray(city, dtype=np.int64)]


def moves(cell: int, height: int, width: int, avenue: list[bool]) -> list[int]:
    """Cells one move away, by geometry alone: 4 orthogonal neighbours, and the diagonal
    ones when both cells are avenue cells. Fixed order, so the oracle is deterministic."""
    r, c = divmod(cell, width)
    out = []
    for dr, dc in ((-1, 0), (0, -1), (0, 1), (1, 0), (-1, -1), (-1, 1), (1, -1), (1, 1)):
        nr, nc = r + dr, c + dc
        if not (0 <= nr < height and 0 <= nc < width):
            continue
        nxt = nr * width + nc
        if dr == 0 or dc == 0 or (avenue[cell] and avenue[nxt]):
            out.append(nxt)
    return out


def endpoints(city: np.ndarray) -> tuple[int, int]:
    """Flat indices of S and E in the city (H, W)."""
    flat = np.asarray(city).reshape(-1)
    return int(np.flatnonzero(flat == START)[0]), int(np.flatnonzero(flat == END)[0])


def search(city: np.ndarray, vehicle: str, hour: int) -> tuple[int, list[int]] | None:
    """A*: (cost, flat city indices strictly between S and E) of a cheapest route, or None.

    Heuristic: each move shrinks the Chebyshev distance to E by at most 1 (diagonals
    included), the last move costs END_COST and every other at least the vehicle's cheapest
    class; END_COST <= that, so it never overestimates and is consistent.
    """
    height, width = city.shape
    costs = entry_costs(city, vehicle, hour).reshape(-1).tolist()
    avenue = np.isin(city, AVENUE_TOKENS).reshape(-1).tolist()
    start, end = endpoints(city)
    floor = min(BASE_COST[vehicle].values())
    er, ec = divmod(end, width)

    def heuristic(cell: int) -> int:
        r, c = divmod(cell, width)
        d = max(abs(r - er), abs(c - ec))
        return 0 if d == 0 else END_COST + floor * (d - 1)

    best, parent = {start: 0}, {start: start}
    heap = [(heuristic(start), 0, start)]
    while heap:
        _, g, cell = heapq.heappop(heap)
        if cell == end:
            return g, _unwind(parent, start, end)
        if g > best[cell]:
            continue  # a stale entry: a cheaper way here was found after it was pushed
        for nxt in moves(cell, height, width, avenue):
            step = costs[nxt]
            if step >= 0 and g + step < best.get(nxt, 1 << 62):
                best[nxt], parent[nxt] = g + step, cell
                heapq.heappush(heap, (g + step + heuristic(nxt), g + step, nxt))
    return None


def _unwind(parent: dict[int, int], start: int, end: int) -> list[int]:
    cells, cell = [], parent[end]
    while cell != start:
        cells.append(cell)
        cell = parent[cell]
    return cells[::-1]
