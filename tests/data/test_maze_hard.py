"""`ponder data import maze-hard FILE.csv`: the HRM release's Maze-Hard CSV, on fixtures
that ponder's own generator writes in that format; bad rows are refused naming the row."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from refusals import assert_refused
from support import run

from ponder.data.dataset import open_dataset
from ponder.data.maze_hard import read_maze_hard_csv
from ponder.tasks.maze import MAZE, PATH

HEADER = "source,question,answer,rating\n"
HRM_CHARSET = "# SGo"  # HRM's builder numbers these characters 1..5


def _cells(grid: np.ndarray) -> str:
    """A grid as Maze-Hard writes it: one string, row by row, open cells as spaces."""
    return "".join(MAZE.format(grid).splitlines())


def _line(puzzle: np.ndarray, answer: np.ndarray, source: str = "ponder") -> str:
    moves = int(np.sum(answer == PATH)) + 1
    return f"{source},{_cells(puzzle)},{_cells(answer)},{moves}\n"


def _mazes(count: int, size: int, seed: int = 0, **params) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [MAZE.generate(rng, size=size, **params) for _ in range(count)]


def _write_csv(path, mazes, header=HEADER):
    path.write_text(header + "".join(_line(m, MAZE.solve(m)) for m in mazes))
    return path


@pytest.fixture
def hard30(tmp_path):
    """Four 30x30 random-wall mazes (ponder's obstacles family), in the Maze-Hard format."""
    mazes = _mazes(4, 30, family="obstacles", wall_density=0.35, min_path=40)
    return _write_csv(tmp_path / "test.csv", mazes), mazes


def test_the_import_round_trips_its_fixture(tmp_path, capsys, hard30):
    source, mazes = hard30
    code, out, err = run(["data", "import", "maze-hard", source, "--out", tmp_path / "d"], capsys)
    assert code == 0, err
    data = open_dataset(tmp_path / "d")
    assert data.train.num_examples == 0 and data.test.num_examples == 4
    rows = source.read_text().splitlines()[1:]
    for i, (row, maze) in enumerate(zip(rows, mazes, strict=True)):
        _, question, answer, _ = row.split(",")
        hrm = [np.array([HRM_CHARSET.index(ch) + 1 for ch in s]) for s in (question, answer)]
        assert (data.test.inputs[i] == hrm[0]).all() and (data.test.labels[i] == hrm[1]).all()
        assert (MAZE.decode(data.test.inputs[i], (30, 30)) == maze).all()
        assert MAZE.verify(maze, MAZE.decode(data.test.labels[i], (30, 30)))["exact"]
    assert run(["data", "check", tmp_path / "d"], capsys)[0] == 0


def test_ponder_json_records_the_source_file(tmp_path, capsys, hard30):
    source, mazes = hard30
    assert run(["data", "import", "maze-hard", source, "--out", tmp_path / "d"], capsys)[0] == 0
    recorded = json.loads((tmp_path / "d" / "ponder.json").read_text())
    assert recorded["task"] == "maze" and recorded["format"] == "maze-hard-csv"
    assert recorded["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    moves = [MAZE.shortest_path_length(m) for m in mazes]
    summary = recorded["maze_hard"]
    assert summary["rows"] == 4 and summary["side"] == 30 and summary["sources"] == {"ponder": 4}
    assert summary["rating_range"] == summary["route_moves_range"] == [min(moves), max(moves)]
    again = run(["data", "import", "maze-hard", source, "--out", tmp_path / "d"], capsys)
    assert again[0] == 0  # the same file again: the dataset is reused untouched


def test_small_mazes_and_a_train_fraction(tmp_path, capsys):
    source = _write_csv(tmp_path / "small.csv", _mazes(10, 9, seed=3, min_path=4))
    args = ["data", "import", "maze-hard", source, "--train-fraction", "0.3", "--seed", "2"]
    assert run([*args, "--out", tmp_path / "d"], capsys)[0] == 0
    data = open_dataset(tmp_path / "d")
    assert (data.train.num_examples, data.test.num_examples) == (3, 7)
    assert data.test.inputs.shape == (7, 81)


def test_any_shortest_route_is_accepted_and_kept_as_the_label(tmp_path):
    puzzle, over = MAZE.parse("S G\n   \n   \n"), MAZE.parse("SoG\n   \n   \n")
    # a grid with two shortest routes: the file's (route_b) is accepted and kept
    puzzle2, route_a, route_b = (MAZE.parse(t) for t in ("S  \n   \n  G\n", "Soo\n  o\n  G\n",
                                                         "S  \no  \nooG\n"))  # fmt: skip
    path = tmp_path / "f.csv"
    path.write_text(HEADER + _line(puzzle, over) + _line(puzzle2, route_b))
    rows = read_maze_hard_csv(path)
    assert (rows[1].answer == route_b).all() and not (route_a == route_b).all()


def _bad_rows(tmp_path):
    maze = _mazes(1, 9, seed=5, min_path=6)[0]
    good = _line(maze, MAZE.solve(maze))
    src, q, a, r = good.strip().split(",")
    detour_q = _cells(MAZE.parse("S G\n   \n   \n"))  # shortest: 2 moves, over the top
    detour_a = _cells(MAZE.parse("S G\nooo\n   \n"))  # 4 moves, round the row below
    other = _mazes(1, 11, seed=6, min_path=6)[0]
    return {
        "wrong header": ("source,q,a,rating\n" + good, "line 1 must be the header"),
        "three fields": (HEADER + good + f"{src},{q},{a}\n", "row 2 (line 3) has 3 fields"),
        "five fields": (HEADER + good + f"{src},{q},{a},{r},x\n", "row 2 (line 3) has 5 fields"),
        "not square": (HEADER + f"{src},{q[:-1]},{a[:-1]},{r}\n", "80 characters, not side x"),
        "short answer": (HEADER + f"{src},{q},{a[:-1]},{r}\n", "the answer has 80 characters"),
        "a dot": (HEADER + f"{src},{q.replace(' ', '.', 1)},{a},{r}\n", "is '.', not one of"),
        "a stray x": (HEADER + f"{src},{q},{a.replace('o', 'x', 1)},{r}\n", "is 'x', not one"),
        "no start": (HEADER + f"{src},{q.replace('S', ' ')},{a},{r}\n", "found 0 starts"),
        "no goal": (HEADER + f"{src},{q.replace('G', ' ')},{a},{r}\n", "found 0 goals"),
        "route in question": (HEADER + f"{src},{a},{a},{r}\n", "path cells"),
        "a broken route": (
            HEADER + f"{src},{q},{a.replace('o', ' ', 1)},{r}\n",
            "not a shortest route of its question: its o cells are not one unbroken",
        ),
        "a detour": (
            HEADER + f"x,{detour_q},{detour_a},4\n",
            "row 1 (line 2): the answer is not a shortest route of its question: its route "
            "has 4 moves, a shortest one 2",
        ),
        "two sizes": (HEADER + good + _line(other, MAZE.solve(other)), "is 11x11 but row 1"),
        "a repeat": (HEADER + good + good, "row 2 (line 3): the same question as row 1"),
        "empty": ("", "line 1 must be the header"),
        "header only": (HEADER, "no mazes after the header"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "wrong header", "three fields", "five fields", "not square", "short answer", "a dot",
        "a stray x", "no start", "no goal", "route in question", "a broken route", "a detour",
        "two sizes", "a repeat", "empty", "header only",
    ],
)  # fmt: skip
def test_each_bad_case_is_refused_naming_the_row_and_nothing_is_written(tmp_path, capsys, case):
    text, words = _bad_rows(tmp_path)[case]
    source = tmp_path / "bad.csv"
    source.write_text(text)
    args = ["data", "import", "maze-hard", source, "--out", tmp_path / "d"]
    message = assert_refused(args, capsys, tmp_path, "bad.csv", words)
    assert not (tmp_path / "d").exists(), message


def test_a_missing_file_and_a_bad_fraction_are_one_line(tmp_path, capsys):
    out = tmp_path / "d"
    assert_refused(["data", "import", "maze-hard", tmp_path / "no.csv", "--out", out], capsys,
                   tmp_path, "no.csv")  # fmt: skip
    source = _write_csv(tmp_path / "ok.csv", _mazes(1, 9, min_path=4))
    assert_refused(["data", "import", "maze-hard", source, "--train-fraction", "1", "--out", out],
                   capsys, tmp_path, "--train-fraction")  # fmt: skip
