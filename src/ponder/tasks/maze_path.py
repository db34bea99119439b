"""The path-sequence view of mazes: the answer as the ordered cells of a route S -> G.

The grid-to-grid formulation (maze.py) marks path cells on the grid; this one reads the
same puzzles and emits the route as flat cell indices. A route is judged by turning it into
a grid answer and asking the maze verifier, so both formulations share one notion of
"exact" (valid, connected, optimal; any shortest route counts). Routes that leave the grid,
jump, revisit or stop early are scored, never raised on.
"""

from __future__ import annotations

import numpy as np
import torch

from ponder.tasks.maze import GOAL, OPEN, PATH, START, WALL, MazeTask

PASSABLE = (OPEN, START, GOAL, PATH)
_MAZE = MazeTask()


def route_from_solution(solution: np.ndarray) -> list[int]:
    """The ordered route S, path cells..., G of a solved grid (H, W). On a shortest route no
    two cells that are not consecutive touch, so the walk is unique."""
    height, width = solution.shape
    flat = solution.reshape(-1)
    start, goal = int(np.flatnonzero(flat == START)[0]), int(np.flatnonzero(flat == GOAL)[0])
    on_route = set(np.flatnonzero(flat == PATH).tolist()) | {goal}
    route, cell = [start], start
    while cell != goal:
        nxt = [n for n in _neighbours(cell, height, width) if n in on_route]
        if len(nxt) != 1:
            raise ValueError(f"the solution's path is not a simple route at cell {cell}")
        cell = nxt[0]
        on_route.discard(cell)
        route.append(cell)
    return route


def extract_routes(inputs: np.ndarray, labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(N, L) solved grids -> (N, P) int64 routes padded with -1, P the longest route."""
    routes = [route_from_solution(np.asarray(y).reshape(shape)) for y in labels]
    out = np.full((len(routes), max(map(len, routes))), -1, dtype=np.int64)
    for i, route in enumerate(routes):
        out[i, : len(route)] = route
    return out


def route_to_answer(puzzle: np.ndarray, route: list[int]) -> np.ndarray:
    """A grid answer with PATH on the route's cells between S and G (others as given).
    Cells off the grid or on walls are skipped: the verifier then finds the gap."""
    answer = puzzle.copy()
    flat = answer.reshape(-1)
    for cell in route:
        if 0 <= cell < flat.size and flat[cell] == OPEN:
            flat[cell] = PATH
    return answer


def judge_route(puzzle: np.ndarray, route: list[int]) -> dict[str, float | bool]:
    """Path metrics of one decoded route: exact (the maze verifier accepts it), valid (every
    move is to an open 4-neighbour, no revisits, starts at S), reached_goal (a valid route
    that ends at G), length_ratio (shortest moves / moves when reached, else 0) and
    first_error (index of the first bad route position; -1 when there is none)."""
    height, width = puzzle.shape
    flat = puzzle.reshape(-1)
    start = int(np.flatnonzero(flat == START)[0])
    first_error = _first_error(flat, route, start, height, width)
    valid = first_error == -1
    reached = valid and len(route) > 1 and flat[route[-1]] == GOAL
    shortest = _MAZE.shortest_path_length(puzzle)
    moves = len(route) - 1
    exact = reached and bool(_MAZE.verify(puzzle, route_to_answer(puzzle, route))["exact"])
    return {
        "exact": exact,
        "valid": valid,
        "reached_goal": reached,
        "length_ratio": shortest / moves if reached else 0.0,
        "first_error": first_error,
    }


def _first_error(flat, route: list[int], start: int, height: int, width: int) -> int:
    if not route or route[0] != start:
        return 0
    seen = {start}
    for i in range(1, len(route)):
        cell = route[i]
        bad_cell = not 0 <= cell < flat.size or flat[cell] == WALL or cell in seen
        if bad_cell or cell not in _neighbours(route[i - 1], height, width):
            return i
        seen.add(cell)
        if flat[cell] == GOAL and i < len(route) - 1:
            return i + 1  # moves past the goal
    return -1


def _neighbours(cell: int, height: int, width: int) -> list[int]:
    r, c = divmod(cell, width)
    steps = ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
    return [rr * width + cc for rr, cc in steps if 0 <= rr < height and 0 <= cc < width]


# ------------------------------------------------------------------ batched (torch) helpers


def grid_adjacency(shape: tuple[int, int], device=None) -> torch.Tensor:
    """(L, L) bool: cells i and j are 4-neighbours on the grid."""
    height, width = shape
    idx = torch.arange(height * width, device=device)
    r, c = idx // width, idx % width
    manhattan = (r[:, None] - r[None, :]).abs() + (c[:, None] - c[None, :]).abs()
    return manhattan == 1


def open_neighbour_mask(inputs: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """inputs (B, L) puzzle tokens -> (B, L, L) bool: j is a passable 4-neighbour of i."""
    passable = torch.isin(inputs, torch.tensor(PASSABLE, device=inputs.device))  # (B, L)
    return grid_adjacency(shape, inputs.device)[None] & passable[:, None, :]


@torch.no_grad()
def greedy_routes(
    next_logits: torch.Tensor,
    inputs: torch.Tensor,
    shape: tuple[int, int],
    max_moves: int,
    constrained: bool = True,
    legal_only: bool = False,
) -> torch.Tensor:
    """Follow the next-cell pointers from S: next_logits (B, L, L), row i scoring the cell
    after i. `legal_only` picks among passable 4-neighbours (the model's choice set when it
    was trained with the validity mask); `constrained` also skips visited cells, so every
    emitted route is legal (a row with no move left stops). Returns (B, max_moves + 1)
    routes padded with -1; a route stops at G."""
    b, length = inputs.shape
    rows = torch.arange(b, device=inputs.device)
    cell = (inputs == START).float().argmax(dim=1)  # (B,)
    allowed = open_neighbour_mask(inputs, shape)  # (B, L, L)
    visited = torch.zeros(b, length, dtype=torch.bool, device=inputs.device)
    visited[rows, cell] = True
    done = torch.zeros(b, dtype=torch.bool, device=inputs.device)
    routes = torch.full((b, max_moves + 1), -1, dtype=torch.long, device=inputs.device)
    routes[:, 0] = cell
    for step in range(1, max_moves + 1):
        scores = next_logits[rows, cell].float()  # (B, L)
        if constrained or legal_only:
            ok = allowed[rows, cell] & ~visited if constrained else allowed[rows, cell]
            done |= ~ok.any(dim=1)  # no move left: stop rather than make an illegal one
            scores = scores.masked_fill(~ok, float("-inf"))
        nxt = scores.argmax(dim=1)
        routes[:, step] = torch.where(done, -1, nxt)
        cell = torch.where(done, cell, nxt)
        visited[rows, cell] = True
        done |= inputs[rows, cell] == GOAL
    return routes
