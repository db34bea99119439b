"""City routing: the cheapest route for a vehicle at an hour of the day across a city grid.

A scenario is a city of H x W cells plus one header row, stored as one (H + 1, W) grid:

    row 0      header: vehicle and hour tokens, alternating (V, h, V, h, ...) so that every
               column has both within one cell (models with local attention see them too)
    rows 1..H  the city: buildings, water, streets, roads, avenues (each possibly jammed),
               closed road cells, one start S and one end E

An answer is the same grid with ROUTE on the cells strictly between S and E, every other
cell unchanged: labels are the whole grid, never "padding except the route".

Moves and costs (all integers, so "optimal" is an exact comparison):
- A move goes to one of the 4 orthogonal neighbours, or to a diagonal neighbour when both
  cells are avenue cells (jammed or not): avenues cut across blocks, and a diagonal avenue
  is a chain of cells that only touch at corners. Corner cells need not be free.
- Moving into a cell costs its entry cost: BASE_COST[vehicle][road class], times
  JAM_FACTOR[hour] when the cell is jammed (bikes filter through jams: factor 1). Entering
  E costs END_COST. A route's cost is the sum over the cells it enters (route cells and E).
- A vehicle may only enter the road classes in its BASE_COST row (a truck never uses a
  small street, a bike never an avenue); buildings, water and closed cells stop everyone.
  S and E are always usable; what lies under them is not stored.

The verifier judges the predicted grid only (never the labels), and any route of optimal
cost is exact, not just the oracle's.
"""

from __future__ import annotations

import heapq
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.base import RouteLayout
from ponder.tasks.grids import PanelStyle, decode_grid, encode_grid, path_f1, render_rows_png

# ----------------------------------------------------------------------------- tokens

PAD, BUILDING, WATER, STREET, ROAD, AVENUE = 0, 1, 2, 3, 4, 5
STREET_JAM, ROAD_JAM, AVENUE_JAM, CLOSED, START, END, ROUTE = 6, 7, 8, 9, 10, 11, 12
BIKE, CAR, VAN, TRUCK = 13, 14, 15, 16
HOUR_0 = 17  # hour h is token HOUR_0 + h, h in 0..23
VOCAB_SIZE = HOUR_0 + 24  # 41

VEHICLES = ("bike", "car", "van", "truck")
VEHICLE_TOKEN = {"bike": BIKE, "car": CAR, "van": VAN, "truck": TRUCK}
TOKEN_VEHICLE = {t: v for v, t in VEHICLE_TOKEN.items()}
JAMMED = {STREET: STREET_JAM, ROAD: ROAD_JAM, AVENUE: AVENUE_JAM}
ROAD_CLASS = {STREET: STREET, ROAD: ROAD, AVENUE: AVENUE}
ROAD_CLASS.update({jam: cls for cls, jam in JAMMED.items()})
AVENUE_TOKENS = (AVENUE, AVENUE_JAM)
CITY_TOKENS = tuple(range(BUILDING, END + 1))  # what a puzzle's city rows may hold

# Entry cost by vehicle and road class; a class missing from a row is forbidden to it.
BASE_COST: dict[str, dict[int, int]] = {
    "bike": {STREET: 2, ROAD: 2},
    "car": {STREET: 3, ROAD: 2, AVENUE: 1},
    "van": {STREET: 4, ROAD: 3, AVENUE: 2},
    "truck": {ROAD: 3, AVENUE: 2},
}
JAM_PROOF = frozenset({"bike"})  # vehicles whose cost ignores jams
# Multiplier on a jammed cell's cost by hour: free at night, worst in the two rush hours.
JAM_FACTOR = (1, 1, 1, 1, 1, 1, 2, 5, 5, 5, 2, 2, 2, 2, 2, 2, 5, 5, 5, 2, 2, 1, 1, 1)
END_COST = 1  # never above any class cost, so the A* heuristic below stays admissible

MAX_SIZE = 40
MIN_SIZE = 6

# Text format: one header line "vehicle=NAME hour=H", then one line per city row.
_CHAR_TO_TOKEN = {
    "#": BUILDING, "~": WATER, "x": CLOSED,
    ".": STREET, ":": STREET_JAM, "r": ROAD, "R": ROAD_JAM, "a": AVENUE, "A": AVENUE_JAM,
    "S": START, "E": END, "o": ROUTE,
}  # fmt: skip
_TOKEN_TO_CHAR = {t: ch for ch, t in _CHAR_TO_TOKEN.items()}
_UNKNOWN_CHAR = "?"  # PAD, header or out-of-range ids in city rows: shown, parse rejects it
_HEADER_FORMAT = "vehicle=NAME hour=H"

# Panel colours, indexed by token id PAD..ROUTE (header tokens are not drawn).
_COLOURS = [
    "#ff00ff", "#555555", "#4a90d9", "#f4f4f4", "#c8c8c8", "#f5d76e", "#f4b183",
    "#e8825a", "#d9534f", "#000000", "#2ca02c", "#d62728", "#1f77b4",
]  # fmt: skip


class RoutingTask:
    """Generator, A* oracle, verifier, codec, text format and renderer for city routing."""

    name = "routing"
    vocab_size = VOCAB_SIZE
    pad_id = PAD
    ignore_label_id = PAD  # labels never hold PAD: every cell of the answer is a real token
    route_layout = RouteLayout(ROUTE, (START, END), AVENUE_TOKENS, header_rows=1)
    augmentations = ()  # a rotation would move the vehicle/hour header row into the city

    # ----------------------------------------------------------------- generation

    def generate(
        self,
        rng: np.random.Generator,
        size: int = 10,
        vehicle: str = "any",
        min_distance: int | None = None,
        max_tries: int = 100,
        canvas: int | None = None,
    ) -> np.ndarray:
        """A routable (size + 1, size) scenario: header row, then a size x size city.

        `vehicle` is one of VEHICLES or "any" (uniform); the hour is uniform in 0..23. S and
        E are at least `min_distance` apart in Manhattan distance (default size // 2). The
        vehicle and hour are drawn once, before the retries, so rejecting unroutable cities
        does not skew the vehicle mix toward the easy ones.

        `canvas` (size..MAX_SIZE; None: size) gives a (canvas + 1, canvas) scenario instead:
        the size x size city in the top-left corner, BUILDING everywhere else, under a header
        row of canvas width. Small cities then have the sequence length of big ones, so a
        curriculum can grow the city without changing the model. The random draws do not
        depend on it: canvas=size is the same scenario as no canvas.
        """
        need = _check_generate_args(size, vehicle, min_distance, max_tries)
        canvas = _check_canvas(canvas, size)
        size, max_tries = int(size), int(max_tries)
        if vehicle == "any":
            vehicle = VEHICLES[int(rng.integers(len(VEHICLES)))]
        hour = int(rng.integers(24))
        for _ in range(max_tries):
            city = _draw_city(rng, size)
            if _place_endpoints(rng, city, vehicle, need) and _search(city, vehicle, hour):
                return _with_header(_on_canvas(city, canvas), vehicle, hour)
        raise UserError(
            f"could not generate a routable {size}x{size} city for a {vehicle} with S and E "
            f"{need} apart in {max_tries} tries; lower min_distance or raise max_tries"
        )

    # ----------------------------------------------------------------- oracle

    def optimal_cost(self, puzzle: np.ndarray) -> int:
        """Cost of the cheapest S->E route, or -1 when E cannot be reached."""
        vehicle, hour, city = _scenario(puzzle)
        found = _search(city, vehicle, hour)
        return found[0] if found else -1

    def solve(self, puzzle: np.ndarray) -> np.ndarray:
        """The oracle: the puzzle with ROUTE on the cells of one cheapest route (A*)."""
        vehicle, hour, city = _scenario(puzzle)
        found = _search(city, vehicle, hour)
        if found is None:
            raise UserError(f"no route from S to E for a {vehicle} at hour {hour}")
        answer = np.array(puzzle, dtype=np.uint8)
        # intp: when S touches E the route is empty, and numpy reads [] as float indices
        cells = np.asarray(found[1], dtype=np.intp)
        answer[1:][np.unravel_index(cells, city.shape)] = ROUTE
        return answer

    # ----------------------------------------------------------------- verifier

    def verify(
        self, puzzle: np.ndarray, answer: np.ndarray, reference: np.ndarray | None = None
    ) -> dict[str, float | bool]:
        """Judge the predicted grid `answer` by the city's rules; never raises on it.

        Every metric reads the prediction; `reference` (default: the oracle's answer) only
        feeds `path_f1`. Keys:
        - path_ratio: share of city cells predicted as ROUTE.
        - valid_path_ratio: share of predicted ROUTE cells on a road class the vehicle may
          use and not closed; 0 when nothing is predicted (1 if S and E touch, as then the
          empty route is the answer).
        - connectivity: 1.0 when ROUTE cells, S and E form one simple path S -> E under the
          move rules (S and E one route neighbour each, route cells two, no stray or
          detached cells), else 0.0. A cheapest route never touches itself, so this loses
          no optimal answer.
        - path_f1: F1 of the predicted ROUTE cells against the reference's.
        - cost_ratio: route cost / optimal cost (>= 1) when connected and every route cell
          valid; 0.0 otherwise (always present, so averages need `connectivity` beside them).
        - grid_kept: every cell not marked ROUTE equals the puzzle's (header included).
        - exact: grid_kept, connected, valid and of optimal cost.
        A wrong shape or a non-integer array scores 0 on every metric.
        """
        vehicle, hour, city = _scenario(puzzle)
        found = _search(city, vehicle, hour)
        if found is None:
            raise UserError(f"no route from S to E for a {vehicle} at hour {hour}")
        optimal, oracle_cells = found
        target = _reference_mask(reference, puzzle, oracle_cells)
        grid = _as_answer(answer, np.shape(puzzle))
        if grid is None:
            return _zero_metrics()
        return _judge(np.asarray(puzzle), grid, vehicle, hour, optimal, target)

    # ----------------------------------------------------------------- codec

    def encode(self, grid: np.ndarray) -> np.ndarray:
        """Grid (H + 1, W), header row included -> int64 tokens ((H + 1) * W,)."""
        return encode_grid(grid, "routing")

    def decode(self, tokens: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Tokens -> uint8 grid of `shape`; ids outside the vocabulary become PAD."""
        return decode_grid(tokens, shape, VOCAB_SIZE, PAD, "routing grid")

    def grid_shape(self, seq_len: int) -> tuple[int, int]:
        """Generated cities are square: (side + 1, side) with (side + 1) * side == seq_len."""
        side = int((seq_len + 0.25) ** 0.5 - 0.5) if seq_len > 0 else 0
        for s in (side, side + 1):  # guard the float root against rounding
            if s > 0 and s * (s + 1) == seq_len:
                return s + 1, s
        raise UserError(
            f"a routing grid is a square city plus a header row, (side + 1) * side tokens; "
            f"got {seq_len}"
        )

    # ----------------------------------------------------------------- text format

    def parse(self, text: str) -> np.ndarray:
        """Text (header line, then one line per city row) -> grid; UserError naming the
        first problem: header, unknown character, ragged row, missing or extra S / E."""
        grid = _parse_text(text)
        _check_endpoints(grid[1:])
        return grid

    def parse_answer(self, text: str, puzzle: np.ndarray) -> np.ndarray:
        """An answer to judge against `puzzle`: the text format, then the puzzle's shape.
        S and E are not required: the verifier takes them from the puzzle, and an answer
        that overwrote them is wrong (exit 1), not unreadable."""
        answer = _parse_text(text)
        want, got = np.shape(puzzle), answer.shape
        if got != want:
            raise UserError(
                f"answer city has shape {got[0] - 1}x{got[1]}, the puzzle's {want[0] - 1}x{want[1]}"
            )
        return answer

    def parse_puzzle(self, text: str) -> np.ndarray:
        """`parse`, then `check_puzzle`."""
        grid = self.parse(text)
        self.check_puzzle(grid)
        return grid

    def check_puzzle(self, grid: np.ndarray) -> None:
        """UserError unless `grid` is a scenario with no route marked and a route to E."""
        vehicle, hour, city = _scenario(grid)
        if _search(city, vehicle, hour) is None:
            raise UserError(f"no route from S to E for a {vehicle} at hour {hour}")

    def format(self, grid: np.ndarray) -> str:
        """Grid -> text; `parse(format(g)) == g` for every well-formed grid."""
        grid = _two_d(grid)
        vehicle, hour = read_header(grid)
        return _to_text(f"vehicle={vehicle} hour={hour}", grid[1:])

    def render_ascii(self, grid: np.ndarray) -> str:
        """Like `format`, but never raises on a bad header (shown as '?'): for predictions."""
        grid = _two_d(grid)
        try:
            vehicle, hour = read_header(grid)
        except UserError:
            vehicle, hour = "?", "?"
        return _to_text(f"vehicle={vehicle} hour={hour}", grid[1:])

    # ----------------------------------------------------------------- pictures

    def render_png(
        self,
        out_path: str | Path,
        rows: Sequence[tuple[Any, ...]],
        titles: Sequence[str] | None = None,
    ) -> Path:
        """One figure line per (puzzle, prediction, oracle[, verdict]) row, written atomically.

        The city rows are drawn; the header shows as the vehicle and hour in the titles.
        """
        return render_rows_png(out_path, rows, titles, _STYLE)


ROUTING = RoutingTask()


# --------------------------------------------------------------------- generation helpers


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


def _with_header(city: np.ndarray, vehicle: str, hour: int) -> np.ndarray:
    """The (H + 1, W) grid: the header row above the city."""
    return np.vstack([_header_row(vehicle, hour, city.shape[1]), city]).astype(np.uint8)


def _header_row(vehicle: str, hour: int, width: int) -> np.ndarray:
    pair = np.array([VEHICLE_TOKEN[vehicle], HOUR_0 + hour], dtype=np.uint8)
    return np.resize(pair, width)  # V, h, V, h, ... cut to the width


# --------------------------------------------------------------------- oracle helpers


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


def _moves(cell: int, height: int, width: int, avenue: list[bool]) -> list[int]:
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


def _endpoints(city: np.ndarray) -> tuple[int, int]:
    flat = np.asarray(city).reshape(-1)
    return int(np.flatnonzero(flat == START)[0]), int(np.flatnonzero(flat == END)[0])


def _search(city: np.ndarray, vehicle: str, hour: int) -> tuple[int, list[int]] | None:
    """A*: (cost, flat city indices strictly between S and E) of a cheapest route, or None.

    Heuristic: each move shrinks the Chebyshev distance to E by at most 1 (diagonals
    included), the last move costs END_COST and every other at least the vehicle's cheapest
    class; END_COST <= that, so it never overestimates and is consistent.
    """
    height, width = city.shape
    costs = entry_costs(city, vehicle, hour).reshape(-1).tolist()
    avenue = np.isin(city, AVENUE_TOKENS).reshape(-1).tolist()
    start, end = _endpoints(city)
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
        for nxt in _moves(cell, height, width, avenue):
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


# --------------------------------------------------------------------- puzzle checks


def _two_d(grid: Any) -> np.ndarray:
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


def _check_endpoints(city: np.ndarray) -> None:
    for token, what in ((START, "starts (S)"), (END, "ends (E)")):
        count = int(np.sum(city == token))
        if count != 1:
            raise UserError(f"found {count} {what}; a routing scenario needs exactly one")


def _scenario(grid: Any) -> tuple[str, int, np.ndarray]:
    """(vehicle, hour, city) of a puzzle grid; UserError naming what is malformed."""
    grid = _two_d(grid)
    vehicle, hour = read_header(grid)
    city = grid[1:]
    n_route = int(np.sum(city == ROUTE))
    if n_route:
        raise UserError(f"puzzle has {n_route} route cells (o); a puzzle must not contain a route")
    bad = np.setdiff1d(np.unique(city), CITY_TOKENS)
    if bad.size:
        raise UserError(f"puzzle city holds token {int(bad[0])}, which is not a city cell")
    _check_endpoints(city)
    return vehicle, hour, city.astype(np.uint8)


# --------------------------------------------------------------------- verifier helpers


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
    """The metrics of `verify`, all from the predicted grid `answer` (int64, puzzle's shape)."""
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
    start, end = _endpoints(city)
    cells = set(np.flatnonzero(route.reshape(-1)).tolist()) | {start, end}
    links = {c: [n for n in _moves(c, height, width, avenue) if n in cells] for c in cells}
    for cell, near in links.items():
        if len(near) != (1 if cell in (start, end) else 2):
            return None
    order, previous = [start], -1
    while order[-1] != end and len(order) <= len(cells):
        here = order[-1]
        order.append(next(n for n in links[here] if n != previous))
        previous = here
    return order if len(order) == len(cells) else None


# --------------------------------------------------------------------- text and pictures


def _parse_text(text: str) -> np.ndarray:
    """Header line and city rows -> (H + 1, W) grid, without the S / E checks."""
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise UserError(f"empty routing file: expected a header line '{_HEADER_FORMAT}'")
    vehicle, hour = _parse_header(lines[0])
    return _with_header(_parse_city(lines[1:]), vehicle, hour)


def _parse_header(line: str) -> tuple[str, int]:
    """'vehicle=NAME hour=H' (either order) -> (vehicle, hour); UserError otherwise."""
    fields: dict[str, str] = {}
    for item in line.split():
        key, eq, value = item.partition("=")
        if not eq or key not in ("vehicle", "hour") or key in fields:
            raise UserError(f"header line must be '{_HEADER_FORMAT}', got {line!r}")
        fields[key] = value
    if set(fields) != {"vehicle", "hour"}:
        raise UserError(f"header line must be '{_HEADER_FORMAT}', got {line!r}")
    vehicle, hour = fields["vehicle"], fields["hour"]
    if vehicle not in VEHICLES:
        raise UserError(f"unknown vehicle {vehicle!r}; known vehicles: {', '.join(VEHICLES)}")
    if not (hour.isdigit() and 0 <= int(hour) <= 23):
        raise UserError(f"hour must be an integer in 0..23, got {hour!r}")
    return vehicle, int(hour)


def _parse_city(rows: list[str]) -> np.ndarray:
    """City lines -> (H, W) tokens; UserError for no rows, ragged rows, unknown characters."""
    if not rows:
        raise UserError("routing file has a header line but no city rows")
    width = len(rows[0])
    if width < 2:
        raise UserError(f"city rows must be at least 2 cells wide, row 1 has {width}")
    for r, line in enumerate(rows, start=1):
        if len(line) != width:
            raise UserError(f"city row {r} (line {r + 1}) has {len(line)} cells, expected {width}")
        for c, ch in enumerate(line, start=1):
            if ch not in _CHAR_TO_TOKEN:
                raise UserError(f"unknown character {ch!r} at city row {r}, column {c}")
    return np.array([[_CHAR_TO_TOKEN[ch] for ch in line] for line in rows], dtype=np.uint8)


def _to_text(header: str, city: np.ndarray) -> str:
    lines = [header]
    lines += ["".join(_TOKEN_TO_CHAR.get(t, _UNKNOWN_CHAR) for t in row) for row in city.tolist()]
    return "\n".join(lines) + "\n"


def _describe(grid: Any) -> str:
    """'truck at 17h' from a header, '?' parts when it is not one."""
    try:
        vehicle, hour = read_header(_two_d(grid))
    except UserError:
        return "?"
    return f"{vehicle} at {hour}h"


# City rows only: the header shows as the vehicle and hour in the puzzle's title.
_STYLE = PanelStyle(_COLOURS, pad_id=PAD, skip_rows=1, describe=_describe, row_height=3.2)
