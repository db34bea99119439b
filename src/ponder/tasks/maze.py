"""Maze task: shortest S->G route in a grid maze (HRM Maze-Hard vocabulary).

Walls are cells. Rooms sit at odd (row, col); the cells between two rooms (one odd and one
even coordinate) are the walls the generator may carve. An answer is the puzzle with PATH
on the cells strictly between S and G of a route; the verifier accepts any shortest route,
not only the oracle's.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.base import RouteLayout
from ponder.tasks.grids import PanelStyle, decode_grid, encode_grid, path_f1, render_rows_png
from ponder.tasks.maze_families import family_sampler
from ponder.tasks.route_errors import error_sites

# Token ids, as in HRM's Maze-Hard data (PAD=0 so padding never looks like a maze cell).
PAD, WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4, 5
VOCAB_SIZE = 6
# Generated maze sides. A model reads size * size tokens: 201 is ~40k, far past HRM's hardest
# mazes (30x30), the largest side that size-agnostic models are judged on (DeepThinking's
# 201x201); the bound turns a typo like 100000001 into an error, not a MemoryError.
MIN_SIZE, MAX_SIZE = 5, 201
DEFAULT_WALL_DENSITY = 0.3  # obstacle grids: share of wall cells

_CHAR_TO_TOKEN = {"#": WALL, " ": OPEN, ".": OPEN, "S": START, "G": GOAL, "o": PATH}
_TOKEN_TO_CHAR = {WALL: "#", OPEN: " ", START: "S", GOAL: "G", PATH: "o"}
_UNKNOWN_CHAR = "?"  # PAD or an out-of-range id: shown, but parse() rejects it
_PASSABLE = (OPEN, START, GOAL, PATH)
_PUZZLE_TOKENS = (WALL, OPEN, START, GOAL)

# Panel colours, indexed by token id: PAD, WALL, OPEN, START, GOAL, PATH.
_COLOURS = ["#ff00ff", "#222222", "#f4f4f4", "#2ca02c", "#d62728", "#1f77b4"]
_STYLE = PanelStyle(_COLOURS, pad_id=PAD)


class MazeTask:
    """Generator, oracle, verifier, codec, text format and renderer for mazes."""

    name = "maze"
    vocab_size = VOCAB_SIZE
    pad_id = PAD
    ignore_label_id = PAD
    augmentations = ("dihedral",)  # rotations and flips of a maze are mazes
    route_layout = RouteLayout(PATH, (START, GOAL), (), header_rows=0, reveal=(OPEN, PATH))
    path_answers = True  # the answer is the route S ... G (ponder.tasks.maze_path)
    given_tokens = (WALL, START, GOAL)  # an answer keeps these cells of the puzzle
    hints = ("dead_end_fill",)  # grid.hint: ponder.tasks.maze_hints

    # ----------------------------------------------------------------- generation

    def generate(
        self,
        rng: np.random.Generator,
        size: int = 15,
        min_path: int = 0,
        loop_fraction: float = 0.0,
        max_tries: int = 1000,
        family: str | None = None,
        wall_density: float | None = None,
        min_size: int | None = None,
    ) -> np.ndarray:
        """A (size, size) puzzle whose shortest S->G route has at least `min_path` moves.

        family "dfs" (default, None): a maze carved by randomised depth-first search, walls
        as cells (size odd: (size - 1) / 2 rooms a side; size even: the maze of size - 1 with
        one more wall row and column), `loop_fraction` of the remaining walls knocked out.
        family "obstacles": every cell a wall with probability `wall_density` (default
        0.3); S and G on random open cells; drawn again until the route is long enough.
        family "searchformer": the random-wall generator Maze-Hard was drawn from (30..50%
        walls, ponder.tasks.maze_families), the goal drawn at least min_path moves away.
        min_size: mazes of mixed sizes in one dataset: each maze's side is drawn from
        min_size..size (odd sides for dfs) and the maze is placed at a random position on a
        size x size grid of walls, so one run trains on several sizes at once."""
        if min_size is not None:
            return self._smaller_on_walls(rng, size, min_size, min_path=min_path,
                                          loop_fraction=loop_fraction, max_tries=max_tries,
                                          family=family, wall_density=wall_density)  # fmt: skip
        if family in ("obstacles", "searchformer"):
            return self._random_walls(rng, size, min_path, wall_density, max_tries, family)
        if family not in (None, "dfs"):
            raise UserError(
                f"unknown maze family {family!r}: choose dfs, obstacles or searchformer"
            )
        if wall_density is not None:
            raise UserError("wall_density is for the obstacles family")
        _check_generate_args(size, min_path, loop_fraction, max_tries)
        size, min_path, max_tries = int(size), int(min_path), int(max_tries)
        failure = f"could not generate a {size}x{size} maze with a shortest path of at least {min_path} moves"
        most = _max_open_cells(size, loop_fraction) - 1  # a route visits each open cell once
        if min_path > most:
            raise UserError(f"{failure}: such a maze has at most {most} moves between two cells")
        # Walls are cells, so a DFS maze needs an odd side; an even side (12x12, as the
        # path-sequence benchmarks use) is the odd maze one smaller plus a wall row and column.
        odd = size - 1 + size % 2
        for _ in range(max_tries):
            puzzle = np.pad(_carve(rng, odd, loop_fraction), ((0, size - odd), (0, size - odd)),
                            constant_values=WALL)  # fmt: skip
            if self.shortest_path_length(puzzle) >= min_path:
                return puzzle
        raise UserError(f"{failure} in {max_tries} tries")

    def _smaller_on_walls(self, rng, size: int, min_size: int, **params) -> np.ndarray:
        if not isinstance(min_size, numbers.Integral) or not MIN_SIZE <= min_size <= size:
            raise UserError(
                f"min_size must be an integer in {MIN_SIZE}..size ({size}), got {min_size!r}"
            )
        dfs = (params["family"] or "dfs") == "dfs"
        sides = [s for s in range(int(min_size), int(size) + 1) if s % 2 == 1 or not dfs]
        side = sides[int(rng.integers(len(sides)))]
        inner = self.generate(rng, size=side, **params)
        top, left = (int(rng.integers(size - side + 1)) for _ in range(2))
        canvas = np.full((size, size), WALL, dtype=np.uint8)
        canvas[top : top + side, left : left + side] = inner
        return canvas

    def _random_walls(self, rng, size, min_path, wall_density, max_tries, family) -> np.ndarray:
        _check_generate_args(size, min_path, 0.0, max_tries)
        size, min_path = int(size), int(min_path)
        what, draw = family_sampler(family, size, min_path, wall_density, DEFAULT_WALL_DENSITY)
        for _ in range(max_tries):
            layout = draw(rng)
            puzzle = None if layout is None else _layout_grid(*layout)
            if puzzle is not None and self.shortest_path_length(puzzle) >= min_path:
                return puzzle
        raise UserError(
            f"could not generate a {size}x{size} {what} with "
            f"a shortest path of at least {min_path} moves in {max_tries} tries"
        )

    # ----------------------------------------------------------------- oracle

    def shortest_path_length(self, puzzle: np.ndarray) -> int:
        """Moves on a shortest S->G route, or -1 if G cannot be reached."""
        puzzle = np.asarray(puzzle)
        start, goal = _endpoints(puzzle)
        dist, _ = _bfs(puzzle, start)
        return dist.get(goal, -1)

    def solve(self, puzzle: np.ndarray) -> np.ndarray:
        """The oracle: the puzzle with PATH on one shortest route (fixed BFS tie-breaking)."""
        _check_tokens(puzzle)
        puzzle = np.asarray(puzzle)
        start, goal = _endpoints(puzzle)
        _, parent = _bfs(puzzle, start)
        if goal not in parent:
            raise UserError("no route from S to G")
        answer = puzzle.copy()
        flat = answer.reshape(-1)
        cell = parent[goal]
        while cell != start:
            flat[cell] = PATH
            cell = parent[cell]
        return answer

    # ----------------------------------------------------------------- verifier

    def verify(
        self, puzzle: np.ndarray, answer: np.ndarray, reference: np.ndarray | None = None
    ) -> dict[str, float | bool]:
        """Judge `answer` by the maze rules; any shortest route is exact.

        `reference` (default: the oracle's answer) only feeds `path_f1` and `cell_acc`.
        """
        _check_tokens(puzzle)
        puzzle = np.asarray(puzzle)
        answer = _as_grid(answer, puzzle.shape, "answer")
        reference = self.solve(puzzle) if reference is None else reference
        reference = _as_grid(reference, puzzle.shape, "reference")
        valid = _is_valid(puzzle, answer)
        moves = _route_moves(puzzle, answer)
        connected = moves >= 0
        optimal = connected and moves == self.shortest_path_length(puzzle)
        return {
            "valid": valid,
            "connected": connected,
            "optimal": optimal,
            "exact": valid and connected and optimal,
            "path_f1": path_f1(answer == PATH, reference == PATH),
            "cell_acc": float(np.mean(answer == reference)),
        }

    def error_sites(self, puzzle: np.ndarray, answer: np.ndarray, reference: np.ndarray) -> dict:
        """Where a failed answer's wrong cells sit (ponder.tasks.route_errors)."""
        p, routes = np.asarray(puzzle), (np.asarray(answer) == PATH, np.asarray(reference) == PATH)
        return error_sites(p != WALL, *routes, p == START, p == GOAL)

    # ----------------------------------------------------------------- codec

    def encode(self, grid: np.ndarray) -> np.ndarray:
        """Grid (H, W) -> int64 tokens (H * W,)."""
        return encode_grid(grid, "maze")

    def decode(self, tokens: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Tokens (H * W,) -> uint8 grid; ids outside 0..5 become PAD so they verify invalid."""
        return decode_grid(tokens, shape, VOCAB_SIZE, PAD, "maze")

    def grid_shape(self, seq_len: int) -> tuple[int, int]:
        """Mazes are square: (side, side) with side * side == seq_len."""
        side = math.isqrt(seq_len) if seq_len > 0 else 0
        if side == 0 or side * side != seq_len:
            raise UserError(f"a maze needs a square number of tokens, got {seq_len}")
        return side, side

    # ----------------------------------------------------------------- text format

    def parse(self, text: str) -> np.ndarray:
        """Text ('#' wall, ' ' or '.' open, 'S', 'G', 'o' path; one row a line) -> grid."""
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        while lines and lines[-1] == "":  # trailing newline / blank line; spaces stay cells
            lines.pop()
        if not lines:
            raise UserError("empty maze file: no rows")
        width = _usual_width(lines)
        for r, line in enumerate(lines, start=1):
            if len(line) != width:
                raise UserError(_ragged_row(r, line, width))
            for c, ch in enumerate(line, start=1):
                if ch not in _CHAR_TO_TOKEN:
                    raise UserError(f"unknown character {ch!r} at row {r}, column {c}")
        rows = [[_CHAR_TO_TOKEN[ch] for ch in line] for line in lines]
        return np.array(rows, dtype=np.uint8)

    def parse_puzzle(self, text: str) -> np.ndarray:
        """`parse`, then `check_puzzle`."""
        grid = self.parse(text)
        self.check_puzzle(grid)
        return grid

    def parse_answer(self, text: str, puzzle: np.ndarray) -> np.ndarray:
        """An answer to judge against `puzzle`: `parse`, then the puzzle's shape. A wrong
        answer (S or G overwritten, no route) parses: judging it is the verifier's job."""
        answer = self.parse(text)
        if answer.shape != np.shape(puzzle):
            raise UserError(
                f"answer has shape {_size(answer.shape)}, the puzzle {_size(puzzle.shape)}"
            )
        return answer

    def check_puzzle(self, grid: np.ndarray) -> None:
        """UserError unless `grid` is a solvable puzzle: one S, one G, no PATH, a route."""
        _check_tokens(grid)
        if self.shortest_path_length(grid) < 0:
            raise UserError("no route from S to G")

    def format(self, grid: np.ndarray) -> str:
        """Grid -> text, open cells as spaces; `parse(format(g)) == g` (PAD shows as '?')."""
        return _to_text(grid, _TOKEN_TO_CHAR)

    def render_ascii(self, grid: np.ndarray) -> str:
        """Like `format`, with open cells as '.' so they are visible in a terminal."""
        return _to_text(grid, {**_TOKEN_TO_CHAR, OPEN: "."})

    # ----------------------------------------------------------------- pictures

    def render_png(
        self,
        out_path: str | Path,
        rows: Sequence[tuple[Any, ...]],
        titles: Sequence[str] | None = None,
    ) -> Path:
        """One figure line per (puzzle, prediction, oracle[, verdict]) row, written atomically.

        `verdict` is a dict from `verify`; when given, the prediction panel says exact/wrong.
        `titles` (one per row) label the puzzle panels, e.g. with example ids.
        """
        return render_rows_png(out_path, rows, titles, _STYLE)


MAZE = MazeTask()


# --------------------------------------------------------------------- generation helpers


def _check_generate_args(size: int, min_path: int, loop_fraction: float, max_tries: int) -> None:
    if not isinstance(size, numbers.Integral) or not MIN_SIZE <= size <= MAX_SIZE:
        raise UserError(f"maze size must be an integer in {MIN_SIZE}..{MAX_SIZE}, got {size!r}")
    if not isinstance(min_path, numbers.Integral) or min_path < 0:
        raise UserError(f"min_path must be an integer >= 0, got {min_path!r}")
    if not isinstance(loop_fraction, numbers.Real) or not 0.0 <= loop_fraction <= 1.0:
        raise UserError(f"loop_fraction must be in [0, 1], got {loop_fraction!r}")
    if not isinstance(max_tries, numbers.Integral) or max_tries < 1:
        raise UserError(f"max_tries must be an integer >= 1, got {max_tries!r}")


def _max_open_cells(size: int, loop_fraction: float) -> int:
    """Open cells of any generated maze: the tree's, plus the knocked-out walls."""
    m = (size - 1) // 2  # rooms per side
    rooms = m * m
    separators = 2 * m * (m - 1)
    knocked = round(loop_fraction * (separators - (rooms - 1)))
    return 2 * rooms - 1 + knocked


def _layout_grid(walls: np.ndarray, start: int, goal: int) -> np.ndarray:
    """Puzzle tokens of a random-wall family's (walls, S, G)."""
    grid = np.where(walls, WALL, OPEN).astype(np.uint8)
    grid.reshape(-1)[start], grid.reshape(-1)[goal] = START, GOAL
    return grid


def _carve(rng: np.random.Generator, size: int, loop_fraction: float) -> np.ndarray:
    """One random puzzle: DFS spanning tree over rooms, optional loops, random S and G."""
    grid = bytearray([WALL]) * (size * size)  # flat, index = row * size + col
    _carve_tree(rng, grid, size)
    _knock_walls(rng, grid, size, loop_fraction)
    open_cells = [i for i, t in enumerate(grid) if t == OPEN]
    start, goal = rng.choice(len(open_cells), size=2, replace=False)
    grid[open_cells[start]] = START
    grid[open_cells[goal]] = GOAL
    return np.frombuffer(bytes(grid), dtype=np.uint8).reshape(size, size).copy()


def _carve_tree(rng: np.random.Generator, grid: bytearray, size: int) -> None:
    """Randomised depth-first search from a random room (iterative: no recursion limit)."""
    m = (size - 1) // 2
    rooms = [(2 * (k // m) + 1) * size + 2 * (k % m) + 1 for k in range(m * m)]
    # Every push consumes one uniform; m*m - 1 pushes, so draw them all at once (fast).
    uniforms = rng.random(m * m).tolist()
    first = rooms[int(rng.integers(m * m))]
    grid[first] = OPEN
    stack, pushes = [first], 0
    while stack:
        cell = stack[-1]
        r, c = divmod(cell, size)
        fresh = [  # unvisited rooms two cells away: up, down, left, right
            (r + dr) * size + c + dc
            for dr, dc in ((-2, 0), (2, 0), (0, -2), (0, 2))
            if 0 < r + dr < size - 1
            and 0 < c + dc < size - 1
            and grid[(r + dr) * size + c + dc] == WALL
        ]
        if not fresh:
            stack.pop()
            continue
        nxt = fresh[int(uniforms[pushes] * len(fresh))]
        pushes += 1
        grid[(cell + nxt) // 2] = OPEN  # the wall cell between the two rooms
        grid[nxt] = OPEN
        stack.append(nxt)


def _knock_walls(rng: np.random.Generator, grid: bytearray, size: int, fraction: float) -> None:
    """Open `fraction` of the remaining room-separating walls, which creates loops."""
    candidates = [
        r * size + c
        for r in range(1, size - 1)
        for c in range(1, size - 1)
        if (r + c) % 2 == 1 and grid[r * size + c] == WALL
    ]
    k = round(fraction * len(candidates))
    if k == 0:
        return
    for i in rng.choice(len(candidates), size=k, replace=False).tolist():
        grid[candidates[i]] = OPEN


# --------------------------------------------------------------------- oracle helpers


def _check_tokens(grid: np.ndarray) -> None:
    """UserError unless `grid` is 2-D puzzle tokens with exactly one S and one G."""
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.size == 0:
        raise UserError(f"a maze must be a non-empty 2-D grid, got shape {grid.shape}")
    n_path = int(np.sum(grid == PATH))
    if n_path:
        raise UserError(f"puzzle has {n_path} path cells (o); a puzzle must not contain a path")
    bad = np.setdiff1d(np.unique(grid), _PUZZLE_TOKENS)
    if bad.size:
        raise UserError(f"puzzle holds token {int(bad[0])}, which is not a maze cell")
    for token, what in ((START, "starts (S)"), (GOAL, "goals (G)")):
        count = int(np.sum(grid == token))
        if count != 1:
            raise UserError(f"found {count} {what}; a maze needs exactly one")


def _endpoints(grid: np.ndarray) -> tuple[int, int]:
    """Flat indices of the single S and G."""
    flat = np.asarray(grid).reshape(-1)
    starts, goals = np.flatnonzero(flat == START), np.flatnonzero(flat == GOAL)
    if len(starts) != 1 or len(goals) != 1:
        raise UserError(
            f"found {len(starts)} starts (S) and {len(goals)} goals (G); a maze needs one of each"
        )
    return int(starts[0]), int(goals[0])


def _neighbours(cell: int, height: int, width: int) -> list[int]:
    """4-neighbours of a flat index, in a fixed order (up, left, right, down)."""
    r, c = divmod(cell, width)
    out = []
    if r > 0:
        out.append(cell - width)
    if c > 0:
        out.append(cell - 1)
    if c < width - 1:
        out.append(cell + 1)
    if r < height - 1:
        out.append(cell + width)
    return out


def _bfs(grid: np.ndarray, start: int) -> tuple[dict[int, int], dict[int, int]]:
    """Distances and parents from `start` over passable cells (first discovery wins)."""
    height, width = grid.shape
    passable = np.isin(grid, _PASSABLE).reshape(-1).tolist()
    dist, parent = {start: 0}, {start: start}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        for nxt in _neighbours(cell, height, width):
            if passable[nxt] and nxt not in dist:
                dist[nxt] = dist[cell] + 1
                parent[nxt] = cell
                queue.append(nxt)
    return dist, parent


# --------------------------------------------------------------------- verifier helpers


def _as_grid(grid: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    grid = np.asarray(grid)
    if grid.shape != shape:
        raise UserError(f"{what} has shape {grid.shape} but the puzzle has shape {shape}")
    return grid


def _is_valid(puzzle: np.ndarray, answer: np.ndarray) -> bool:
    """Fixed cells (WALL, S, G) unchanged; every other cell OPEN or PATH."""
    fixed = np.isin(puzzle, (WALL, START, GOAL))
    same = bool(np.all(answer[fixed] == puzzle[fixed]))
    free_ok = bool(np.all(np.isin(answer[~fixed], (OPEN, PATH))))
    return same and free_ok


def _route_moves(puzzle: np.ndarray, answer: np.ndarray) -> int:
    """Moves of the simple route S -> PATH cells -> G, or -1 if they do not form one.

    S and G must have one route neighbour each and every PATH cell two, all in one
    connected piece: that rules out gaps, branches, stray cells and detached cycles.
    """
    height, width = puzzle.shape
    start, goal = _endpoints(puzzle)
    route = set(np.flatnonzero(answer.reshape(-1) == PATH).tolist()) | {start, goal}
    for cell in route:
        degree = sum(n in route for n in _neighbours(cell, height, width))
        if degree != (1 if cell in (start, goal) else 2):
            return -1
    seen, stack = {start}, [start]
    while stack:
        for nxt in _neighbours(stack.pop(), height, width):
            if nxt in route and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return len(route) - 1 if len(seen) == len(route) else -1


# --------------------------------------------------------------------- text and pictures


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _usual_width(lines: list[str]) -> int:
    """The length most rows share (the first row's on a tie): a maze's open cells may be
    spaces, so one row with stray trailing spaces must not set the width for the others."""
    counts = Counter(len(line) for line in lines)
    return max(counts, key=lambda width: (counts[width], width == len(lines[0])))


def _ragged_row(row: int, line: str, width: int) -> str:
    """The message for row `row` (1-based) of the wrong length, pointing at stray spaces."""
    message = f"row {row} has {len(line)} cells, expected {width}"
    extra = len(line) - width
    if extra > 0 and not line[width:].strip(" "):
        message += f" (it ends in {extra} extra trailing space{'s' if extra > 1 else ''})"
    return message


def _to_text(grid: np.ndarray, chars: dict[int, str]) -> str:
    grid = np.asarray(grid)
    if grid.ndim != 2:
        raise UserError(f"a maze grid must be 2-D, got shape {grid.shape}")
    lines = ["".join(chars.get(t, _UNKNOWN_CHAR) for t in row) for row in grid.tolist()]
    return "\n".join(lines) + "\n"
