"""Sudoku task: the oracle against brute force and known puzzles, solution counting, the
generator, the rules-only verifier, the text format and the command line."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from support import run, write

from ponder.errors import UserError
from ponder.tasks import get
from ponder.tasks.sudoku import BLANK, PAD, SUDOKU, to_board, to_grid
from ponder.tasks.sudoku_solver import BOXES, geometry, search

# Wikipedia's example puzzle and its (unique) solution.
WIKI = "53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79"
WIKI_SOLUTION = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"
# Hard puzzles known to have one solution each (Arto Inkala's, "Easter Monster", and the
# first of magictour's top95): the answer is checked by the rules, not against a label.
HARD = [
    "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4..",
    "1.......2.9.4...5...6...7...5.9.3.......7.......85..4.7.....6...3...9.8...2.....1",
    "4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......",
]


def board(text: str) -> list[int]:
    return [0 if ch in ".0" else int(ch) for ch in text]


def is_solution(digits: list[int], n: int, givens: list[int]) -> bool:
    """Every row, column and box holds 1..n once and the givens are kept (independent of
    the module: units are built here from the box shape)."""
    r, c = BOXES[n]
    g = np.asarray(digits).reshape(n, n)
    units = [g[i] for i in range(n)] + [g[:, j] for j in range(n)]
    units += [g[i : i + r, j : j + c].reshape(-1) for i in range(0, n, r) for j in range(0, n, c)]
    rules = all(sorted(u.tolist()) == list(range(1, n + 1)) for u in units)
    return rules and all(d == 0 or d == s for d, s in zip(givens, digits, strict=True))


def all_4x4_grids() -> list[list[int]]:
    """Every solved 4x4 board (there are 288): stacks of row permutations whose columns
    stay distinct, then the full rules checked."""
    rows = list(itertools.permutations(range(1, 5)))
    stacks = [[]]
    for _ in range(4):
        stacks = [s + [r] for s in stacks for r in rows if all(len(set(c)) == len(c) for c in zip(*s, r, strict=True))]  # fmt: skip
    grids = [[d for row in s for d in row] for s in stacks]
    return [g for g in grids if is_solution(g, 4, [0] * 16)]


def naive_count(givens: list[int], n: int, limit: int) -> int:
    """Solutions counted up to `limit` by plain backtracking in cell order (no propagation)."""
    r, c = BOXES[n]
    cells = list(givens)

    def ok(k: int, d: int) -> bool:
        i, j = divmod(k, n)
        bi, bj = i - i % r, j - j % c
        for m in range(n * n):
            a, b = divmod(m, n)
            same = a == i or b == j or (bi <= a < bi + r and bj <= b < bj + c)
            if m != k and same and cells[m] == d:
                return False
        return True

    def count(k: int) -> int:
        if k == n * n:
            return 1
        if cells[k]:
            return count(k + 1) if ok(k, cells[k]) else 0
        total = 0
        for d in range(1, n + 1):
            if ok(k, d):
                cells[k] = d
                total += count(k + 1)
                cells[k] = 0
                if total >= limit:
                    break
        return total

    return min(count(0), limit)


# --------------------------------------------------------------------------- oracle


def test_oracle_matches_brute_force_on_random_4x4_puzzles():
    grids = all_4x4_grids()
    assert len(grids) == 288
    rng = np.random.default_rng(0)
    for _ in range(300):
        solution = grids[rng.integers(len(grids))]
        keep = rng.random(16) < rng.uniform(0.1, 0.6)
        givens = [d if k else 0 for d, k in zip(solution, keep, strict=True)]
        matches = [g for g in grids if all(x == 0 or x == y for x, y in zip(givens, g, strict=True))]  # fmt: skip
        result = search(givens, 4, limit=2)
        assert result.count == min(len(matches), 2)
        assert all(s in matches for s in result.solutions)
        assert search(givens, 4, limit=1000).count == len(matches)


def test_oracle_matches_naive_backtracking_on_6x6_puzzles():
    rng = np.random.default_rng(1)
    for _ in range(40):
        solution = to_board(SUDOKU.solve(to_grid([0] * 36, 6)))
        perm = rng.permutation(6) + 1  # relabel so the grids differ
        solution = [int(perm[d - 1]) for d in solution]
        keep = rng.random(36) < rng.uniform(0.25, 0.6)
        givens = [d if k else 0 for d, k in zip(solution, keep, strict=True)]
        assert search(givens, 6, limit=2).count == naive_count(givens, 6, 2)


def test_known_9x9_puzzle_has_its_known_solution():
    result = search(board(WIKI), 9, limit=2)
    assert result.count == 1
    assert "".join(map(str, result.solutions[0])) == WIKI_SOLUTION
    assert result.guesses == 0  # singles alone solve it: an easy puzzle rates 0


@pytest.mark.parametrize("text", HARD)
def test_hard_puzzles_are_solved_uniquely_and_rate_above_zero(text):
    result = search(board(text), 9, limit=2)
    assert result.count == 1
    assert is_solution(result.solutions[0], 9, board(text))
    assert result.guesses > 0


def test_two_solutions_are_counted():
    # Blank a "deadly rectangle" of the solved grid: two rows of one band, two columns of
    # different boxes, the same two digits crosswise, so both ways round are solutions.
    solved = board(WIKI_SOLUTION)
    g = np.asarray(solved).reshape(9, 9)
    corners = next(
        (r1, r2, c1, c2)
        for r1, r2 in itertools.combinations(range(9), 2)
        if r1 // 3 == r2 // 3
        for c1, c2 in itertools.combinations(range(9), 2)
        if c1 // 3 != c2 // 3 and g[r1, c1] == g[r2, c2] and g[r1, c2] == g[r2, c1]
    )
    r1, r2, c1, c2 = corners
    puzzle = list(solved)
    for r, c in ((r1, c1), (r1, c2), (r2, c1), (r2, c2)):
        puzzle[r * 9 + c] = 0
    assert search(puzzle, 9, limit=2).count == 2
    assert search(puzzle, 9, limit=5).count == 2  # exactly two
    assert SUDOKU.count_solutions(to_grid(puzzle, 9)) == 2
    assert search([0] * 81, 9, limit=2).count == 2  # the empty board: many, capped
    with pytest.raises(UserError, match="more than one solution"):
        SUDOKU.check_puzzle(to_grid(puzzle, 9), unique=True)


def test_no_solution_and_clashing_givens():
    clash = board(WIKI)
    clash[2] = 5  # row 1 already holds 5 in column 1
    with pytest.raises(UserError, match="given 5 appears twice in one row"):
        SUDOKU.solve(to_grid(clash, 9))
    # Givens that do not clash, yet no solution: row 1's last cell can only be 9, and
    # column 9 already holds one.
    dead = board("12345678." + "........9" + "." * 63)
    assert search(dead, 9, limit=2).count == 0
    with pytest.raises(UserError, match="no solution"):
        SUDOKU.solve(to_grid(dead, 9))


# --------------------------------------------------------------------------- generator


@pytest.mark.parametrize("size", [4, 6, 9])
def test_generated_puzzles_are_unique_and_seeded(size):
    a = [SUDOKU.generate(np.random.default_rng(3), size=size) for _ in range(3)]
    b = [SUDOKU.generate(np.random.default_rng(3), size=size) for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    rng = np.random.default_rng(4)
    for _ in range(5):
        puzzle = SUDOKU.generate(rng, size=size)
        assert puzzle.shape == (size, size) and set(np.unique(puzzle)) <= set(range(1, size + 2))
        assert SUDOKU.count_solutions(puzzle) == 1
        if size == 4:
            assert naive_count(to_board(puzzle), 4, 3) == 1


def test_generator_meets_clues_and_rating():
    rng = np.random.default_rng(5)
    for clues in (30, 36):
        puzzle = SUDOKU.generate(rng, size=9, clues=clues)
        assert int((puzzle > BLANK).sum()) == clues
        assert SUDOKU.count_solutions(puzzle) == 1
    hard = SUDOKU.generate(rng, size=9, min_rating=3)
    assert SUDOKU.rating(hard) >= 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"size": 5}, "size must be one of 4, 6, 8, 9"),
        ({"size": 4, "clues": 17}, "clues must be an integer in 0..16"),
        ({"size": 4, "min_rating": -1}, "min_rating must be an integer >= 0"),
        ({"size": 4, "clues": 1, "max_tries": 3}, "could not generate a 1-clue 4x4 sudoku"),
    ],
)
def test_generator_refuses_bad_parameters(params, message):
    with pytest.raises(UserError, match=message):
        SUDOKU.generate(np.random.default_rng(0), **params)


# --------------------------------------------------------------------------- verifier


def test_verifier_accepts_a_valid_completion_and_judges_by_the_rules():
    puzzle = SUDOKU.parse(WIKI)
    answer = SUDOKU.parse(WIKI_SOLUTION)
    verdict = SUDOKU.verify(puzzle, answer)
    assert verdict == {"exact": True, "valid_cells": 1.0, "givens_kept": True, "filled": 1.0, "cell_acc": 1.0}  # fmt: skip
    assert SUDOKU.verify(puzzle, SUDOKU.solve(puzzle))["exact"]


def test_verifier_rejects_a_changed_given_a_repeat_and_a_blank():
    puzzle = SUDOKU.parse(WIKI)
    good = SUDOKU.parse(WIKI_SOLUTION)
    # A whole valid grid that changes the givens: relabel two digits everywhere.
    swapped = good.copy()
    swapped[good == 2 + 1], swapped[good == 3 + 1] = 3 + 1, 2 + 1
    v = SUDOKU.verify(puzzle, swapped)
    assert not v["exact"] and not v["givens_kept"] and v["valid_cells"] < 1
    repeat = good.copy()
    repeat[0, 2] = repeat[0, 3]  # a blank cell copies its neighbour: a repeat in row 1
    v = SUDOKU.verify(puzzle, repeat)
    assert not v["exact"] and v["givens_kept"] and v["valid_cells"] < 1
    blank = good.copy()
    blank[0, 2] = BLANK
    v = SUDOKU.verify(puzzle, blank)
    assert not v["exact"] and v["filled"] < 1 and v["valid_cells"] == pytest.approx(80 / 81)


def test_any_valid_completion_of_an_ambiguous_puzzle_is_exact():
    givens = [0] * 16
    givens[0] = 1
    solutions = search(givens, 4, limit=1000).solutions
    puzzle = to_grid(givens, 4)
    assert len(solutions) > 2
    for solution in solutions:
        assert SUDOKU.verify(puzzle, to_grid(solution, 4))["exact"]


def test_verifier_never_crashes_on_garbage():
    puzzle = SUDOKU.parse(WIKI)
    rng = np.random.default_rng(0)
    for _ in range(20):
        garbage = SUDOKU.decode(rng.integers(-3, 20, 81), (9, 9))
        verdict = SUDOKU.verify(puzzle, garbage)
        assert not verdict["exact"] and 0 <= verdict["valid_cells"] <= 1
    assert not SUDOKU.verify(puzzle, np.full((9, 9), PAD, np.uint8))["exact"]


# --------------------------------------------------------------------------- text and codec


def test_text_round_trips_and_both_layouts_parse():
    grid = SUDOKU.parse(WIKI)
    assert np.array_equal(SUDOKU.parse(SUDOKU.format(grid)), grid)
    rows = "\n".join(WIKI[i : i + 9].replace(".", "0") for i in range(0, 81, 9))
    assert np.array_equal(SUDOKU.parse(rows + "\n\n"), grid)
    assert np.array_equal(SUDOKU.decode(SUDOKU.encode(grid), (9, 9)), grid)
    assert SUDOKU.grid_shape(36) == (6, 6)
    assert "+" in SUDOKU.render_ascii(grid)
    small = SUDOKU.parse("1..4\n.4..\n..1.\n4..3")
    assert small.shape == (4, 4) and small[0, 0] == 2 and small[0, 1] == BLANK


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty sudoku file"),
        ("123", "one-line sudoku needs 16, 36, 64, 81 characters, got 3"),
        ("1..5\n.4..\n..1.\n4..3", r"digit 5 at row 1, column 4 is out of range 1..4"),
        ("1..x\n.4..\n..1.\n4..3", "unknown character 'x' at row 1, column 4"),
        ("1..4\n.4.\n..1.\n4..3", "row 2 has 3 cells, expected 4"),
        ("1..4\n.4..\n..1.", "a sudoku has 4, 6, 8, 9 rows, got 3"),
    ],
)
def test_bad_text_names_the_problem(text, message):
    with pytest.raises(UserError, match=message):
        SUDOKU.parse(text)


def test_grid_shape_refuses_other_lengths():
    with pytest.raises(UserError, match="got 25"):
        SUDOKU.grid_shape(25)


def test_render_png(tmp_path):
    puzzle = SUDOKU.parse(WIKI)
    answer = SUDOKU.solve(puzzle)
    wrong = answer.copy()
    wrong[0, 2] = BLANK
    rows = [(puzzle, wrong, answer, SUDOKU.verify(puzzle, wrong)), (puzzle, answer, answer)]
    out = SUDOKU.render_png(tmp_path / "s.png", rows, titles=["a", "b"])
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_geometry_of_6x6_has_2x3_boxes():
    geo = geometry(6)
    assert geo.box == (2, 3) and len(geo.units) == 18
    assert all(len(p) == 5 + 5 + 2 for p in geo.peers)  # row, column, 2 more in the box
    assert get("sudoku") is SUDOKU


# --------------------------------------------------------------------------- command line


def test_cli_oracle_and_verify(tmp_path, capsys):
    puzzle = write(tmp_path / "p.txt", WIKI + "\n")
    code, out, _ = run(["oracle", "sudoku", puzzle], capsys)
    assert code == 0 and out.replace("\n", "") == WIKI_SOLUTION
    answer = write(tmp_path / "a.txt", out)
    code, out, _ = run(["verify", "sudoku", puzzle, answer, "--json"], capsys)
    assert code == 0 and '"exact": true' in out
    bad = write(tmp_path / "b.txt", WIKI_SOLUTION[:-1] + "1\n")
    code, out, _ = run(["verify", "sudoku", puzzle, bad], capsys)
    assert code == 1 and "exact" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (WIKI[:2] + "5" + WIKI[3:], "given 5 appears twice in one row"),
        (WIKI[:-1], "one-line sudoku needs"),
        ("12345678." + "........9" + "." * 63, "no solution"),
        (WIKI[:-1] + "a", "unknown character 'a'"),
    ],
)
def test_cli_bad_puzzles_are_one_line_exit_2(text, message, tmp_path, capsys):
    puzzle = write(tmp_path / "p.txt", text)
    code, out, err = run(["oracle", "sudoku", puzzle], capsys)
    assert code == 2 and out == "" and message in err
    assert err.startswith("ponder: error:") and err.count("\n") == 1
