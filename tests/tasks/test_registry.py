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
