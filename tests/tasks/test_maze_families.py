"""The random-wall maze families (ponder.tasks.maze_families), searchformer above all:
Maze-Hard's generator, its wall counts, its route-length floor and the --min-path filter."""

from __future__ import annotations

import numpy as np
import pytest
from support import run

from ponder.errors import UserError
from ponder.tasks.maze import GOAL, MAZE, START, WALL
from ponder.tasks.maze_families import distances


def test_searchformer_walls_are_30_to_50_percent_and_routes_at_least_the_side():
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(40):
        puzzle = MAZE.generate(rng, size=12, family="searchformer")
        counts.append(int((puzzle == WALL).sum()))
        assert ((puzzle == START).sum(), (puzzle == GOAL).sum()) == (1, 1)
        assert MAZE.shortest_path_length(puzzle) >= 11  # Searchformer: plans of >= 12 cells
    assert 42 <= min(counts) and max(counts) <= 70  # 3 * (144 // 10) .. 5 * (144 // 10)
    assert len(set(counts)) > 10  # the count is drawn per maze, not fixed


def test_searchformer_keeps_min_path_and_refuses_a_wall_density():
    rng = np.random.default_rng(1)
    for _ in range(5):
        assert MAZE.shortest_path_length(MAZE.generate(rng, size=15, family="searchformer",
                                                       min_path=30)) >= 30  # fmt: skip
    with pytest.raises(UserError, match="wall_density is drawn per maze"):
        MAZE.generate(rng, size=15, family="searchformer", wall_density=0.4)
    with pytest.raises(UserError, match="could not generate a 7x7 searchformer grid"):
        MAZE.generate(rng, size=7, family="searchformer", min_path=45, max_tries=2)


def test_distances_agree_with_the_oracle():
    rng = np.random.default_rng(2)
    for _ in range(30):
        puzzle = MAZE.generate(rng, size=9, family="obstacles", wall_density=0.3)
        start, goal = (int(np.flatnonzero(puzzle == t)[0]) for t in (START, GOAL))
        dist = distances((puzzle != WALL).reshape(-1), 9, start)
        assert dist[goal] == MAZE.shortest_path_length(puzzle)
        assert (dist[(puzzle == WALL).reshape(-1)] == -1).all()


def test_the_builder_takes_the_family(tmp_path, capsys):
    args = ["data", "build", "maze", "--family", "searchformer", "--size", "12", "--train", "3"]
    code, _, err = run([*args, "--test", "1", "--out", tmp_path / "d"], capsys)
    assert code == 0, err
