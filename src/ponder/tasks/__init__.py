"""Task registry: `get(name)` returns the task object for a puzzle family."""

from __future__ import annotations

from ponder.errors import UserError
from ponder.tasks.base import Task
from ponder.tasks.fewshot_family import FewShotFamily
from ponder.tasks.maze import MAZE
from ponder.tasks.routing import ROUTING
from ponder.tasks.skills import random_task, solve_task
from ponder.tasks.sudoku import SUDOKU

_TASKS: dict[str, Task] = {
    MAZE.name: MAZE,
    ROUTING.name: ROUTING,
    SUDOKU.name: SUDOKU,
    "arc": FewShotFamily("arc"),  # no oracle: a task file's stored test outputs are its answers
    "skills": FewShotFamily("skills", oracle=solve_task, generator=random_task),
}


def names() -> list[str]:
    """Registered task names, sorted."""
    return sorted(_TASKS)


def get(name: str) -> Task:
    """The task registered under `name`; UserError listing the known names otherwise."""
    try:
        return _TASKS[name]
    except KeyError:
        raise UserError(f"unknown task {name!r}; known tasks: {', '.join(names())}") from None


__all__ = ["Task", "get", "names"]
