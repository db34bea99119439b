"""The city generator: a street grid with large roads, diagonal avenues, a river and
ponds, jams and road works, then S and E on cells the vehicle may use; cities without a
route are drawn again.

Every draw comes from the caller's np.random.Generator, in a fixed order: one seed, one
scenario.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.routing.oracle import search
from ponder.tasks.routing.scenario import with_header
from ponder.tasks.routing.tokens import (
    AVENUE,
    BASE_COST,
    BUILDING,
    CLOSED,
    END,
    JAMMED,
    MAX_SIZE,
    MIN_SIZE,
    ROAD,
    ROAD_CLASS,
    START,
    STREET,
    VEHICLES,
    WATER,
)


def generate_scenario(
    rng: np.random.Generator,
    size: Any,
    vehicle: Any,
    min_distance: Any,
    max_tries: Any,
    canvas: Any,
) -> np.ndarray:
    """RoutingTask.generate's scenario (see there): the vehicle and hour drawn once, then
    cities drawn until one has S and E `min_distance` apart and a route between them."""
    need = _check_generate_args(size, vehicle, min_distance, max_tries)
    canvas = _check_canvas(canvas, size)
    size, max_tries = int(size), int(max_tries)
    if vehicle == "any":
        vehicle = VEHICLES[int(rng.integers(len(VEHICLES)))]
    hour = int(rng.integers(24))
    for _ in range(max_tries):
        city = _draw_city(rng, size)
        if _place_endpoints(rng, city, vehicle, need) and search(city, vehicle, hour):
            return with_header(_on_canvas(city, canvas), vehicle, hour)
    raise UserError(
        f"could not generate a routable {size}x{size} city for a {vehicle} with S and E "
        f"{need} apart in {max_tries} tries; lower min_distance or raise max_tries"
    )


def _check_generate_args(size: Any, vehicle: Any, min_distance: Any, max_tries: Any) -> int:
    """UserError naming the first bad argument; returns the S-E distance to require."""
    if not isinstance(size, numbers.Integral) or not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"routing size must be an integer in {MIN_SIZE}..{MAX_SIZE}, got {size!r}")
    if vehicle != "any" and vehicle not in VEHICLES:
        raise UserError(f"unknown vehicle {vehicle!r}; known: any, {', '.join(VEHICLES)}")
    if not isinstance(max_tries, numbers.Integral) or max_tries < 1:
        raise UserError(f"max_tries must be an integer >= 1, got {max_tries!r}")
    if min_distance is None:
        return int(size) // 2
    most = 2 * (int(size) - 1)
    if not isinstance(min_distance, numbers.Integral) or not 1 <= min_distance <= most:
        raise UserError(f"min_distance must be an integer in 1..{most}, got {min_distance!r}")
    return int(min_distance)


def _check_canvas(canvas: Any, size: int) -> int:
    """The canvas side to draw on (size when None); UserError unless size..MAX_SIZE."""
    if canvas is None:
        return int(size)
    if not isinstance(canvas, numbers.Integral) or not size <= canvas <= MAX_SIZE:
        raise UserError(
            f"routing canvas must be an integer in {size}..{MAX_SIZE} (size..{MAX_SIZE}), "
            f"got {canvas!r}"
        )
    return int(canvas)


def _on_canvas(city: np.ndarray, canvas: int) -> np.ndarray:
    """(canvas, canvas) city: `city` (size, size) in the top-left, BUILDING elsewhere, so
    the padding is an obstacle like any other and no route can use it."""
    size = city.shape[0]
    if canvas == size:
        return city
    out = np.full((canvas, canvas), BUILDING, dtype=np.uint8)
    out[:size, :size] = city
    return out


def _draw_city(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (size, size) city without S and E; every draw comes from `rng`, in a fixed order."""
    city = np.full((size, size), BUILDING, dtype=np.uint8)
    _lay_grid(rng, city)
    _break_streets(rng, city)
    for _ in range(1 + size // 16):
        _lay_avenue(rng, city)
    _lay_water(rng, city)
    _add_jams(rng, city)
    _close_roads(rng, city)
    return city


def _line_positions(rng: np.random.Generator, size: int) -> list[int]:
    """Rows (or columns) of the street grid: blocks of one or two buildings between them."""
    positions, at = [], int(rng.integers(2))
    while at < size:
        positions.append(at)
        at += int(rng.integers(2, 4))
    return positions


def _lay_grid(rng: np.random.Generator, city: np.ndarray) -> None:
    """Street rows and columns; one of each (and a quarter of the rest) are large roads, so
    trucks always have a connected network to start from. ROAD > STREET > BUILDING as
    token ids, so np.maximum makes a crossing take the larger class."""
    size = city.shape[0]
    for axis in (0, 1):
        lines = _line_positions(rng, size)
        big = int(rng.integers(len(lines)))
        for i, at in enumerate(lines):
            cls = ROAD if i == big or rng.random() < 0.25 else STREET
            line = city[at, :] if axis == 0 else city[:, at]
            np.maximum(line, cls, out=line)


def _break_streets(rng: np.random.Generator, city: np.ndarray) -> None:
    """Turn a few small-street cells between crossings back into buildings: dead ends and
    irregular blocks, so routes are not just Manhattan staircases."""
    street = city == STREET
    across = np.zeros_like(street)  # road cells on both sides horizontally and vertically
    road = city != BUILDING
    across[1:-1, 1:-1] = (road[1:-1, :-2] | road[1:-1, 2:]) & (road[:-2, 1:-1] | road[2:, 1:-1])
    cells = np.flatnonzero(street & ~across)
    count = min(len(cells), city.shape[0] // 3)
    if count:
        city.flat[rng.choice(cells, size=count, replace=False)] = BUILDING


def _lay_avenue(rng: np.random.Generator, city: np.ndarray) -> None:
    """An avenue from a random road cell: mostly diagonal steps (cells touching only at
    corners), sometimes a straight one; it overrides whatever it crosses."""
    size = city.shape[0]
    roads = np.flatnonzero(np.isin(city, (STREET, ROAD)))
    if roads.size == 0:
        return
    r, c = divmod(int(roads[int(rng.integers(roads.size))]), size)
    dr, dc = (int(d) for d in rng.choice((-1, 1), size=2))
    for _ in range(int(rng.integers(size // 2, size + 1))):
        city[r, c] = AVENUE
        step = rng.random()
        if step < 0.8:  # diagonal
            r, c = r + dr, c + dc
        elif step < 0.9:  # straight along the rows
            r += dr
        else:  # straight along the columns
            c += dc
        if not (0 <= r < size and 0 <= c < size):
            return


def _lay_water(rng: np.random.Generator, city: np.ndarray) -> None:
    """Half the cities get a river across them (large roads and avenues cross on bridges,
    small streets only sometimes); a few building cells become ponds."""
    size = city.shape[0]
    if rng.random() < 0.5:
        at = int(rng.integers(1, size - 1))
        horizontal = rng.random() < 0.5
        for i in range(size):
            at = int(np.clip(at + rng.choice((-1, 0, 0, 1)), 0, size - 1))
            r, c = (at, i) if horizontal else (i, at)
            bridge = city[r, c] in (ROAD, AVENUE) or (city[r, c] == STREET and rng.random() < 0.3)
            if not bridge:
                city[r, c] = WATER
    for _ in range(size // 8):
        buildings = np.flatnonzero(city == BUILDING)
        if buildings.size:
            city.flat[buildings[int(rng.integers(buildings.size))]] = WATER


def _add_jams(rng: np.random.Generator, city: np.ndarray) -> None:
    """Jams: a few runs of 2-4 road cells along a row or a column."""
    size = city.shape[0]
    for _ in range(max(1, size // 3)):
        roads = np.flatnonzero(np.isin(city, tuple(JAMMED)))
        if roads.size == 0:
            return
        r, c = divmod(int(roads[int(rng.integers(roads.size))]), size)
        dr, dc = ((0, 1), (1, 0))[int(rng.integers(2))]
        for _ in range(int(rng.integers(2, 5))):
            if not (r < size and c < size and city[r, c] in JAMMED):
                break
            city[r, c] = JAMMED[int(city[r, c])]
            r, c = r + dr, c + dc


def _close_roads(rng: np.random.Generator, city: np.ndarray) -> None:
    """Road works: a few road cells of any class closed to every vehicle."""
    roads = np.flatnonzero(np.isin(city, tuple(ROAD_CLASS)))
    count = min(roads.size, max(1, city.shape[0] // 5))
    if count:
        city.flat[rng.choice(roads, size=count, replace=False)] = CLOSED


def _place_endpoints(rng: np.random.Generator, city: np.ndarray, vehicle: str, need: int) -> bool:
    """Put S and E on un-jammed street or road cells the vehicle may use, `need` apart
    (Manhattan); False when no such pair was found (the caller draws a new city)."""
    usable = [t for t in (STREET, ROAD) if t in BASE_COST[vehicle]]
    cells = np.flatnonzero(np.isin(city, usable))
    if cells.size < 2:
        return False
    size = city.shape[1]
    start = int(cells[int(rng.integers(cells.size))])
    rows, cols = np.divmod(cells, size)
    far = cells[np.abs(rows - start // size) + np.abs(cols - start % size) >= need]
    if far.size == 0:
        return False
    city.flat[start] = START
    city.flat[int(far[int(rng.integers(far.size))])] = END
    return True
