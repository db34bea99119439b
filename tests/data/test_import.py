"""`ponder data import TASK FILE --out DIR`: a user's puzzles as a dataset, round-tripping
the text format; bad puzzles are refused with their number and line, nothing written."""

from __future__ import annotations

import re

import numpy as np
import pytest
from support import run

from ponder.data.dataset import open_dataset
from ponder.tasks.maze import MAZE

GOOD = "#######\n#S    #\n##### #\n#     #\n# #####\n#    G#\n#######\n"


def _mazes(count: int, size: int = 9, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [MAZE.generate(rng, size=size, min_path=4) for _ in range(count)]


def test_import_round_trips_the_text_format(tmp_path, capsys):
    mazes = _mazes(5)
    source = tmp_path / "mine.txt"
    source.write_text("\n".join(MAZE.format(m) for m in mazes))
    code, out, err = run(["data", "import", "maze", source, "--out", tmp_path / "d"], capsys)
    assert code == 0, err
    data = open_dataset(tmp_path / "d")
    assert data.train.num_examples == 0 and data.test.num_examples == 5
    for row, maze in zip(data.test.inputs, mazes, strict=True):
        assert (MAZE.decode(row, maze.shape) == maze).all()
    for row, maze in zip(data.test.labels, mazes, strict=True):
        assert MAZE.verify(maze, MAZE.decode(row, maze.shape))["exact"]
    code, shown, _ = run(["data", "show", tmp_path / "d", "--index", 2], capsys)
    assert shown == MAZE.format(mazes[2])


def test_a_train_fraction_splits_by_seed(tmp_path, capsys):
    source = tmp_path / "mine.txt"
    source.write_text("\n\n".join(MAZE.format(m) for m in _mazes(10)))
    args = ["data", "import", "maze", source, "--train-fraction", "0.3", "--seed", "4"]
    assert run([*args, "--out", tmp_path / "a"], capsys)[0] == 0
    data = open_dataset(tmp_path / "a")
    assert (data.train.num_examples, data.test.num_examples) == (3, 7)


@pytest.mark.parametrize(
    "text, words",
    [
        (GOOD + "\n" + GOOD.replace("#S", "#x"), r"puzzle 2 \(line 9\): .*x"),
        (GOOD + "\n" + GOOD[:-9], r"puzzle 2 \(line 9\)"),  # ragged: a short last row
        (GOOD + "\n" + GOOD.replace("##### #", "#######"), r"puzzle 2 \(line 9\): no route"),
        (
            GOOD + "\n" + MAZE.format(_mazes(1, size=9)[0]),
            "puzzle 2 .* is 9x9; one dataset holds one size",
        ),
        ("\n\n\n", "no puzzles found"),
    ],
)
def test_bad_files_are_refused_naming_the_puzzle(tmp_path, capsys, text, words):
    source = tmp_path / "bad.txt"
    source.write_text(text)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run(["data", "import", "maze", source, "--out", tmp_path / "d"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert re.search(words, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.parametrize("seed", ["-1", str(2**70)])
def test_a_seed_out_of_range_is_one_line_exit_2_and_writes_nothing(seed, tmp_path, capsys):
    source = tmp_path / "mine.txt"
    source.write_text(GOOD)
    out = tmp_path / "d"
    code, _, err = run(["data", "import", "maze", source, "--seed", seed, "--out", out], capsys)
    assert code == 2 and "seed must be in 0.." in err and err.count("\n") == 1
    assert not out.exists()
