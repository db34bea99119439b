"""`ponder data import maze-hard FILE.csv --out DIR`: the HRM release's Maze-Hard CSV.

The file (train.csv or test.csv of the dataset sapientinc/maze-30x30-hard-1k) is a header
row `source,question,answer,rating`, then one maze a row: question and answer are each one
string of side x side characters, the grid row by row, from `# SGo` (wall, open, start,
goal, route). HRM's builder numbers those characters 1..5 in that order, which are ponder's
maze tokens, so the arrays equal what HRM's builder writes. Every row is checked before
anything is written: the question must be a maze with one S, one G and a route, and the
answer a shortest route of it (any shortest one, as the verifier judges); a bad row is
refused naming its row and line. The labels are the file's own routes, not the oracle's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ponder.data.build import write_once
from ponder.data.imports import MAX_PUZZLES, check_split_options, write_pairs
from ponder.errors import UserError
from ponder.fileio import read_text_file
from ponder.tasks.maze import GOAL, MAZE, OPEN, PATH, START, WALL

CSV_HEADER = ("source", "question", "answer", "rating")
CHARSET = "# SGo"
_TOKENS = np.zeros(128, dtype=np.uint8)  # ASCII code -> token; CHARSET is checked first
_TOKENS[[ord(ch) for ch in CHARSET]] = (WALL, OPEN, START, GOAL, PATH)
MOST_SOURCES = 10  # source names kept in ponder.json (with their counts)


@dataclass(frozen=True)
class MazeHardRow:
    """One checked row: its place in the file, its text columns and its grids (side, side)."""

    number: int  # data rows from 1 (the header is not one)
    line: int
    source: str
    rating: str
    question: np.ndarray
    answer: np.ndarray


def import_maze_hard(
    source: Path,
    out_dir: Path,
    *,
    train_fraction: float = 0.0,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Check every row of a Maze-Hard CSV and write its mazes as a maze dataset (all in
    test unless `train_fraction`), recording the file's sha256 and what its rows hold."""
    check_split_options(train_fraction, seed)
    path = Path(source)
    rows = read_maze_hard_csv(path)
    recipe = {
        "task": "maze",
        "imported": str(path),
        "format": "maze-hard-csv",
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "train_fraction": train_fraction,
        "seed": seed,
    }
    pairs = [(row.question, row.answer) for row in rows]
    notes = {"maze_hard": summary(rows)}
    return write_once(
        Path(out_dir), recipe, overwrite, lambda tmp: write_pairs(MAZE, tmp, recipe, pairs, notes)
    )


def read_maze_hard_csv(path: Path) -> list[MazeHardRow]:
    """Every row of the file, checked; UserError naming the first bad one."""
    reader = csv.reader(io.StringIO(read_text_file(path), newline=""))
    rows: list[MazeHardRow] = []
    seen: dict[bytes, int] = {}
    try:
        _check_header(next(reader, None), path)
        for fields in reader:
            if not fields:  # a blank line
                continue
            row = _row(fields, len(rows) + 1, reader.line_num, path)
            _check_like_the_others(row, rows, seen, path)
            rows.append(row)
    except csv.Error as err:
        raise UserError(f"{path}: line {reader.line_num}: {err}") from None
    if not rows:
        raise UserError(f"{path}: no mazes after the header")
    return rows


def summary(rows: list[MazeHardRow]) -> dict:
    """What the rows hold, for ponder.json: sources, the rating column's range, and the
    range of the shortest routes' moves (to compare with the ratings)."""
    sources = Counter(row.source for row in rows)
    ratings = [_whole(row.rating) for row in rows]
    moves = [int(np.sum(row.answer == PATH)) + 1 for row in rows]  # route cells + 1
    return {
        "rows": len(rows),
        "side": int(rows[0].question.shape[0]),
        "sources": dict(sources.most_common(MOST_SOURCES)),
        "distinct_sources": len(sources),
        "rating_range": None if None in ratings else [min(ratings), max(ratings)],
        "route_moves_range": [min(moves), max(moves)],
    }


def _check_header(header: list[str] | None, path: Path) -> None:
    names = [name.strip() for name in header or []]
    if names:
        names[0] = names[0].removeprefix("\ufeff")  # a byte-order mark some editors write
    if names != list(CSV_HEADER):
        raise UserError(
            f"{path}: line 1 must be the header {','.join(CSV_HEADER)}, "
            f"got {','.join(header or [])!r}"
        )


def _row(fields: list[str], number: int, line: int, path: Path) -> MazeHardRow:
    where = f"{path}: row {number} (line {line})"
    if len(fields) != len(CSV_HEADER):
        raise UserError(
            f"{where} has {len(fields)} fields, expected {len(CSV_HEADER)} ({','.join(CSV_HEADER)})"
        )
    source, question, answer, rating = fields
    side = math.isqrt(len(question))
    if side < 2 or side * side != len(question):
        raise UserError(f"{where}: the question has {len(question)} characters, not side x side")
    if len(answer) != len(question):
        raise UserError(
            f"{where}: the answer has {len(answer)} characters, the question {len(question)}"
        )
    grids = [_grid(text, side, column, where) for column, text in (("question", question),
                                                                    ("answer", answer))]  # fmt: skip
    try:
        MAZE.check_puzzle(grids[0])
    except UserError as err:
        raise UserError(f"{where}: the question: {err}") from None
    _check_answer(grids[0], grids[1], where)
    return MazeHardRow(number, line, source, rating, grids[0], grids[1])


def _grid(text: str, side: int, column: str, where: str) -> np.ndarray:
    """Tokens (side, side) of a question or answer string; UserError at the first
    character outside CHARSET, with its place in the grid."""
    bad = set(text) - set(CHARSET)
    if bad:
        at = min(text.index(ch) for ch in bad)
        row, col = divmod(at, side)
        raise UserError(
            f"{where}: the {column}'s character {at + 1} (grid row {row + 1}, column "
            f"{col + 1}) is {text[at]!r}, not one of {CHARSET!r}"
        )
    codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return _TOKENS[codes].reshape(side, side)


def _check_answer(question: np.ndarray, answer: np.ndarray, where: str) -> None:
    """The answer must be a shortest route of the question, judged as the verifier judges
    a model's answer (any shortest route, not one stored route)."""
    verdict = MAZE.verify(question, answer, reference=answer)
    if verdict["exact"]:
        return
    if not verdict["valid"]:
        why = "it changes the question's walls, S or G, or adds one"
    elif not verdict["connected"]:
        why = "its o cells are not one unbroken route from S to G"
    else:
        moves = int(np.sum(answer == PATH)) + 1
        why = f"its route has {moves} moves, a shortest one {MAZE.shortest_path_length(question)}"
    raise UserError(f"{where}: the answer is not a shortest route of its question: {why}")


def _check_like_the_others(
    row: MazeHardRow, rows: list[MazeHardRow], seen: dict[bytes, int], path: Path
) -> None:
    """One size a dataset (one sequence length), no question twice (a repeat would count
    twice in test, or leak between the splits), and a bound on the rows."""
    where = f"{path}: row {row.number} (line {row.line})"
    side, first = row.question.shape[0], rows[0].question.shape[0] if rows else None
    if first is not None and side != first:
        raise UserError(
            f"{where} is {side}x{side} but row 1 is {first}x{first}; one dataset holds one size"
        )
    key = row.question.tobytes()
    if key in seen:
        raise UserError(f"{where}: the same question as row {seen[key]}")
    seen[key] = row.number
    if row.number > MAX_PUZZLES:
        raise UserError(f"{path}: more than {MAX_PUZZLES:,} mazes")


def _whole(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


__all__ = ["CSV_HEADER", "CHARSET", "MazeHardRow", "import_maze_hard", "read_maze_hard_csv"]
