"""Sudoku task: fill an n x n grid so every row, column and box holds each digit once.

Boxes are r x c cells: 4x4 with 2x2 boxes, 6x6 with 2x3, 8x8 with 2x4, 9x9 with 3x3. Tokens
are the papers' (HRM/TRM Sudoku-Extreme): 0 pad, 1 blank, 2.. the digits (digit d is token
d + 1), so one vocabulary of 11 serves every size and a 9x9 dataset built by HRM's or TRM's
builder reads unchanged. The verifier judges by the rules alone: any valid completion that
keeps the givens is exact, whether or not it is the stored solution.

The solver and generator live in ponder.tasks.sudoku_solver; the dataset builds (generated
puzzles, the Sudoku-Extreme CSV import) and their augmentations (digit relabelling,
transposition, band/stack and row/column shuffles, each with its exact inverse) in
ponder.data.sudoku_build.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.grids import decode_grid, encode_grid, save_figure_atomic
from ponder.tasks.sudoku_solver import BOXES, geometry, has_clash, search
from ponder.tasks.sudoku_solver import generate_puzzle as _generate_puzzle

PAD, BLANK = 0, 1
DIGIT0 = 1  # token = DIGIT0 + digit, digit 1..n
VOCAB_SIZE = 11  # pad, blank, digits 1..9
SIZES = tuple(sorted(BOXES))
_BLANK_CHARS = ".0"


def to_board(grid: np.ndarray) -> list[int]:
    """Token grid (n, n) -> flat digits, 0 for a blank (and for pad or any unknown token)."""
    flat = np.asarray(grid, dtype=np.int64).reshape(-1)
    n = math.isqrt(flat.size)
    digits = flat - DIGIT0
    return np.where((digits >= 1) & (digits <= n), digits, 0).tolist()


def to_grid(board: Sequence[int], n: int) -> np.ndarray:
    """Flat digits (0 blank) -> token grid (n, n)."""
    digits = np.asarray(board, dtype=np.int64).reshape(n, n)
    return np.where(digits > 0, digits + DIGIT0, BLANK).astype(np.uint8)


class SudokuTask:
    """Generator, oracle, verifier, codec, text format and renderer for Sudoku."""

    name = "sudoku"
    vocab_size = VOCAB_SIZE
    pad_id = PAD
    ignore_label_id = PAD
    augmentations = ("sudoku",)  # relabel digits, transpose, shuffle bands/stacks and lines

    # ----------------------------------------------------------------- generation

    def generate(
        self,
        rng: np.random.Generator,
        size: int = 9,
        clues: int | None = None,
        min_rating: int = 0,
        max_tries: int = 200,
    ) -> np.ndarray:
        """A (size, size) puzzle with a unique solution: a random solved grid with clues
        removed in random order while the solution stays unique, down to `clues` givens
        (None: until no clue can go, a minimal puzzle), whose rating (the solver's guesses,
        ponder.tasks.sudoku_solver) is at least `min_rating`."""
        check_generate_args(size, clues, min_rating, max_tries)
        target = None if clues is None else int(clues)
        found = _generate_puzzle(rng, int(size), target, int(min_rating), int(max_tries))
        if found is None:
            what = "minimal" if clues is None else f"{clues}-clue"
            raise UserError(
                f"could not generate a {what} {size}x{size} sudoku with rating >= {min_rating} "
                f"in {max_tries} tries; ask for more clues or a lower --min-rating"
            )
        return to_grid(found[0], int(size))

    def rating(self, puzzle: np.ndarray) -> int:
        """The puzzle's difficulty: search nodes where the solver had to guess while
        proving the solution unique (0: naked and hidden singles solve it)."""
        board, n = self._board(puzzle)
        return search(board, n, limit=2).guesses

    # ----------------------------------------------------------------- oracle

    def count_solutions(self, puzzle: np.ndarray, limit: int = 2) -> int:
        """Solutions of `puzzle`, counted up to `limit` (2 tells unique from not)."""
        board, n = self._board(puzzle)
        return search(board, n, limit=limit).count

    def solve(self, puzzle: np.ndarray) -> np.ndarray:
        """The oracle: the solution (the first the search finds if there are several)."""
        board, n = self._board(puzzle)
        found = search(board, n, limit=1)
        if not found.count:
            raise UserError("this sudoku has no solution")
        return to_grid(found.solutions[0], n)

    # ----------------------------------------------------------------- verifier

    def verify(
        self, puzzle: np.ndarray, answer: np.ndarray, reference: np.ndarray | None = None
    ) -> dict[str, float | bool]:
        """Judge `answer` by the rules: every row, column and box holds each digit once and
        every given is kept. `valid_cells`: share of cells that break no rule (a digit,
        not repeated in its row, column or box, equal to the given where there is one).
        `cell_acc` compares with `reference` (default: the oracle's solution)."""
        puzzle = np.asarray(puzzle)
        n = _check_puzzle_shape(puzzle)
        answer = np.asarray(answer)
        if answer.shape != puzzle.shape:
            raise UserError(f"answer has shape {answer.shape}, the puzzle {puzzle.shape}")
        reference = self.solve(puzzle) if reference is None else np.asarray(reference)
        digits = np.asarray(answer, dtype=np.int64) - DIGIT0
        is_digit = (digits >= 1) & (digits <= n)
        given = (puzzle > BLANK).reshape(-1)
        kept = ~given | (answer.reshape(-1) == puzzle.reshape(-1))
        ok = is_digit.reshape(-1) & ~_repeated(np.where(is_digit, digits, 0).reshape(-1), n) & kept
        valid = bool(ok.all())
        return {
            "exact": valid,
            "valid_cells": float(ok.mean()),
            "givens_kept": bool(kept.all()),
            "filled": float(is_digit.mean()),
            "cell_acc": float(np.mean(answer == reference)),
        }

    # ----------------------------------------------------------------- codec

    def encode(self, grid: np.ndarray) -> np.ndarray:
        return encode_grid(grid, "sudoku")

    def decode(self, tokens: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Tokens -> grid; ids outside 0..10 become PAD, which the verifier rejects."""
        return decode_grid(tokens, shape, VOCAB_SIZE, PAD, "sudoku")

    def grid_shape(self, seq_len: int) -> tuple[int, int]:
        side = math.isqrt(seq_len) if seq_len > 0 else 0
        if side * side != seq_len or side not in BOXES:
            sizes = ", ".join(f"{s * s} ({s}x{s})" for s in SIZES)
            raise UserError(f"a sudoku has {sizes} cells, got {seq_len}")
        return side, side

    # ----------------------------------------------------------------- text format

    def parse(self, text: str) -> np.ndarray:
        """Digits with '.' or '0' for blanks: one line of n * n characters, or n lines of n.
        Spaces and blank lines are ignored."""
        lines = [line.replace(" ", "").replace("\t", "") for line in text.splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            raise UserError("empty sudoku file: no cells")
        if len(lines) == 1:
            n = math.isqrt(len(lines[0]))
            if n * n != len(lines[0]) or n not in BOXES:
                raise UserError(
                    f"a one-line sudoku needs {_cell_counts()} characters, got {len(lines[0])}"
                )
            lines = [lines[0][i * n : (i + 1) * n] for i in range(n)]
        n = len(lines)
        if n not in BOXES:
            raise UserError(f"a sudoku has {_sides()} rows, got {n}")
        grid = np.empty((n, n), dtype=np.uint8)
        for r, line in enumerate(lines):
            if len(line) != n:
                raise UserError(f"row {r + 1} has {len(line)} cells, expected {n}")
            for c, ch in enumerate(line):
                grid[r, c] = _cell_token(ch, n, r, c)
        return grid

    def parse_puzzle(self, text: str) -> np.ndarray:
        """`parse`, then `check_puzzle`."""
        grid = self.parse(text)
        self.check_puzzle(grid)
        return grid

    def check_puzzle(self, grid: np.ndarray, unique: bool = False) -> None:
        """UserError unless `grid` is a solvable puzzle (with `unique`, uniquely so):
        no given repeated in a row, column or box, and a solution exists."""
        board, n = self._board(grid)
        found = search(board, n, limit=2 if unique else 1).count
        if found == 0:
            raise UserError("this sudoku has no solution")
        if unique and found > 1:
            raise UserError("this sudoku has more than one solution")

    def parse_answer(self, text: str, puzzle: np.ndarray) -> np.ndarray:
        """An answer to judge: `parse`, then the puzzle's shape. Blanks and broken rules
        parse; judging them is the verifier's job."""
        answer = self.parse(text)
        if answer.shape != np.shape(puzzle):
            raise UserError(f"answer is {_size(answer.shape)}, the puzzle {_size(puzzle.shape)}")
        return answer

    def format(self, grid: np.ndarray) -> str:
        """One row per line, '.' for blanks; `parse(format(g)) == g` (pad shows as '?')."""
        grid = np.asarray(grid)
        return "\n".join("".join(_char(int(t)) for t in row) for row in grid.tolist()) + "\n"

    def render_ascii(self, grid: np.ndarray) -> str:
        """Rows with box separators, for a terminal."""
        grid = np.asarray(grid)
        n = grid.shape[0]
        r, c = BOXES.get(n, (n, n))
        rule = "+".join("-" * (2 * c + 1) for _ in range(n // c))
        out = []
        for i, row in enumerate(grid.tolist()):
            if i and i % r == 0:
                out.append(rule)
            cells = [_char(int(t)) for t in row]
            out.append("|".join(" " + " ".join(cells[j : j + c]) + " " for j in range(0, n, c)))
        return "\n".join(out) + "\n"

    # ----------------------------------------------------------------- pictures

    def render_png(
        self,
        out_path: str | Path,
        rows: Sequence[tuple[Any, ...]],
        titles: Sequence[str] | None = None,
    ) -> Path:
        """One figure line per (puzzle, prediction, oracle[, verdict]) row: givens in black,
        filled digits in blue, cells that break a rule (or are not digits) in red."""
        if not rows:
            raise UserError("render_png needs at least one row to draw")
        if titles is not None and len(titles) != len(rows):
            raise UserError(f"got {len(titles)} titles for {len(rows)} rows")
        from matplotlib.figure import Figure  # lazy: plotting is rarely needed

        fig = Figure(figsize=(9, 3.2 * len(rows)))
        axes = fig.subplots(len(rows), 3, squeeze=False)
        for i, row in enumerate(rows):
            if len(row) not in (3, 4):
                raise UserError(
                    f"a render row is (puzzle, prediction, oracle[, verdict]), got {len(row)} items"
                )
            verdict = row[3] if len(row) == 4 else None
            said = "" if not verdict else (": exact" if verdict.get("exact") else ": wrong")
            label = f"{titles[i]}: puzzle" if titles is not None else "puzzle"
            titles_i = (label, "prediction" + said, "oracle")
            for k, (ax, grid, title) in enumerate(zip(axes[i], row[:3], titles_i, strict=True)):
                _draw_board(ax, np.asarray(row[0]), np.asarray(grid), title, judge=k > 0)
        fig.tight_layout()
        return save_figure_atomic(fig, Path(out_path))

    # ----------------------------------------------------------------- helpers

    def _board(self, puzzle: np.ndarray) -> tuple[list[int], int]:
        """Flat digits of a puzzle grid after the token and clash checks."""
        puzzle = np.asarray(puzzle)
        n = _check_puzzle_shape(puzzle)
        bad = np.setdiff1d(np.unique(puzzle), np.arange(BLANK, DIGIT0 + n + 1))
        if bad.size:
            raise UserError(
                f"puzzle holds token {int(bad[0])}, which is not a blank or a digit 1..{n}"
            )
        board = to_board(puzzle)
        clash = has_clash(board, n)
        if clash is not None:
            raise UserError(_clash_message(clash, board, n))
        return board, n


SUDOKU = SudokuTask()


def _repeated(digits: np.ndarray, n: int) -> np.ndarray:
    """(n * n,) bool: the cell's digit (0: none) appears again in its row, column or box."""
    geo = geometry(n)
    units = np.asarray(geo.units)  # (3n, n) cell indices
    values = digits[units]  # (3n, n)
    onehot = values[..., None] == np.arange(1, n + 1)  # (3n, n, n)
    counts = onehot.sum(axis=1)  # (3n, n digits)
    dup = np.take_along_axis(counts, np.maximum(values - 1, 0), axis=1) > 1  # (3n, n)
    dup &= values > 0
    out = np.zeros(n * n, dtype=bool)
    np.logical_or.at(out, units.reshape(-1), dup.reshape(-1))
    return out


def check_generate_args(size, clues, min_rating, max_tries=1) -> None:
    """UserError naming the first bad generator parameter."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size not in BOXES:
        raise UserError(f"sudoku size must be one of {', '.join(map(str, SIZES))}, got {size!r}")
    if clues is not None and (
        isinstance(clues, bool)
        or not isinstance(clues, numbers.Integral)
        or not 0 <= clues <= size * size
    ):
        raise UserError(f"clues must be an integer in 0..{size * size}, got {clues!r}")
    if (
        isinstance(min_rating, bool)
        or not isinstance(min_rating, numbers.Integral)
        or min_rating < 0
    ):
        raise UserError(f"min_rating must be an integer >= 0, got {min_rating!r}")
    if isinstance(max_tries, bool) or not isinstance(max_tries, numbers.Integral) or max_tries < 1:
        raise UserError(f"max_tries must be an integer >= 1, got {max_tries!r}")


def _check_puzzle_shape(grid: np.ndarray) -> int:
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1] or grid.shape[0] not in BOXES:
        raise UserError(f"a sudoku grid is {_sides()} cells a side, got shape {grid.shape}")
    return int(grid.shape[0])


def _cell_token(ch: str, n: int, r: int, c: int) -> int:
    if ch in _BLANK_CHARS:
        return BLANK
    if ch.isdigit() and 1 <= int(ch) <= n:
        return DIGIT0 + int(ch)
    if ch.isdigit():
        raise UserError(f"digit {ch} at row {r + 1}, column {c + 1} is out of range 1..{n}")
    raise UserError(f"unknown character {ch!r} at row {r + 1}, column {c + 1}")


def _clash_message(clash: tuple[int, int], board: list[int], n: int) -> str:
    a, b = clash
    (ra, ca), (rb, cb) = divmod(a, n), divmod(b, n)
    where = "row" if ra == rb else "column" if ca == cb else "box"
    return (
        f"given {board[a]} appears twice in one {where}: row {ra + 1} column {ca + 1} and "
        f"row {rb + 1} column {cb + 1}"
    )


def _char(token: int) -> str:
    if token == BLANK:
        return "."
    if DIGIT0 + 1 <= token <= DIGIT0 + 9:
        return str(token - DIGIT0)
    return "?"


def _sides() -> str:
    return ", ".join(map(str, SIZES))


def _cell_counts() -> str:
    return ", ".join(str(s * s) for s in SIZES)


def _size(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def _draw_board(ax: Any, puzzle: np.ndarray, grid: np.ndarray, title: str, judge: bool) -> None:
    """Digits on a board with thick box lines; with `judge`, red cells break a rule or are
    not digits (a puzzle's blanks are not judged)."""
    n = grid.shape[0] if grid.ndim == 2 else 0
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if n not in BOXES or puzzle.shape != grid.shape:
        ax.text(0.5, 0.5, "not a board", ha="center", va="center")
        return
    r, c = BOXES[n]
    digits = grid.astype(np.int64) - DIGIT0
    is_digit = (digits >= 1) & (digits <= n)
    bad = ~is_digit.reshape(-1) | _repeated(np.where(is_digit, digits, 0).reshape(-1), n)
    given = (puzzle > BLANK).reshape(-1)
    bad |= given & (grid.reshape(-1) != puzzle.reshape(-1))
    bad &= judge
    ax.imshow(bad.reshape(n, n), cmap="Reds", vmin=0, vmax=3, extent=(0, n, n, 0))
    for k in range(n * n):
        i, j = divmod(k, n)
        text = _char(int(grid[i, j]))
        if text != ".":
            colour = "black" if given[k] else "#1f4fb4"
            ax.text(
                j + 0.5, i + 0.55, text, ha="center", va="center", color=colour, fontsize=110 / n
            )
    for k in range(n + 1):
        ax.axhline(k, color="black", lw=2 if k % r == 0 else 0.5)
        ax.axvline(k, color="black", lw=2 if k % c == 0 else 0.5)
    ax.set_xlim(0, n)
    ax.set_ylim(n, 0)
