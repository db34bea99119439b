"""The path-sequence view of mazes: routes, legal-move masks, decoding and judging."""

import numpy as np
import pytest
import torch

from ponder.tasks.maze import GOAL, OPEN, START, WALL, MazeTask
from ponder.tasks.maze_path import (
    extract_routes,
    greedy_routes,
    judge_route,
    open_neighbour_mask,
    route_from_solution,
)

MAZE = MazeTask()
ROWS = ["#######", "#S    #", "##### #", "#     #", "# #####", "#    G#", "#######"]


def _puzzle():
    return MAZE.parse("\n".join(ROWS) + "\n")


def test_route_walks_from_start_to_goal():
    puzzle = _puzzle()
    route = route_from_solution(MAZE.solve(puzzle))
    assert route[0] == 8 and route[-1] == 5 * 7 + 5  # S at (1,1), G at (5,5)
    assert len(route) - 1 == MAZE.shortest_path_length(puzzle)
    assert judge_route(puzzle, route) == {
        "exact": True, "valid": True, "reached_goal": True, "length_ratio": 1.0, "first_error": -1,
    }  # fmt: skip


def test_extract_routes_pads_with_minus_one():
    rng = np.random.default_rng(0)
    puzzles = [MAZE.generate(rng, size=7, min_path=2) for _ in range(5)]
    labels = np.stack([MAZE.encode(MAZE.solve(p)) for p in puzzles])
    inputs = np.stack([MAZE.encode(p) for p in puzzles])
    routes = extract_routes(inputs, labels, (7, 7))
    for puzzle, route in zip(puzzles, routes, strict=True):
        cells = route[route >= 0].tolist()
        assert len(cells) - 1 == MAZE.shortest_path_length(puzzle)
        assert judge_route(puzzle, cells)["exact"]


@pytest.mark.parametrize(
    "change, first_error",
    [
        (lambda r: r[:3], -1),  # stops early: valid so far, never reaches the goal
        (lambda r: r[:2] + [r[1] + 7 * 3] + r[2:], 2),  # jumps
        (lambda r: r[:3] + [r[1]] + r[3:], 3),  # revisits
        (lambda r: r[:2] + [-5, 999] + r[2:], 2),  # leaves the grid
        (lambda r: [r[1]] + r[1:], 0),  # does not start at S
    ],
)
def test_bad_routes_are_scored_not_raised(change, first_error):
    puzzle = _puzzle()
    route = change(route_from_solution(MAZE.solve(puzzle)))
    verdict = judge_route(puzzle, route)
    assert verdict["first_error"] == first_error
    assert not verdict["exact"] and not verdict["reached_goal"] and verdict["length_ratio"] == 0


def test_a_longer_route_is_valid_but_not_exact():
    grid = np.full((5, 5), WALL, dtype=np.uint8)
    grid[1:4, 1:4] = OPEN
    grid[1, 1], grid[1, 3] = START, GOAL
    detour = [6, 11, 12, 13, 8]  # down, right, right, up: 4 moves against 2
    verdict = judge_route(grid, detour)
    assert verdict["valid"] and verdict["reached_goal"] and not verdict["exact"]
    assert verdict["length_ratio"] == 0.5


def test_mask_allows_exactly_the_open_four_neighbours():
    puzzle = _puzzle()
    inputs = torch.as_tensor(MAZE.encode(puzzle))[None]
    mask = open_neighbour_mask(inputs, (7, 7))[0]  # (49, 49)
    flat = puzzle.reshape(-1)
    for i in range(49):
        r, c = divmod(i, 7)
        expected = {
            (rr * 7 + cc)
            for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
            if 0 <= rr < 7 and 0 <= cc < 7 and flat[rr * 7 + cc] != WALL
        }
        assert set(torch.nonzero(mask[i]).flatten().tolist()) == expected, i


def test_constrained_decoding_never_makes_an_illegal_move():
    rng = np.random.default_rng(1)
    puzzles = [MAZE.generate(rng, size=9, min_path=4) for _ in range(16)]
    inputs = torch.as_tensor(np.stack([MAZE.encode(p) for p in puzzles]))
    torch.manual_seed(0)
    logits = torch.randn(16, 81, 81) * 5  # an untrained model's pointers
    routes = greedy_routes(logits, inputs, (9, 9), max_moves=40)
    for puzzle, route in zip(puzzles, routes, strict=True):
        cells = route[route >= 0].tolist()
        assert judge_route(puzzle, cells)["valid"], cells
    unconstrained = greedy_routes(logits, inputs, (9, 9), max_moves=40, constrained=False)
    verdicts = [
        judge_route(p, r[r >= 0].tolist()) for p, r in zip(puzzles, unconstrained, strict=True)
    ]
    assert not all(v["valid"] for v in verdicts)  # the constraint is what made them legal


def test_decoding_follows_perfect_pointers_to_the_goal():
    puzzle = _puzzle()
    route = route_from_solution(MAZE.solve(puzzle))
    logits = torch.zeros(1, 49, 49)
    for a, b in zip(route, route[1:], strict=False):
        logits[0, a, b] = 10.0
    inputs = torch.as_tensor(MAZE.encode(puzzle))[None]
    decoded = greedy_routes(logits, inputs, (7, 7), max_moves=48, constrained=False)[0]
    assert decoded[decoded >= 0].tolist() == route
    assert (decoded[len(route) :] == -1).all()
    assert inputs[0, route[-1]] == GOAL and inputs[0, route[0]] == START


def test_legal_only_decoding_moves_to_passable_neighbours_but_may_revisit():
    rng = np.random.default_rng(2)
    puzzles = [MAZE.generate(rng, size=9, min_path=4) for _ in range(16)]
    inputs = torch.as_tensor(np.stack([MAZE.encode(p) for p in puzzles]))
    torch.manual_seed(1)
    routes = greedy_routes(torch.randn(16, 81, 81), inputs, (9, 9), 40, constrained=False,
                           legal_only=True)  # fmt: skip
    revisits = 0
    for puzzle, route in zip(puzzles, routes, strict=True):
        cells = route[route >= 0].tolist()
        flat = puzzle.reshape(-1)
        for a, b in zip(cells, cells[1:], strict=False):
            assert abs(a // 9 - b // 9) + abs(a % 9 - b % 9) == 1 and flat[b] != WALL
        revisits += len(cells) != len(set(cells))
    assert revisits > 0  # only `constrained` rules revisits out
