"""Synthetic few-shot skills: each oracle on hand-made grids, determinism, the invariants
of every generated grid, splits, bad requests, text and pictures."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.errors import UserError
from ponder.tasks import skills
from ponder.tasks.fewshot import FewShotTask
from ponder.tasks.skills import (
    HELDOUT_SKILLS,
    SKILLS,
    TRAIN_SKILLS,
    generate_instance,
    generate_split,
    generate_task,
    task_key,
)
from ponder.tasks.skills.grids import objects


def g(*rows: str) -> np.ndarray:
    """A grid from rows of digits: g("120", "034")."""
    return np.array([[int(ch) for ch in row] for row in rows], dtype=np.uint8)


# (skill, input, params, expected output), written by hand.
ORACLE_CASES = [
    ("flip", g("120", "034"), {"axis": "h"}, g("021", "430")),
    ("flip", g("120", "034"), {"axis": "v"}, g("034", "120")),
    ("rotate", g("123", "456"), {"degrees": 90}, g("36", "25", "14")),
    ("rotate", g("12", "34"), {"degrees": 180}, g("43", "21")),
    ("rotate", g("123", "456"), {"degrees": 270}, g("41", "52", "63")),
    ("colour_map", g("120", "312"), {"mapping": ((1, 2), (2, 1))}, g("210", "321")),
    # down 1, left 1: the 1 falls off the left edge, the 4 off the bottom
    ("translate", g("120", "030", "004"), {"dy": 1, "dx": -1}, g("000", "200", "300")),
    ("gravity", g("102", "030", "400"), {"direction": "down"}, g("000", "100", "432")),
    ("gravity", g("102", "030", "400"), {"direction": "up"}, g("132", "400", "000")),
    ("gravity", g("102", "030", "400"), {"direction": "left"}, g("120", "300", "400")),
    ("gravity", g("102", "030", "400"), {"direction": "right"}, g("012", "003", "004")),
    # the left ring is closed and fills; the right one leaks through (2, 6) to the border
    ("flood_fill", g("2220333", "2020303", "2220300"), {"fill": 4},
     g("2220333", "2420303", "2220300")),
    ("count_objects", g("1102", "0002", "5000"), {"colour": 3}, g("333")),
    ("crop", g("0000", "0120", "0010", "0000"), {}, g("12", "01")),
    ("scale", g("10", "02"), {"factor": 2}, g("1100", "1100", "0022", "0022")),
    ("scale", g("3"), {"factor": 3}, g("333", "333", "333")),
    ("symmetry_complete", g("1201", "3000"), {"erased_side": "right"}, g("1221", "3003")),
    ("symmetry_complete", g("00302", "10101"), {"erased_side": "left"}, g("20302", "10101")),
    ("draw_line", g("0000", "0020", "0000", "0000"), {"direction": "down"},
     g("0000", "0020", "0020", "0020")),
    ("draw_line", g("0000", "0020", "0000", "0000"), {"direction": "up"},
     g("0020", "0020", "0000", "0000")),
    ("draw_line", g("0000", "0020", "0000", "0000"), {"direction": "left"},
     g("0000", "2220", "0000", "0000")),
    ("draw_line", g("0000", "0020", "0000", "0000"), {"direction": "right"},
     g("0000", "0022", "0000", "0000")),
    ("recolour_by_size", g("5505", "5000", "0055"), {"largest": 1, "other": 2},
     g("1102", "1000", "0022")),
    ("denoise", g("3000", "0044", "0040", "6000"), {}, g("0000", "0044", "0040", "0000")),
    ("outline", g("000000", "077770", "077770", "077770", "000001"), {},
     g("000000", "077770", "070070", "077770", "000001")),
    ("tile", g("10", "02"), {"axis": "horizontal", "times": 2}, g("1010", "0202")),
    ("tile", g("12"), {"axis": "vertical", "times": 3}, g("12", "12", "12")),
    ("sort_bars", g("00000", "30000", "30400", "30406"), {"gap": 1},
     g("00000", "00003", "00403", "60403")),
    ("majority_colour", g("122", "021"), {"output": "1x1"}, g("2")),
    ("majority_colour", g("122", "021"), {"output": "same_shape"}, g("222", "222")),
    ("mask", g("10507", "11570"), {"colour": 4}, g("00", "40")),
]  # fmt: skip


@pytest.mark.parametrize(
    "skill, grid, params, expected", ORACLE_CASES, ids=[case[0] for case in ORACLE_CASES]
)
def test_oracle_on_hand_made_grids(skill, grid, params, expected) -> None:
    out = SKILLS[skill].apply(grid, params)
    assert out.dtype == np.uint8
    assert out.tolist() == expected.tolist()


def test_every_skill_has_a_hand_made_case() -> None:
    assert {case[0] for case in ORACLE_CASES} == set(SKILLS)


@pytest.mark.parametrize("skill", list(SKILLS))
def test_same_seed_same_task_other_seed_other_task(skill) -> None:
    first = generate_task(skill, np.random.default_rng(11))
    again = generate_task(skill, np.random.default_rng(11))
    other = generate_task(skill, np.random.default_rng(12))
    assert first.name == again.name and task_key(first) == task_key(again)
    assert task_key(first) != task_key(other) and first.name != other.name


@pytest.mark.parametrize("skill", list(SKILLS))
def test_generated_grids_are_valid_and_follow_the_oracle(skill) -> None:
    rng = np.random.default_rng(5)
    for max_size in (SKILLS[skill].min_size, 10):
        for _ in range(3):
            task, params = generate_instance(
                skill, rng, num_demos=3, num_tests=2, max_size=max_size
            )
            assert task.skill == skill and task.name.startswith(f"{skill}-")
            assert len(task.train) == 3 and len(task.test) == 2
            inputs = [p.input.tobytes() + bytes(p.input.shape) for p in (*task.train, *task.test)]
            assert len(set(inputs)) == len(inputs)
            for pair in (*task.train, *task.test):
                for grid in (pair.input, pair.output):
                    assert grid.dtype == np.uint8 and grid.ndim == 2
                    assert 1 <= min(grid.shape) and max(grid.shape) <= max_size
                    assert grid.max() <= 9 and grid.any()
                assert np.array_equal(pair.output, SKILLS[skill].apply(pair.input, params))
                assert not np.array_equal(pair.input, pair.output)


def test_instances_are_unambiguous() -> None:
    """The generator never builds the inputs that would make an answer a matter of taste."""
    rng = np.random.default_rng(3)
    for _ in range(5):
        for pair in generate_task("count_objects", rng, num_demos=4).train:
            # no two objects touch diagonally: 8-connected count == 4-connected count
            assert len(objects(pair.input)) == _count_8_connected(pair.input)
        for pair in generate_task("majority_colour", rng, num_demos=4).train:
            counts = sorted(np.bincount(pair.input.ravel(), minlength=10)[1:], reverse=True)
            assert counts[0] > counts[1]
        for pair in generate_task("recolour_by_size", rng, num_demos=4).train:
            sizes = sorted((int(m.sum()) for m in objects(pair.input)), reverse=True)
            assert len(sizes) >= 2 and sizes[0] > sizes[1]


def _count_8_connected(grid: np.ndarray) -> int:
    """Objects under 8-connectivity, by union-find (apart from the module's BFS)."""
    cells = [tuple(rc) for rc in np.argwhere(grid != 0)]
    parent = {c: c for c in cells}

    def root(c):
        while parent[c] != c:
            c = parent[c]
        return c

    for r, c in cells:
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if (r + dy, c + dx) in parent:
                    parent[root((r + dy, c + dx))] = root((r, c))
    return len({root(c) for c in cells})


def test_train_and_heldout_skills_split_all_eighteen() -> None:
    assert len(SKILLS) == 18 and len(TRAIN_SKILLS) == 14 and len(HELDOUT_SKILLS) == 4
    assert not set(TRAIN_SKILLS) & set(HELDOUT_SKILLS)
    assert set(TRAIN_SKILLS) | set(HELDOUT_SKILLS) == set(SKILLS)


def test_generate_split_cycles_skills_without_duplicates() -> None:
    tasks = generate_split(TRAIN_SKILLS, 30, np.random.default_rng(0), num_demos=2)
    assert [t.skill for t in tasks] == [TRAIN_SKILLS[i % 14] for i in range(30)]
    assert len({t.name for t in tasks}) == 30
    assert len({task_key(t) for t in tasks}) == 30
    assert all(len(t.train) == 2 for t in tasks)


def test_generate_split_redraws_a_duplicate(monkeypatch) -> None:
    real = skills.generate_task
    first = real("flip", np.random.default_rng(0))
    draws = iter([first, first, first])  # the second and third are duplicates

    def repeating(skill, rng, **kw):
        return next(draws, None) or real(skill, rng, **kw)

    monkeypatch.setattr(skills.generation, "generate_task", repeating)
    tasks = generate_split(["flip"], 2, np.random.default_rng(1))
    assert task_key(tasks[0]) == task_key(first) != task_key(tasks[1])


def test_task_key_ignores_the_name_but_not_the_grids() -> None:
    task = generate_task("scale", np.random.default_rng(0))
    renamed = FewShotTask("other", task.train, task.test, task.skill)
    assert task_key(renamed) == task_key(task)
    swapped = FewShotTask(task.name, task.train[::-1], task.test, task.skill)
    assert task_key(swapped) != task_key(task)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda rng: generate_task("juggle", rng), "unknown skill 'juggle'"),
        (lambda rng: generate_task("flip", rng, num_demos=0), "num_demos must be"),
        (lambda rng: generate_task("flip", rng, num_tests=0), "num_tests must be"),
        (lambda rng: generate_task("scale", rng, max_size=5), "needs max_size between 6"),
        (lambda rng: generate_split(["flip", "nope"], 2, rng), "unknown skill 'nope'"),
        (lambda rng: generate_split("flip", 2, rng), "non-empty list of skill names"),
        (lambda rng: generate_split(["flip"], 2, rng, name="x"), "names its tasks itself"),
    ],
)
def test_bad_requests_raise_user_error(call, message) -> None:
    with pytest.raises(UserError, match=message):
        call(np.random.default_rng(0))
