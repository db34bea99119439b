"""The oracle of a task file, which does not say its skill: try every skill and every
parameter setting its demonstrations allow."""

from __future__ import annotations

import numpy as np

from ponder.errors import UserError
from ponder.tasks.fewshot import ARC_CANVAS, FewShotTask
from ponder.tasks.skills.grids import grid_key
from ponder.tasks.skills.registry import SKILLS
from ponder.tasks.skills.skill import Params, Skill


def solve_task(task: FewShotTask) -> list[np.ndarray]:
    """The oracle for a task from a file, which does not say its skill: the test outputs of
    the skills (with parameters) that turn every demonstration input into its output.
    UserError when none does, or when those that do answer the test differently."""
    found: dict[bytes, tuple[set[str], list[np.ndarray]]] = {}
    for skill in SKILLS.values():
        for params in skill.candidates(task.train):
            answers = _answers(skill, params, task)
            if answers is not None:
                key = b"|".join(grid_key(grid) for grid in answers)
                found.setdefault(key, (set(), answers))[0].add(skill.name)
    if not found:
        raise UserError(
            "no skill turns every demonstration input into its output, so there is no "
            f"oracle answer (skills: {', '.join(SKILLS)})"
        )
    if len(found) > 1:
        names = sorted(set().union(*(names for names, _ in found.values())))
        raise UserError(
            f"the demonstrations fit skills that answer the test differently "
            f"({', '.join(names)}); add a demonstration that tells them apart"
        )
    return next(iter(found.values()))[1]


def _answers(skill: Skill, params: Params, task: FewShotTask) -> list[np.ndarray] | None:
    """The test outputs under (skill, params) when it explains every demonstration, else None."""
    for pair in task.train:
        output = _output(skill, params, pair.input)
        if output is None or output.shape != pair.output.shape:
            return None
        if not np.array_equal(output, pair.output):
            return None
    outputs = [_output(skill, params, pair.input) for pair in task.test]
    return None if any(grid is None for grid in outputs) else outputs


def _output(skill: Skill, params: Params, grid: np.ndarray) -> np.ndarray | None:
    """The skill's output for `grid`; None where the skill is undefined on it or the
    output is no grid (0 wide: count_objects of a blank grid; past the ARC canvas)."""
    if not skill.accepts(grid):
        return None
    output = skill.apply(grid, params)
    return output if 0 < min(output.shape) and max(output.shape) <= ARC_CANVAS else None
