"""Few-shot datasets: layout, demonstrations reachable from every example, leave-one-out,
seen/unseen sets, identifiers, augmented views that invert exactly, and reuse."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.data.fewshot import (
    check_fewshot_split,
    first_tasks,
    read_task_names,
    row_to_view,
    split_tasks,
)
from ponder.data.fewshot_build import build_arc_dataset, build_skills_dataset
from ponder.data.format import load_split, read_identifiers
from ponder.data.loader import TrainBatches, eval_batches
from ponder.errors import UserError
from ponder.tasks.arc import decode_view, load_arc
from ponder.tasks.skills import HELDOUT_SKILLS, TRAIN_SKILLS


@pytest.fixture(scope="module")
def skills_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fewshot") / "skills"
    return build_skills_dataset(out, train=28, test=14, unseen=8, seed=0, demos=3, max_size=6)


@pytest.fixture(scope="module")
def arc_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fewshot") / "arc"
    return build_arc_dataset(out, source="arcagi1", train=3, test=2, views=2, test_views=3)


def test_skills_layout_has_seen_and_unseen_sets(skills_dir) -> None:
    test = load_split(skills_dir, "test")
    assert test.metadata.sets == ("seen", "unseen")
    assert test.set_ranges == {"seen": (0, 14), "unseen": (14, 22)}
    names = read_task_names(skills_dir, "test")
    skills = (
        [n.split("-", 2)[2] for n in names["seen"]],
        [n.split("-", 2)[2] for n in names["unseen"]],
    )
    assert set(skills[0]) <= set(TRAIN_SKILLS) and set(skills[1]) <= set(HELDOUT_SKILLS)
    train = load_split(skills_dir, "train")
    assert train.num_puzzles == 28 and train.num_examples == 28 * 4  # 3 demos + 1 test each
    assert test.num_examples == 22  # test pairs only


def test_every_example_reaches_its_own_puzzles_demonstrations(skills_dir) -> None:
    split = load_split(skills_dir, "train")
    batch = TrainBatches(split, 32, seed=0).batch(0)
    fs = split.fewshot
    for row in range(32):
        inputs = batch["inputs"][row].numpy()
        example = int(np.nonzero((split.inputs == inputs).all(1))[0][0])
        puzzle = int(np.searchsorted(split.puzzle_indices, example, side="right") - 1)
        assert np.array_equal(batch["demo_inputs"][row].numpy(), fs["demo_inputs"][puzzle])
        assert np.array_equal(batch["demo_labels"][row].numpy(), fs["demo_labels"][puzzle])


def test_leave_one_out_never_shows_an_example_its_own_pair(skills_dir) -> None:
    split = load_split(skills_dir, "train")
    seen_demo_examples = 0
    for batch in eval_batches(split, 16):
        for row in range(len(batch["inputs"])):
            pair = (batch["inputs"][row], batch["labels"][row])
            visible = batch["demo_mask"][row].nonzero().flatten().tolist()
            assert visible, "every example sees at least one demonstration"
            for k in visible:
                same_in = bool((batch["demo_inputs"][row, k] == pair[0]).all())
                same_out = bool((batch["demo_labels"][row, k] == pair[1]).all())
                assert not (same_in and same_out), "an example saw its own answer"
            slot = int(split.fewshot["example_slot"][int(batch["index"][row])])
            if slot >= 0:
                seen_demo_examples += 1
                assert len(visible) == 2  # the other two of three demonstrations
            else:
                assert len(visible) == 3
    assert seen_demo_examples == 28 * 3


def test_held_out_instances_get_identifiers_never_trained(skills_dir) -> None:
    train, test = load_split(skills_dir, "train"), load_split(skills_dir, "test")
    assert not set(test.puzzle_identifiers) & set(train.puzzle_identifiers)
    assert len(read_identifiers(skills_dir)) == 1 + 28 + 22
    assert train.metadata.num_puzzle_identifiers == test.metadata.num_puzzle_identifiers == 51


def test_overfit_mode_tests_on_the_training_tasks(tmp_path) -> None:
    out = build_skills_dataset(tmp_path / "o", train=6, test=6, unseen=2, seed=1, max_size=6,
                               overfit=True)  # fmt: skip
    train, test = load_split(out, "train"), load_split(out, "test")
    seen = test.puzzle_identifiers[slice(*test.set_ranges["seen"])]
    assert set(seen) == set(train.puzzle_identifiers)


def test_same_recipe_is_reused_and_a_different_one_refused(skills_dir) -> None:
    again = build_skills_dataset(skills_dir, train=28, test=14, unseen=8, seed=0, max_size=6)
    assert again == skills_dir
    with pytest.raises(UserError, match="different dataset"):
        build_skills_dataset(skills_dir, train=28, test=14, unseen=8, seed=1, max_size=6)


def test_arc_views_decode_back_to_the_original_answers(arc_dir) -> None:
    test = load_split(arc_dir, "test")
    originals = {t.name: t for t in load_arc("arcagi1", "evaluation")[:2]}
    names = read_task_names(arc_dir, "test")["all"]
    assert test.num_groups == 2 and test.num_puzzles == 6  # 3 views each
    for group, name in enumerate(names):
        for puzzle in range(test.group_indices[group], test.group_indices[group + 1]):
            view = row_to_view(test.fewshot["puzzle_views"][puzzle])
            start, end = test.puzzle_indices[puzzle], test.puzzle_indices[puzzle + 1]
            for example in range(start, end):
                j = int(test.fewshot["example_test_index"][example])
                answer = decode_view(test.labels[example], view, 30)
                assert np.array_equal(answer, originals[name].test[j].output)


def test_arc_evaluation_demonstrations_train_under_the_test_identifiers(arc_dir) -> None:
    train, test = load_split(arc_dir, "train"), load_split(arc_dir, "test")
    assert set(test.puzzle_identifiers) <= set(train.puzzle_identifiers)
    # the evaluation tasks' test pairs never enter training
    test_rows = {row.tobytes() for row in test.labels}
    assert not any(row.tobytes() in test_rows for row in train.labels)


def test_first_tasks_keeps_the_first_tasks_of_each_set_with_their_views(skills_dir, arc_dir):
    for root in (skills_dir, arc_dir):
        test, names = load_split(root, "test"), read_task_names(root, "test")
        subset, kept = first_tasks(test, names, 2)
        check_fewshot_split("subset", subset)  # offsets and few-shot arrays line up
        assert kept == {set_name: found[:2] for set_name, found in names.items()}
        whole = {t.name: t for t in split_tasks(test, names)}
        for task in split_tasks(subset, kept):
            want = whole[task.name]
            pairs = zip((*task.train, *task.test), (*want.train, *want.test), strict=True)
            assert all(np.array_equal(a.input, b.input) for a, b in pairs)
        groups = sum(len(v) for v in kept.values())
        puzzles = test.group_indices[1] - test.group_indices[0]  # every task has its views
        assert subset.num_groups == groups and subset.num_puzzles == groups * puzzles
    subset, _ = first_tasks(load_split(skills_dir, "test"), read_task_names(skills_dir, "test"), 2)
    assert subset.set_ranges == {"seen": (0, 2), "unseen": (2, 4)}
