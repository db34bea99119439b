"""Task registry: lookup by name, and a one-line error for an unknown name."""

import pytest

from ponder import tasks
from ponder.errors import UserError
from ponder.tasks.base import Task
from ponder.tasks.maze import MAZE


def test_get_returns_the_maze_task():
    task = tasks.get("maze")
    assert task is MAZE
    assert isinstance(task, Task)
    assert (task.name, task.vocab_size, task.pad_id, task.ignore_label_id) == ("maze", 6, 0, 0)


def test_names_lists_maze_sorted():
    names = tasks.names()
    assert "maze" in names and names == sorted(names)


def test_unknown_task_is_a_user_error():
    with pytest.raises(UserError, match=r"unknown task 'x'; known tasks: .*maze"):
        tasks.get("x")


@pytest.mark.parametrize("name", tasks.names())
def test_every_registered_task_meets_the_task_contract(name):
    """Every method and attribute of the Task protocol is there (the CLI's oracle, verify
    and solve call parse_puzzle / parse_answer / format / render_* on any task)."""
    task = tasks.get(name)
    assert isinstance(task, Task)  # runtime_checkable: every member of the protocol is there


def test_few_shot_families_generate_encode_and_refuse_cleanly():
    import numpy as np

    skills, arc = tasks.get("skills"), tasks.get("arc")
    task = skills.generate(np.random.default_rng(0), skill="flip")
    assert task.skill == "flip" and [a.shape for a in skills.solve(task)]
    grid = task.test[0].input
    assert (skills.decode(skills.encode(grid), grid.shape) == grid).all()
    with pytest.raises(UserError, match="arc has no generator"):
        arc.generate(np.random.default_rng(0))
