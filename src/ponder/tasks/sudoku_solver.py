"""Sudoku oracle and generator: a bitmask solver with constraint propagation.

A board of side n = r * c (boxes of r rows and c columns) is a flat list of n * n cells
holding 0 (blank) or a digit 1..n. The solver keeps one candidate bitmask per cell (bit
d - 1 for digit d), propagates naked singles (a cell with one candidate removes it from its
peers) and hidden singles (a digit with one place left in a row, column or box goes there)
to a fixpoint, then guesses on a cell with the fewest candidates, depth first.

It counts solutions up to a limit (2 tells unique from not) and reports its work: `guesses`,
the number of search nodes where propagation alone did not finish and it had to branch.
That is the puzzle's difficulty rating here: 0 means singles solve it (an easy puzzle);
Sudoku-Extreme's `rating` is the same idea measured by tdoku's solver (its backtracks), so
the two scales agree in kind, not in number.

The search itself runs compiled by numba (ponder.tasks.sudoku_kernel, imported on first use
so that other commands do not pay for importing numba).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from ponder.errors import UserError

# Box shapes (rows, cols) by side: the sides whose digits fit the papers' tokens 2..10.
BOXES = {4: (2, 2), 6: (2, 3), 8: (2, 4), 9: (3, 3)}


@dataclass(frozen=True)
class Geometry:
    """Cells, units and peers of an n x n board with r x c boxes (precomputed once)."""

    n: int
    box: tuple[int, int]
    units: tuple[tuple[int, ...], ...]  # n rows, n columns, n boxes
    peers: tuple[tuple[int, ...], ...]  # per cell: the other cells of its three units
    box_of: tuple[int, ...]  # per cell: its box index
    full: int  # bitmask of every digit
    unit_array: np.ndarray  # (3n, n) int64: cell indices of each unit
    peer_array: np.ndarray  # (n * n, P) int64: each cell's peers (P is the same for all)
    popcount_array: np.ndarray  # (full + 1,) int64


@cache
def geometry(n: int) -> Geometry:
    if n not in BOXES:
        raise UserError(f"sudoku size must be one of {sorted(BOXES)}, got {n!r}")
    r, c = BOXES[n]
    rows = [tuple(i * n + j for j in range(n)) for i in range(n)]
    cols = [tuple(i * n + j for i in range(n)) for j in range(n)]
    box_of = tuple((i // r) * r + j // c for i in range(n) for j in range(n))
    boxes = [tuple(k for k in range(n * n) if box_of[k] == b) for b in range(n)]
    units = tuple(rows + cols + boxes)
    peers = []
    for k in range(n * n):
        i, j = divmod(k, n)
        near = set(rows[i]) | set(cols[j]) | set(boxes[box_of[k]])
        near.discard(k)
        peers.append(tuple(sorted(near)))
    full = (1 << n) - 1
    popcount = [bin(m).count("1") for m in range(full + 1)]
    return Geometry(
        n, (r, c), units, tuple(peers), box_of, full,
        np.asarray(units, dtype=np.int64), np.asarray(peers, dtype=np.int64),
        np.asarray(popcount, dtype=np.int64),
    )  # fmt: skip


@dataclass
class SolveResult:
    """Solutions found (at most the limit, each a list of n * n digits) and the work done."""

    solutions: list[list[int]]
    guesses: int  # search nodes that had to branch: the difficulty rating
    nodes: int  # search nodes visited (propagations run)

    @property
    def count(self) -> int:
        return len(self.solutions)


def _initial(board: list[int], geo: Geometry) -> tuple[np.ndarray, list[int]]:
    """Candidates (n * n,) and the cells to propagate first (the givens) for a board."""
    digits = np.asarray(board, dtype=np.int64)
    cand = np.where(digits > 0, np.left_shift(1, np.maximum(digits - 1, 0)), geo.full)
    # Two equal givens in a unit: the first propagation empties one, so no solution.
    return cand.astype(np.int64), np.flatnonzero(digits).tolist()


def _run(cand: np.ndarray, queue: list[int], geo: Geometry, order: np.ndarray, limit: int):
    from ponder.tasks.sudoku_kernel import search_kernel  # lazy: numba takes 0.4 s to import

    solutions = np.zeros((max(1, limit), geo.n * geo.n), dtype=np.int64)
    found, guesses, nodes = search_kernel(
        cand, np.asarray(queue, dtype=np.int64), geo.peer_array, geo.unit_array, geo.full,
        geo.popcount_array, order, solutions,
    )  # fmt: skip
    return solutions[:found].tolist(), int(guesses), int(nodes)


@cache
def _lowest_first(n: int) -> np.ndarray:
    """(n * n, n): every cell tries its digits in increasing order."""
    return np.tile(np.arange(n, dtype=np.int64), (n * n, 1))


def search(
    board: list[int], n: int, limit: int = 2, exclude: tuple[int, int] | None = None
) -> SolveResult:
    """Solutions of `board` (flat, 0 blank) up to `limit`, with the work done. `exclude`
    (cell, digit) forbids that digit in that cell (the generator's uniqueness test)."""
    geo = geometry(n)
    cand, queue = _initial(board, geo)
    if exclude is not None:
        cell, digit = exclude
        cand[cell] &= ~(1 << (digit - 1))
        if not cand[cell]:
            return SolveResult([], 0, 0)
        if not cand[cell] & (cand[cell] - 1):
            queue.append(cell)
    solutions, guesses, nodes = _run(cand, queue, geo, _lowest_first(n), limit)
    return SolveResult(solutions, guesses, nodes)


def has_clash(board: list[int], n: int) -> tuple[int, int] | None:
    """The first pair of cells (a, b), a < b, that hold the same given in one unit."""
    geo = geometry(n)
    for a, d in enumerate(board):
        if d:
            for b in geo.peers[a]:
                if b > a and board[b] == d:
                    return a, b
    return None


# --------------------------------------------------------------------------- generation


def random_full_grid(rng: np.random.Generator, n: int) -> list[int]:
    """A uniformly shuffled solved board: solve the empty board with random digit orders.

    The first row is a random permutation (every grid is reachable from one with its first
    row fixed by relabelling digits), then a search with a random digit order per cell
    completes it."""
    geo = geometry(n)
    board = [0] * (n * n)
    board[:n] = (rng.permutation(n) + 1).tolist()
    cand, queue = _initial(board, geo)
    order = rng.random((n * n, n)).argsort(axis=1).astype(np.int64)  # a digit order per cell
    solutions, _, _ = _run(cand, queue, geo, order, limit=1)
    if not solutions:
        raise AssertionError("a board with one valid row always has a solution")
    return solutions[0]


def carve(
    rng: np.random.Generator, solution: list[int], n: int, clues: int
) -> tuple[list[int], int]:
    """Remove clues from `solution` in random order while the solution stays unique, until
    `clues` remain or none can go; returns (puzzle, its rating)."""
    puzzle = list(solution)
    peers = geometry(n).peers
    left = n * n
    for k in rng.permutation(n * n).tolist():
        if left <= clues:
            break
        digit = puzzle[k]
        puzzle[k] = 0
        if len({puzzle[p] for p in peers[k]} - {0}) == n - 1:
            left -= 1  # the other givens leave only `digit` here: still unique, no search
            continue
        # Unique still iff no solution has another digit in cell k.
        if search(puzzle, n, limit=1, exclude=(k, digit)).count:
            puzzle[k] = digit
        else:
            left -= 1
    return puzzle, search(puzzle, n, limit=2).guesses


def generate_puzzle(
    rng: np.random.Generator, n: int, clues: int | None, min_rating: int, max_tries: int
) -> tuple[list[int], list[int], int] | None:
    """(puzzle, solution, rating) with a unique solution, `clues` givens (None: a minimal
    puzzle, from which no clue can go) and rating >= `min_rating`; None after `max_tries`
    grids."""
    for _ in range(max_tries):
        solution = random_full_grid(rng, n)
        puzzle, rating = carve(rng, solution, n, clues or 0)
        if (clues is None or sum(1 for d in puzzle if d) <= clues) and rating >= min_rating:
            return puzzle, solution, rating
    return None
