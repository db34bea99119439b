"""Instances of the skills: one task (its pairs sharing one draw of parameters), a task's
content key, and splits of distinct instances.

Pairs are drawn so that every one teaches something: a blank input, a blank output or an
output equal to its input is drawn again, and so is an input already in the task.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.fewshot import ARC_CANVAS, FewShotTask, Pair
from ponder.tasks.skills.draws import choose
from ponder.tasks.skills.grids import grid_key, u8
from ponder.tasks.skills.registry import SKILLS
from ponder.tasks.skills.skill import Params, Skill

_DRAWS_PER_PAIR = 200  # most skills accept far more than 1 draw in 10; this only stops loops
_DRAWS_PER_TASK = 50  # generate_split's redraws of a duplicate instance


def generate_task(
    skill: str,
    rng: np.random.Generator,
    *,
    num_demos: int = 3,
    num_tests: int = 1,
    max_size: int = 10,
    name: str | None = None,
) -> FewShotTask:
    """One instance of `skill`: num_demos demonstrations and num_tests test pairs, distinct
    inputs, every grid at most max_size a side. The name defaults to "<skill>-<content hash>"."""
    task, _ = generate_instance(
        skill, rng, num_demos=num_demos, num_tests=num_tests, max_size=max_size, name=name
    )
    return task


def random_task(
    rng: np.random.Generator, skill: str | None = None, num_demos: int = 3, max_size: int = 10
) -> FewShotTask:
    """A task of `skill`, or of a skill drawn from every skill (the registry's generate)."""
    chosen = skill or choose(rng, sorted(SKILLS))
    return generate_task(chosen, rng, num_demos=num_demos, max_size=max_size)


def generate_instance(
    skill: str,
    rng: np.random.Generator,
    *,
    num_demos: int = 3,
    num_tests: int = 1,
    max_size: int = 10,
    name: str | None = None,
) -> tuple[FewShotTask, Params]:
    """generate_task, also returning the instance's parameters (every pair's output is
    SKILLS[skill].apply(pair.input, params))."""
    chosen = _check_request(skill, num_demos, num_tests, max_size)
    params = chosen.sample_params(rng)
    pairs = _draw_pairs(chosen, rng, params, num_demos + num_tests, max_size)
    task = FewShotTask(name or "", tuple(pairs[:num_demos]), tuple(pairs[num_demos:]), skill)
    if name is None:
        task = replace(task, name=f"{skill}-{task_key(task).hex()[:12]}")
    return task, params


def _check_request(skill: object, num_demos: object, num_tests: object, max_size: object) -> Skill:
    if not isinstance(skill, str) or skill not in SKILLS:
        raise UserError(f"unknown skill {skill!r}; known skills: {', '.join(SKILLS)}")
    for what, value in (("num_demos", num_demos), ("num_tests", num_tests)):
        if not _is_whole(value) or value < 1:
            raise UserError(f"{what} must be a whole number >= 1, got {value!r}")
    chosen = SKILLS[skill]
    if not _is_whole(max_size) or not chosen.min_size <= max_size <= ARC_CANVAS:
        raise UserError(
            f"skill {skill!r} needs max_size between {chosen.min_size} and {ARC_CANVAS}, "
            f"got {max_size!r}"
        )
    return chosen


def _is_whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _draw_pairs(
    skill: Skill, rng: np.random.Generator, params: Params, count: int, max_size: int
) -> list[Pair]:
    """`count` pairs with distinct inputs, each drawn until it teaches something."""
    pairs: list[Pair] = []
    inputs: set[bytes] = set()
    for _ in range(_DRAWS_PER_PAIR * count):
        pair = _draw_pair(skill, rng, params, max_size)
        if pair is None or grid_key(pair.input) in inputs:
            continue
        inputs.add(grid_key(pair.input))
        pairs.append(pair)
        if len(pairs) == count:
            return pairs
    raise UserError(
        f"could not draw {count} distinct {skill.name!r} pairs at max_size {max_size}; "
        "ask for fewer pairs or a larger max_size"
    )


def _draw_pair(
    skill: Skill, rng: np.random.Generator, params: Params, max_size: int
) -> Pair | None:
    """One pair, or None when the input is degenerate: blank, an output that is blank or
    equal to the input (a flip of a symmetric grid), or a grid past max_size."""
    grid = skill.sample_input(rng, params, max_size)
    if grid is None or not grid.any():
        return None
    grid = u8(grid)
    output = u8(skill.apply(grid, params))
    fits = max(*grid.shape, *output.shape) <= max_size
    unchanged = grid.shape == output.shape and np.array_equal(grid, output)
    return Pair(grid, output) if fits and output.any() and not unchanged else None


def task_key(task: FewShotTask) -> bytes:
    """A hash of the task's content (every grid, in order, and which pairs are demos), not
    of its name: equal keys mean the same instance."""
    digest = hashlib.sha256(f"{len(task.train)}/{len(task.test)};".encode())
    for pair in (*task.train, *task.test):
        digest.update(grid_key(pair.input))
        digest.update(grid_key(pair.output))
    return digest.digest()


def generate_split(
    skills: Sequence[str], count: int, rng: np.random.Generator, **kw: Any
) -> list[FewShotTask]:
    """`count` distinct instances; instance i is of skills[i % len(skills)]. `kw` goes to
    generate_task (num_demos, num_tests, max_size); names come from the content, so they
    are unique."""
    if isinstance(skills, str) or not skills:
        raise UserError(f"skills must be a non-empty list of skill names, got {skills!r}")
    if not _is_whole(count) or count < 0:
        raise UserError(f"count must be a whole number >= 0, got {count!r}")
    if "name" in kw:
        raise UserError("generate_split names its tasks itself; do not pass name")
    for skill in skills:
        _check_request(skill, 1, 1, kw.get("max_size", 10))
    tasks: list[FewShotTask] = []
    keys: set[bytes] = set()
    for i in range(count):
        tasks.append(_fresh_task(skills[i % len(skills)], rng, keys, kw))
    return tasks


def _fresh_task(
    skill: str, rng: np.random.Generator, keys: set[bytes], kw: dict[str, Any]
) -> FewShotTask:
    """An instance of `skill` whose key is not in `keys` (then added)."""
    for _ in range(_DRAWS_PER_TASK):
        task = generate_task(skill, rng, **kw)
        key = task_key(task)
        if key not in keys:
            keys.add(key)
            return task
    raise UserError(
        f"could not draw another distinct {skill!r} instance in {_DRAWS_PER_TASK} tries; "
        "ask for fewer tasks or a larger max_size"
    )
