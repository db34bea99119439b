"""The dead-end-fill hint (ponder.tasks.maze_hints): the rule's states against the maze
oracle on generated mazes, a hand-made case, and mazes with loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ponder.errors import UserError
from ponder.tasks.maze import GOAL, OPEN, PATH, START, WALL, MazeTask
from ponder.tasks.maze_hints import fill_rounds, hint_labels, hint_rounds

TASK = MazeTask()


def _mazes(size: int, count: int, seed: int, **params) -> tuple[torch.Tensor, torch.Tensor]:
    """(count, size, size) puzzles and the oracle's answers, as token tensors."""
    rng = np.random.default_rng(seed)
    puzzles = [TASK.generate(rng, size=size, min_path=4, **params) for _ in range(count)]
    answers = [TASK.solve(p) for p in puzzles]
    return torch.tensor(np.stack(puzzles)).long(), torch.tensor(np.stack(answers)).long()


def _one_round(alive: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """A second, plain-loop statement of one round of dead-end filling, for comparison."""
    h, w = alive.shape
    dead = np.zeros_like(alive)
    for r in range(h):
        for c in range(w):
            near = sum(alive[r + dr, c + dc] for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                       if 0 <= r + dr < h and 0 <= c + dc < w)  # fmt: skip
            dead[r, c] = alive[r, c] and not fixed[r, c] and near <= 1
    return dead


@pytest.mark.parametrize("size", [7, 11, 21])
def test_the_fill_leaves_exactly_the_oracles_route_in_perfect_mazes(size):
    puzzles, answers = _mazes(size, 6, seed=size)
    rounds = fill_rounds(puzzles)
    kept = (puzzles != WALL) & (rounds == 0)  # passable and never filled
    route = torch.isin(answers, torch.tensor([START, GOAL, PATH]))
    assert torch.equal(kept, route)


@pytest.mark.parametrize("size", [9, 15])
def test_every_hint_state_is_a_round_of_the_rule_and_ends_at_the_answer(size):
    puzzles, answers = _mazes(size, 4, seed=100 + size)
    flat = puzzles.view(4, -1)
    rounds = fill_rounds(puzzles).view(4, -1)
    last = int(rounds.max())
    for row in range(4):
        fixed = np.isin(puzzles[row].numpy(), (START, GOAL))
        alive = puzzles[row].numpy() != WALL
        for done in range(last + 1):
            hint = hint_labels(answers.view(4, -1), rounds, done)[row].view(size, size).numpy()
            # the hint marks route exactly the cells the rule has not filled after `done` rounds
            assert np.array_equal(np.isin(hint, (PATH, START, GOAL)), alive)
            alive = alive & ~_one_round(alive, fixed)
    labels = answers.view(4, -1)
    assert torch.equal(hint_labels(labels, rounds, last), labels)  # the rule is done
    # before any round every open cell may be route
    assert torch.equal(hint_labels(labels, rounds, 0) == PATH, (flat == OPEN) | (labels == PATH))


def test_a_hand_made_corridor_fills_from_its_dead_end():
    # the route S o o G along the top row; a corridor of two cells hangs below (0, 1)
    rows = ["S  G", "# ##", "# ##", "####"]
    tokens = {"S": START, "G": GOAL, " ": OPEN, "#": WALL}
    grid = torch.tensor([[tokens[ch] for ch in row] for row in rows]).unsqueeze(0)
    assert fill_rounds(grid)[0].tolist() == [[0, 0, 0, 0], [0, 2, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]


def test_loops_are_never_filled_and_the_hint_still_ends_at_the_answer():
    puzzles, answers = _mazes(15, 6, seed=3, loop_fraction=0.3)
    rounds = fill_rounds(puzzles)
    on_loops = (puzzles != WALL) & (rounds == 0) & (answers == OPEN)  # kept, yet not route
    assert bool(on_loops.any())
    flat_rounds, flat_answers = rounds.view(6, -1), answers.view(6, -1)
    assert torch.equal(hint_labels(flat_answers, flat_rounds, int(rounds.max())), flat_answers)


def test_the_task_names_its_hints_and_refuses_others():
    puzzles, _ = _mazes(7, 2, seed=0)
    assert hint_rounds("dead_end_fill", puzzles.view(2, -1), (7, 7)).shape == (2, 49)
    with pytest.raises(UserError, match="task maze has no hint 'bfs'"):
        hint_rounds("bfs", puzzles.view(2, -1), (7, 7))
