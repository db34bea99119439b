"""Routing task: generator, A* oracle against an independent Dijkstra, vehicle rules, the
verifier on hand-made answers and on the known cheats, text format, codec and pictures."""

from __future__ import annotations

import heapq

import numpy as np
import pytest

from ponder import tasks
from ponder.errors import UserError
from ponder.tasks import routing
from ponder.tasks.base import Task
from ponder.tasks.routing import (
    AVENUE,
    AVENUE_JAM,
    BASE_COST,
    BUILDING,
    END,
    END_COST,
    HOUR_0,
    JAM_FACTOR,
    JAM_PROOF,
    PAD,
    ROUTE,
    ROUTING,
    START,
    STREET,
    STREET_JAM,
    VEHICLE_TOKEN,
    VEHICLES,
)

# Class and jam of each road token, written out here rather than read from the module.
ROAD_OF = {3: (3, False), 4: (4, False), 5: (5, False), 6: (3, True), 7: (4, True), 8: (5, True)}

# Two routes of equal cost (4 streets each way round the block): both are exact.
TWO_WAYS = "vehicle=car hour=3\nS...\n.##.\n...E\n"
TOP_WAY = [(1, 1), (1, 2), (1, 3), (2, 3)]  # grid coordinates (row 0 is the header)
BOTTOM_WAY = [(2, 0), (3, 0), (3, 1), (3, 2)]

# A car takes the short street (4 x 3 + 1 = 13); a truck may not and takes the road (25).
TRUCK_DETOUR = "vehicle=truck hour=0\nS....E\nr####r\nrrrrrr\n"

# Jammed street on top: a car at 8 h takes the long way (25 < 4 x 15 + 1), at 2 h the jam.
RUSH_HOUR = "vehicle=car hour=8\nS::::E\n.####.\n......\n"

# The only way runs down a diagonal avenue: cells that touch at corners only.
DIAGONAL = "vehicle=car hour=12\nS.####\n#a####\n##a###\n###a##\n####a.\n#####E\n"


def cell_cost(token: int, vehicle: str, hour: int) -> int | None:
    """Cost of moving into a cell, from the documented tables; None where it may not go."""
    if token == END:
        return END_COST
    if token not in ROAD_OF:
        return None
    cls, jammed = ROAD_OF[token]
    base = BASE_COST[vehicle].get(cls)
    if base is None:
        return None
    return base * (JAM_FACTOR[hour] if jammed and vehicle not in JAM_PROOF else 1)


def dijkstra_cost(grid: np.ndarray, cells: set[tuple[int, int]] | None = None) -> int:
    """Cheapest S->E cost by plain Dijkstra (no heuristic), optionally only through `cells`."""
    vehicle = {t: v for v, t in VEHICLE_TOKEN.items()}[int(grid[0, 0])]
    hour = int(grid[0, 1]) - HOUR_0
    city = grid[1:].astype(int)
    height, width = city.shape
    (sr,), (sc,) = np.nonzero(city == START)
    best = {(int(sr), int(sc)): 0}
    heap = [(0, int(sr), int(sc))]
    while heap:
        d, r, c = heapq.heappop(heap)
        if city[r, c] == END:
            return d
        if d > best[(r, c)]:
            continue
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                nr, nc = r + dr, c + dc
                if (dr, dc) == (0, 0) or not (0 <= nr < height and 0 <= nc < width):
                    continue
                both_avenue = {city[r, c], city[nr, nc]} <= {AVENUE, AVENUE_JAM}
                if dr and dc and not both_avenue:
                    continue
                if cells is not None and city[nr, nc] != END and (nr, nc) not in cells:
                    continue
                step = cell_cost(int(city[nr, nc]), vehicle, hour)
                if step is not None and d + step < best.get((nr, nc), 1 << 30):
                    best[(nr, nc)] = d + step
                    heapq.heappush(heap, (d + step, nr, nc))
    return -1


def route_cells(answer: np.ndarray) -> set[tuple[int, int]]:
    """Route cells in city coordinates."""
    return {(int(r), int(c)) for r, c in zip(*np.nonzero(answer[1:] == ROUTE), strict=True)}


def mark(puzzle: np.ndarray, cells: list[tuple[int, int]]) -> np.ndarray:
    answer = puzzle.copy()
    for r, c in cells:
        answer[r, c] = ROUTE
    return answer


def generated(seed: int, **params) -> np.ndarray:
    return ROUTING.generate(np.random.default_rng(seed), **params)


# --------------------------------------------------------------------- oracle


@pytest.mark.parametrize("size", [6, 9, 12])
def test_oracle_matches_an_independent_dijkstra(size: int) -> None:
    for seed in range(25):
        puzzle = generated(seed, size=size)
        best = dijkstra_cost(puzzle)
        answer = ROUTING.solve(puzzle)
        assert best > 0 and ROUTING.optimal_cost(puzzle) == best
        # The oracle's cells alone carry a route of that cost: it is a cheapest route.
        assert dijkstra_cost(puzzle, route_cells(answer)) == best
        verdict = ROUTING.verify(puzzle, answer)
        assert verdict["exact"] is True and verdict["path_f1"] == 1.0


def test_hand_made_costs() -> None:
    car = ROUTING.parse(TWO_WAYS)
    assert ROUTING.optimal_cost(car) == 4 * 3 + END_COST
    truck = ROUTING.parse(TRUCK_DETOUR)
    assert ROUTING.optimal_cost(truck) == 8 * 3 + END_COST
    as_car = ROUTING.parse(TRUCK_DETOUR.replace("truck", "car"))
    assert ROUTING.optimal_cost(as_car) == 4 * 3 + END_COST
    diagonal = ROUTING.parse(DIAGONAL)
    assert ROUTING.optimal_cost(diagonal) == 3 + 4 * 1 + 3 + END_COST
    assert route_cells(ROUTING.solve(diagonal)) == {(0, 1), (1, 1), (2, 2), (3, 3), (4, 4), (4, 5)}


def test_the_hour_changes_the_route_and_bikes_ignore_jams() -> None:
    rush = ROUTING.parse(RUSH_HOUR)
    assert ROUTING.optimal_cost(rush) == 8 * 3 + END_COST  # round the block
    assert route_cells(ROUTING.solve(rush)) == {(1, 0), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (1, 5)}  # fmt: skip
    night = ROUTING.parse(RUSH_HOUR.replace("hour=8", "hour=2"))
    assert ROUTING.optimal_cost(night) == 4 * 3 + END_COST  # straight through, no jam
    bike = ROUTING.parse(RUSH_HOUR.replace("car", "bike"))
    assert ROUTING.optimal_cost(bike) == 4 * 2 + END_COST


def test_vehicles_never_use_forbidden_roads() -> None:
    forbidden = {"truck": {STREET, STREET_JAM}, "bike": {AVENUE, AVENUE_JAM}}
    for vehicle, tokens in forbidden.items():
        for seed in range(60):
            puzzle = generated(seed, size=10, vehicle=vehicle)
            route = ROUTING.solve(puzzle)[1:] == ROUTE
            assert not np.isin(puzzle[1:][route], list(tokens)).any(), (vehicle, seed)
    with pytest.raises(UserError, match="no route from S to E for a bike"):
        ROUTING.solve(ROUTING.parse(DIAGONAL.replace("car", "bike")))
    with pytest.raises(UserError, match="no route from S to E for a truck"):
        ROUTING.solve(ROUTING.parse(DIAGONAL.replace("car", "truck")))


def test_every_route_cell_is_allowed_for_its_vehicle() -> None:
    for seed in range(40):
        puzzle = generated(seed, size=8)
        vehicle = {t: v for v, t in VEHICLE_TOKEN.items()}[int(puzzle[0, 0])]
        hour = int(puzzle[0, 1]) - HOUR_0
        for r, c in route_cells(ROUTING.solve(puzzle)):
            assert cell_cost(int(puzzle[1 + r, c]), vehicle, hour) is not None


# --------------------------------------------------------------------- generation


def test_generate_is_deterministic_for_a_seed() -> None:
    assert np.array_equal(generated(7), generated(7))
    assert np.array_equal(generated(7, size=20), generated(7, size=20))
    assert not np.array_equal(generated(7), generated(8))


def test_generated_scenarios_are_well_formed_and_routable() -> None:
    seen_vehicles, seen_hours = set(), set()
    for seed in range(80):
        size = 6 + seed % 7
        puzzle = generated(seed, size=size)
        assert puzzle.shape == (size + 1, size) and puzzle.dtype == np.uint8
        ROUTING.check_puzzle(puzzle)  # header, tokens, one S and one E, a route
        assert dijkstra_cost(puzzle) > 0
        seen_vehicles.add(int(puzzle[0, 0]))
        seen_hours.add(int(puzzle[0, 1]) - HOUR_0)
        (sr, sc), (er, ec) = (np.argwhere(puzzle[1:] == t)[0] for t in (START, END))
        assert abs(sr - er) + abs(sc - ec) >= size // 2
    assert seen_vehicles == set(VEHICLE_TOKEN.values()) and seen_hours <= set(range(24))
    assert len(seen_hours) > 12


def test_a_forty_by_forty_city() -> None:
    puzzle = generated(3, size=40)
    assert puzzle.shape == (41, 40)
    assert ROUTING.optimal_cost(puzzle) == dijkstra_cost(puzzle)


def test_generate_gives_up_with_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(
        routing.city, "_draw_city", lambda rng, size: np.full((size, size), BUILDING, np.uint8)
    )
    with pytest.raises(UserError, match=r"could not generate a routable 8x8 city .* in 5 tries"):
        generated(0, size=8, max_tries=5)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"size": 5}, "size must be an integer in 6..40"),
        ({"size": 41}, "size must be an integer in 6..40"),
        ({"size": 10.0}, "size must be an integer"),
        ({"vehicle": "boat"}, "unknown vehicle 'boat'"),
        ({"max_tries": 0}, "max_tries must be"),
        ({"min_distance": 0}, r"min_distance must be an integer in 1\.\.18"),
    ],
)
def test_generate_rejects_bad_parameters(params: dict, words: str) -> None:
    with pytest.raises(UserError, match=words):
        generated(0, **params)


# --------------------------------------------------------------------- canvas

# sha256 of 18 default scenarios, computed before `canvas` existed: the default is unchanged.
DEFAULT_FINGERPRINT = "7aaccd8b083bb198"


def test_default_scenarios_did_not_change() -> None:
    import hashlib

    digest = hashlib.sha256()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        for size in (6, 8, 10):
            digest.update(ROUTING.generate(rng, size=size).tobytes())
    assert digest.hexdigest()[:16] == DEFAULT_FINGERPRINT


def test_a_canvas_of_the_city_size_is_no_canvas() -> None:
    for seed in range(5):
        assert np.array_equal(generated(seed, size=8), generated(seed, size=8, canvas=8))


@pytest.mark.parametrize(("size", "canvas"), [(6, 8), (6, 10), (9, 12)])
def test_a_small_city_on_a_canvas(size: int, canvas: int) -> None:
    for seed in range(8):
        puzzle = generated(seed, size=size, canvas=canvas)
        # Same shape and token count as a canvas-sized city, and the same draws as without it.
        assert puzzle.shape == generated(seed, size=canvas).shape == (canvas + 1, canvas)
        assert ROUTING.encode(puzzle).shape == ((canvas + 1) * canvas,)
        assert ROUTING.grid_shape((canvas + 1) * canvas) == (canvas + 1, canvas)
        small = generated(seed, size=size)
        assert np.array_equal(puzzle[1:][:size, :size], small[1:])
        assert routing.read_header(puzzle) == routing.read_header(small)
        outside = np.ones((canvas, canvas), dtype=bool)
        outside[:size, :size] = False
        assert (puzzle[1:][outside] == BUILDING).all()
        # Well-formed and routable at the same cost; the route stays inside the city.
        assert ROUTING.parse_puzzle(ROUTING.format(puzzle)).tolist() == puzzle.tolist()
        assert ROUTING.optimal_cost(puzzle) == ROUTING.optimal_cost(small) == dijkstra_cost(puzzle)
        answer = ROUTING.solve(puzzle)
        assert not (answer[1:][outside] == ROUTE).any()
        assert ROUTING.verify(puzzle, answer)["exact"] is True


@pytest.mark.parametrize("canvas", [7, 41, 10.0])
def test_a_bad_canvas_is_refused(canvas) -> None:
    with pytest.raises(UserError, match=r"canvas must be an integer in 8\.\.40"):
        generated(0, size=8, canvas=canvas)


# --------------------------------------------------------------------- verifier


def test_verifier_metrics_on_hand_made_answers() -> None:
    puzzle = ROUTING.parse(TWO_WAYS)
    oracle = ROUTING.verify(puzzle, mark(puzzle, TOP_WAY), reference=mark(puzzle, TOP_WAY))
    assert oracle == {
        "exact": True,
        "path_ratio": 4 / 12,
        "valid_path_ratio": 1.0,
        "connectivity": 1.0,
        "valid_route": 1.0,
        "path_f1": 1.0,
        "cost_ratio": 1.0,
        "grid_kept": True,
    }
    gap = ROUTING.verify(puzzle, mark(puzzle, TOP_WAY[:2] + TOP_WAY[3:]), mark(puzzle, TOP_WAY))
    assert gap["connectivity"] == 0.0 and gap["cost_ratio"] == 0.0 and not gap["exact"]
    assert gap["path_ratio"] == 3 / 12 and gap["path_f1"] == pytest.approx(6 / 7)
    through_building = [(1, 1), (2, 1), (3, 1), (3, 2)]  # (2, 1) is a building
    wall = ROUTING.verify(puzzle, mark(puzzle, through_building))
    assert wall["connectivity"] == 1.0 and wall["valid_path_ratio"] == 0.75
    assert wall["cost_ratio"] == 0.0 and wall["valid_route"] == 0.0 and not wall["exact"]


def test_a_different_optimal_route_is_exact() -> None:
    puzzle = ROUTING.parse(TWO_WAYS)
    stored = mark(puzzle, TOP_WAY)
    other = ROUTING.verify(puzzle, mark(puzzle, BOTTOM_WAY), reference=stored)
    assert other["exact"] is True and other["cost_ratio"] == 1.0 and other["path_f1"] == 0.0


def test_a_costlier_route_has_its_cost_ratio() -> None:
    puzzle = ROUTING.parse(TRUCK_DETOUR.replace("truck", "car"))
    road = [(2, 0), (3, 0), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5), (2, 5)]
    verdict = ROUTING.verify(puzzle, mark(puzzle, road))
    assert verdict["connectivity"] == 1.0 and verdict["valid_path_ratio"] == 1.0
    assert verdict["cost_ratio"] == pytest.approx(17 / 13) and not verdict["exact"]
    assert verdict["valid_route"] == 1.0


def test_a_truck_on_the_street_is_invalid() -> None:
    puzzle = ROUTING.parse(TRUCK_DETOUR)
    verdict = ROUTING.verify(puzzle, mark(puzzle, [(1, 1), (1, 2), (1, 3), (1, 4)]))
    assert verdict["connectivity"] == 1.0 and verdict["valid_path_ratio"] == 0.0
    assert verdict["cost_ratio"] == 0.0 and not verdict["exact"]


def test_a_changed_header_or_city_is_not_exact() -> None:
    puzzle = ROUTING.parse(TWO_WAYS)
    answer = mark(puzzle, TOP_WAY)
    answer[0, 1] = HOUR_0 + 8
    assert ROUTING.verify(puzzle, answer)["grid_kept"] is False
    assert ROUTING.verify(puzzle, answer)["exact"] is False
    answer = mark(puzzle, TOP_WAY)
    answer[2, 1] = STREET  # a building paved over
    assert ROUTING.verify(puzzle, answer)["exact"] is False


def test_adjacent_start_and_end_need_no_route() -> None:
    puzzle = ROUTING.parse("vehicle=van hour=9\nSE\n..\n")
    verdict = ROUTING.verify(puzzle, puzzle)
    assert verdict["exact"] is True and verdict["valid_path_ratio"] == 1.0


def scattered_allowed_cells(puzzle: np.ndarray) -> list[tuple[int, int]]:
    """Allowed road cells, no two touching (even at corners), none touching S or E."""
    vehicle = {t: v for v, t in VEHICLE_TOKEN.items()}[int(puzzle[0, 0])]
    hour = int(puzzle[0, 1]) - HOUR_0
    city = puzzle[1:]
    taken = [tuple(np.argwhere(city == t)[0]) for t in (START, END)]
    chosen = []
    for r, c in np.argwhere(city != BUILDING).tolist():
        if cell_cost(int(city[r, c]), vehicle, hour) is None or city[r, c] == END:
            continue
        if all(max(abs(r - a), abs(c - b)) > 1 for a, b in taken):
            chosen.append((1 + r, c))
            taken.append((r, c))
    return chosen


@pytest.mark.parametrize("seed", range(8))
def test_the_cheats_score_zero_and_the_metrics_say_why(seed: int) -> None:
    puzzle = generated(seed, size=10)
    is_endpoint = np.isin(puzzle, (START, END))
    is_endpoint[0] = True  # keep the header: the strongest form of each cheat

    everything = np.where(is_endpoint, puzzle, ROUTE).astype(np.uint8)
    v = ROUTING.verify(puzzle, everything)
    assert not v["exact"] and v["path_ratio"] > 0.9 and v["valid_path_ratio"] < 0.7
    assert v["connectivity"] == 0.0 and v["cost_ratio"] == 0.0

    copy = ROUTING.verify(puzzle, puzzle.copy())
    assert not copy["exact"] and copy["path_ratio"] == 0.0 and copy["connectivity"] == 0.0
    assert copy["valid_path_ratio"] == 0.0 and copy["path_f1"] == 0.0 and copy["grid_kept"]

    cells = scattered_allowed_cells(puzzle)
    assert len(cells) >= 3
    scattered = ROUTING.verify(puzzle, mark(puzzle, cells))
    assert not scattered["exact"] and scattered["valid_path_ratio"] == 1.0
    assert scattered["connectivity"] == 0.0 and scattered["cost_ratio"] == 0.0


def test_verifier_never_crashes_on_garbage() -> None:
    puzzle = generated(0)
    zero = ROUTING.verify(puzzle, np.zeros((3, 3), dtype=np.int64))
    assert zero["exact"] is False and not any(zero.values())
    assert ROUTING.verify(puzzle, puzzle.astype(np.float32))["exact"] is False
    assert ROUTING.verify(puzzle, "not a grid")["exact"] is False
    rng = np.random.default_rng(0)
    for _ in range(20):
        noise = rng.integers(-5, 300, size=puzzle.shape)
        verdict = ROUTING.verify(puzzle, noise)
        assert verdict["exact"] is False and 0.0 <= verdict["path_ratio"] <= 1.0


def test_verify_refuses_a_malformed_puzzle() -> None:
    answer = ROUTING.solve(ROUTING.parse(TWO_WAYS))
    with pytest.raises(UserError, match="route cells"):
        ROUTING.verify(answer, answer)


# --------------------------------------------------------------------- text format


@pytest.mark.parametrize("size", [6, 10, 23])
def test_parse_format_round_trip(size: int) -> None:
    puzzle = generated(size, size=size)
    for grid in (puzzle, ROUTING.solve(puzzle)):
        text = ROUTING.format(grid)
        assert text.splitlines()[0].startswith("vehicle=") and len(text.splitlines()) == size + 1
        assert np.array_equal(ROUTING.parse(text), grid)


def test_parse_accepts_either_header_order_and_trailing_blanks() -> None:
    a = ROUTING.parse(TWO_WAYS)
    b = ROUTING.parse("hour=3   vehicle=car\r\nS...  \n.##.\n...E\n\n\n")
    assert np.array_equal(a, b)
    assert a[0].tolist() == [VEHICLE_TOKEN["car"], HOUR_0 + 3, VEHICLE_TOKEN["car"], HOUR_0 + 3]


BAD_TEXT = {
    "empty": ("", "empty routing file"),
    "no_rows": ("vehicle=car hour=3\n", "no city rows"),
    "no_header": ("S...\n.##.\n...E\n", "header line must be 'vehicle=NAME hour=H'"),
    "missing_hour": ("vehicle=car\nS.E\n", "header line must be"),
    "unknown_vehicle": ("vehicle=boat hour=3\nS.E\n", "unknown vehicle 'boat'"),
    "hour_24": ("vehicle=car hour=24\nS.E\n", r"hour must be an integer in 0\.\.23, got '24'"),
    "hour_negative": ("vehicle=car hour=-1\nS.E\n", "hour must be an integer in 0..23"),
    "hour_word": ("vehicle=car hour=noon\nS.E\n", "hour must be an integer"),
    "unknown_char": (
        "vehicle=car hour=3\nS.?E\n",
        r"unknown character '\?' at city row 1, column 3",
    ),  # fmt: skip
    "ragged": (
        "vehicle=car hour=3\nS..\n..\n.E.\n",
        r"city row 2 \(line 3\) has 2 cells, expected 3",
    ),  # fmt: skip
    "no_start": ("vehicle=car hour=3\n...\n..E\n", r"found 0 starts \(S\)"),
    "two_ends": ("vehicle=car hour=3\nS.E\n..E\n", r"found 2 ends \(E\)"),
    "narrow": ("vehicle=car hour=3\nS\nE\n", "at least 2 cells wide"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEXT))
def test_parse_rejects_bad_text_in_one_line(case: str) -> None:
    text, words = BAD_TEXT[case]
    with pytest.raises(UserError, match=words) as info:
        ROUTING.parse(text)
    assert "\n" not in str(info.value)


def test_parse_puzzle_rejects_a_route_and_an_unroutable_city() -> None:
    with pytest.raises(UserError, match="route cells"):
        ROUTING.parse_puzzle("vehicle=car hour=3\nSoE\n...\n")
    with pytest.raises(UserError, match="no route from S to E for a car at hour 3"):
        ROUTING.parse_puzzle("vehicle=car hour=3\nS#E\n~#.\n")


# --------------------------------------------------------------------- codec, registry, pictures


def test_encode_decode_and_grid_shape() -> None:
    puzzle = generated(1, size=10)
    tokens = ROUTING.encode(puzzle)
    assert tokens.dtype == np.int64 and tokens.shape == (110,)
    assert ROUTING.grid_shape(110) == (11, 10) and ROUTING.grid_shape(41 * 40) == (41, 40)
    assert np.array_equal(ROUTING.decode(tokens, ROUTING.grid_shape(110)), puzzle)
    noisy = tokens.copy()
    noisy[:2] = [-1, 99]
    assert ROUTING.decode(noisy, (11, 10)).reshape(-1)[:2].tolist() == [PAD, PAD]
    with pytest.raises(UserError, match=r"\(side \+ 1\) \* side tokens; got 100"):
        ROUTING.grid_shape(100)


def test_registered_under_its_name() -> None:
    task = tasks.get("routing")
    assert task is ROUTING and isinstance(task, Task) and "routing" in tasks.names()
    assert task.vocab_size == HOUR_0 + 24 and len(VEHICLES) == 4


def test_render_ascii_and_png(tmp_path) -> None:
    puzzle = generated(2)
    answer = ROUTING.solve(puzzle)
    assert ROUTING.render_ascii(answer) == ROUTING.format(answer)
    garbage = np.full_like(puzzle, 200)
    assert ROUTING.render_ascii(garbage).startswith("vehicle=? hour=?")
    verdict = ROUTING.verify(puzzle, garbage)
    out = ROUTING.render_png(tmp_path / "r.png", [(puzzle, garbage, answer, verdict)], ["ex 0"])
    assert out.read_bytes()[:4] == b"\x89PNG"
