"""The verifier: judge a predicted grid by the city's rules (never against the labels), so
any route of optimal cost is exact, not just the oracle's."""

from __future__ import annotations

from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.grids import path_f1
from ponder.tasks.routing.oracle import endpoints, entry_costs, moves, search
from ponder.tasks.routing.scenario import scenario
from ponder.tasks.routing.tokens import AVENUE_TOKENS, END, ROUTE


def verify_answer(
    puzzle: np.ndarray, answer: np.ndarray, reference: np.ndarray | None = None
) -> dict[str, float | bool]:
    """RoutingTask.verify (the metrics are listed there): the oracle's cost and route of
    `puzzle`, then every metric from the prediction `answer`."""
    vehicle, hour, city = scenario(puzzle)
    found = search(city, vehicle, hour)
    if found is None:
        raise UserError(f"no route from S to E for a {vehicle} at hour {hour}")
    optimal, oracle_cells = found
    target = _reference_mask(reference, puzzle, oracle_cells)
    grid = _as_answer(answer, np.shape(puzzle))
    if grid is None:
        return _zero_metrics()
    return _judge(np.asarray(puzzle), grid, vehicle, hour, optimal, target)


def _as_answer(answer: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """The answer as an int64 grid of the puzzle's shape, or None when it cannot be one."""
    try:
        grid = np.asarray(answer)
    except (ValueError, TypeError):
        return None
    if grid.shape != tuple(shape) or grid.dtype.kind not in "iub":
        return None
    return grid.astype(np.int64)


def _reference_mask(reference: Any, puzzle: Any, oracle_cells: list[int]) -> np.ndarray:
    """Route cells (H, W) of the reference answer, or of the oracle's when none is given."""
    if reference is None:
        rows, cols = np.shape(puzzle)
        mask = np.zeros((rows - 1, cols), dtype=bool)
        mask.flat[oracle_cells] = True
        return mask
    reference = np.asarray(reference)
    if reference.shape != np.shape(puzzle):
        raise UserError(
            f"reference has shape {reference.shape} but the puzzle has shape {np.shape(puzzle)}"
        )
    return reference[1:] == ROUTE


def _zero_metrics() -> dict[str, float | bool]:
    return {
        "exact": False,
        "path_ratio": 0.0,
        "valid_path_ratio": 0.0,
        "connectivity": 0.0,
        "valid_route": 0.0,
        "path_f1": 0.0,
        "cost_ratio": 0.0,
        "grid_kept": False,
    }


def _judge(
    puzzle: np.ndarray,
    answer: np.ndarray,
    vehicle: str,
    hour: int,
    optimal: int,
    target: np.ndarray,
) -> dict[str, float | bool]:
    """The metrics of `verify_answer`, all from the predicted grid `answer` (int64, puzzle's shape)."""
    city = puzzle[1:].astype(np.uint8)
    route = answer[1:] == ROUTE  # (H, W) predicted route cells
    costs = entry_costs(city, vehicle, hour)
    allowed = (costs >= 0) & (city != END)  # road cells this vehicle may enter
    order = _route_order(route, city)
    connected = order is not None
    n_route = int(route.sum())
    if n_route:
        valid_ratio = float(allowed[route].mean())
    else:
        valid_ratio = 1.0 if connected else 0.0
    all_valid = bool(allowed[route].all())
    cost = int(costs.reshape(-1)[order[1:]].sum()) if connected and all_valid else -1
    marked = answer == ROUTE
    marked[0] = False  # the header row never holds route marks
    grid_kept = bool(np.all((answer == puzzle) | marked))
    return {
        "exact": grid_kept and cost == optimal,
        "path_ratio": n_route / route.size,
        "valid_path_ratio": valid_ratio,
        "connectivity": 1.0 if connected else 0.0,
        # connected and every cell drivable: the answers cost_ratio is defined for, so
        # mean cost_ratio / mean valid_route is the mean ratio over those answers
        "valid_route": 1.0 if cost >= 0 else 0.0,
        "path_f1": path_f1(route, target),
        "cost_ratio": cost / optimal if cost >= 0 else 0.0,
        "grid_kept": grid_kept,
    }


def _route_order(route: np.ndarray, city: np.ndarray) -> list[int] | None:
    """The cells S, route..., E in walking order when the ROUTE cells with S and E form one
    simple path (S and E one route neighbour each, route cells two, all in one piece);
    None otherwise: gaps, branches, stray cells and detached loops."""
    height, width = city.shape
    avenue = np.isin(city, AVENUE_TOKENS).reshape(-1).tolist()
    start, end = endpoints(city)
    cells = set(np.flatnonzero(route.reshape(-1)).tolist()) | {start, end}
    links = {c: [n for n in moves(c, height, width, avenue) if n in cells] for c in cells}
    for cell, near in links.items():
        if len(near) != (1 if cell in (start, end) else 2):
            return None
    order, previous = [start], -1
    while order[-1] != end and len(order) <= len(cells):
        here = order[-1]
        order.append(next(n for n in links[here] if n != previous))
        previous = here
    return order if len(order) == len(cells) else None
