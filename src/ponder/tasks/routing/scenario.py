"""The scenario grid's layout, (H + 1, W): the header row (vehicle and hour tokens,
alternating) above the city; building it, reading it back and checking a puzzle."""

from __future__ import annotations

from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.routing.tokens import (
    BIKE,
    CITY_TOKENS,
    END,
    HOUR_0,
    ROUTE,
    START,
    TOKEN_VEHICLE,
    TRUCK,
    VEHICLE_TOKEN,
)


def with_header(city: np.ndarray, vehicle: str, hour: int) -> np.ndarray:
    """The (H + 1, W) grid: the header row above the city."""
    return np.vstack([_header_row(vehicle, hour, city.shape[1]), city]).astype(np.uint8)


def _header_row(vehicle: str, hour: int, width: int) -> np.ndarray:
    pair = np.array([VEHICLE_TOKEN[vehicle], HOUR_0 + hour], dtype=np.uint8)
    return np.resize(pair, width)  # V, h, V, h, ... cut to the width


def two_d(grid: Any) -> np.ndarray:
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.shape[0] < 2 or grid.shape[1] < 2:
        raise UserError(
            f"a routing grid must be 2-D with a header row and at least one city row of 2 "
            f"or more cells, got shape {grid.shape}"
        )
    return grid


def read_header(grid: np.ndarray) -> tuple[str, int]:
    """(vehicle, hour) from the header row; UserError unless it is exactly V, h, V, h..."""
    vehicle = TOKEN_VEHICLE.get(int(grid[0, 0]))
    hour = int(grid[0, 1]) - HOUR_0
    if vehicle is None or not 0 <= hour < 24:
        raise UserError(
            f"header row starts with tokens {int(grid[0, 0])}, {int(grid[0, 1])}; expected "
            f"a vehicle token ({BIKE}..{TRUCK}) and an hour token ({HOUR_0}..{HOUR_0 + 23})"
        )
    if not np.array_equal(grid[0], _header_row(vehicle, hour, grid.shape[1])):
        raise UserError("header row must alternate the vehicle and hour tokens across the row")
    return vehicle, hour


def check_endpoints(city: np.ndarray) -> None:
    for token, what in ((START, "starts (S)"), (END, "ends (E)")):
        count = int(np.sum(city == token))
        if count != 1:
            raise UserError(f"found {count} {what}; a routing scenario needs exactly one")


def scenario(grid: Any) -> tuple[str, int, np.ndarray]:
    """(vehicle, hour, city) of a puzzle grid; UserError naming what is malformed."""
    grid = two_d(grid)
    vehicle, hour = read_header(grid)
    city = grid[1:]
    n_route = int(np.sum(city == ROUTE))
    if n_route:
        raise UserError(f"puzzle has {n_route} route cells (o); a puzzle must not contain a route")
    bad = np.setdiff1d(np.unique(city), CITY_TOKENS)
    if bad.size:
        raise UserError(f"puzzle city holds token {int(bad[0])}, which is not a city cell")
    check_endpoints(city)
    return vehicle, hour, city.astype(np.uint8)
