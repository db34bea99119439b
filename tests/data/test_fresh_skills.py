"""The fresh skill-task stream (data.fresh_tasks): a pure function of (seed, step) in the
layout of the fixed stream, never a held-out skill nor a test-split instance, DDP ranks
partition the global batch, the refusals, and a short training run end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from support import run, tiny_config, write

from ponder.config import config_from_dict
from ponder.data.dataset import open_dataset
from ponder.data.fewshot import read_task_names, split_tasks
from ponder.data.fewshot_build import build_arc_dataset, build_skills_dataset
from ponder.data.fresh_skills import ForbiddenInstances, FreshSkillBatches, encode_task
from ponder.data.loader import TrainBatches
from ponder.errors import UserError
from ponder.tasks import skills
from ponder.tasks.fewshot import FewShotTask
from ponder.train.launch import train

ENCODER = {"kind": "standard", "hidden_size": 16, "num_heads": 2, "num_layers": 1}


@pytest.fixture(scope="module")
def skills_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fresh") / "skills"
    return build_skills_dataset(out, train=12, test=4, unseen=4, seed=0, demos=3, max_size=6)


@pytest.fixture(scope="module")
def data(skills_dir):
    return open_dataset(skills_dir)


def _stream(data, batch_size=8, seed=0, rank=0, world_size=1) -> FreshSkillBatches:
    return FreshSkillBatches.from_dataset(data, batch_size, seed, rank, world_size)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_stream_is_a_pure_function_of_seed_and_step(data) -> None:
    first = _stream(data).batch(3)
    assert _same(first, _stream(data).batch(3))  # a new stream (a resumed run) agrees
    assert not torch.equal(first["inputs"], _stream(data).batch(4)["inputs"])
    assert not torch.equal(first["inputs"], _stream(data, seed=1).batch(3)["inputs"])


def test_batches_have_the_fixed_streams_keys_dtypes_and_shapes(data) -> None:
    fixed = TrainBatches(data.train, 8, 0).batch(0)
    fresh = _stream(data).batch(0)
    assert fresh.keys() == fixed.keys()
    for key, want in fixed.items():
        assert (fresh[key].dtype, fresh[key].shape) == (want.dtype, want.shape), key
    assert fresh["demo_mask"].all()  # every demonstration of a fresh task is visible


def test_only_the_datasets_trained_skills_are_drawn(data, monkeypatch) -> None:
    drawn = []
    real = skills.generate_task

    def recording(skill, rng, **kw):
        drawn.append(skill)
        return real(skill, rng, **kw)

    monkeypatch.setattr(skills, "generate_task", recording)
    stream = _stream(data)
    batches = [stream.batch(step) for step in range(30)]
    # 12 training tasks: 12 of the 14 training skills, and only those are drawn.
    trained = json.loads((data.root / "train" / "tasks.json").read_text())["skills"]["all"]
    assert set(drawn) == set(trained) and len(set(trained)) == 12
    assert not set(drawn) & set(skills.HELDOUT_SKILLS)
    test_queries = {row.tobytes() for row in data.test.inputs.astype(np.uint8)}
    for batch in batches:
        rows = batch["inputs"].numpy().astype(np.uint8)
        assert not {row.tobytes() for row in rows} & test_queries


def _test_tasks(data) -> list[FewShotTask]:
    return split_tasks(data.test, read_task_names(data.root, "test"))


def test_a_test_split_instance_is_drawn_again(data, monkeypatch) -> None:
    shown = _test_tasks(data)[0]  # the first "seen" test task
    real, calls = skills.generate_task, []

    def test_task_first(skill, rng, **kw):
        calls.append(skill)
        return shown if len(calls) == 1 else real(skill, rng, **kw)

    monkeypatch.setattr(skills, "generate_task", test_task_first)
    row = _stream(data).task_at(0, 0)
    assert len(calls) == 2  # the test instance was drawn, refused, and drawn again
    assert not np.array_equal(row.query_input, encode_task(shown, 6).query_input)
    calls.clear()
    unchecked = FreshSkillBatches(_stream(data).recipe, ForbiddenInstances(data.train), 8, 0)
    assert np.array_equal(unchecked.task_at(0, 0).query_input, encode_task(shown, 6).query_input)


def test_a_test_split_pair_among_the_demonstrations_is_refused(data) -> None:
    held_out = _test_tasks(data)[-1]  # an "unseen" task
    new = skills.generate_task("rotate", np.random.default_rng(7), max_size=6)
    forbidden = ForbiddenInstances(data.test)
    assert not forbidden.shows(encode_task(new, 6))
    mixed = FewShotTask("mixed", train=(*new.train[:2], held_out.train[0]), test=new.test)
    assert forbidden.shows(encode_task(mixed, 6))


def test_ddp_ranks_partition_the_global_batch(data) -> None:
    whole = _stream(data).batch(5)
    parts = [_stream(data, rank=r, world_size=2).batch(5) for r in range(2)]
    for key, value in whole.items():
        assert torch.equal(torch.cat([p[key] for p in parts]), value), key


def test_only_the_needed_rows_are_drawn_and_they_match_the_whole_batch(data, monkeypatch) -> None:
    whole = _stream(data).batch(2)
    drawn = []
    original = FreshSkillBatches.task_at
    monkeypatch.setattr(
        FreshSkillBatches, "task_at", lambda self, s, r: drawn.append(r) or original(self, s, r)
    )
    needed = np.array([True, False, False, True, False, False, False, True])
    part = _stream(data).batch(2, needed=needed)
    assert drawn == [0, 3, 7]
    for key, value in whole.items():
        assert torch.equal(part[key][needed], value[needed]), key
        if key != "puzzle_identifiers" and key != "demo_mask":
            assert not part[key][~needed].any(), key  # blank rows, never read
    with pytest.raises(ValueError, match="needed has 3 rows"):
        _stream(data).batch(2, needed=needed[:3])


def test_training_draws_fresh_tasks_only_for_rows_that_halted(skills_dir, tmp_path, monkeypatch):
    drawn = []
    original = FreshSkillBatches.task_at
    monkeypatch.setattr(
        FreshSkillBatches, "task_at", lambda self, s, r: drawn.append(s) or original(self, s, r)
    )
    # N_sup 2, no halting: every row halts after 2 segments, so steps 0 and 2 refill all
    # 8 rows and steps 1 and 3 none. Batch 0 is also drawn whole twice before training
    # (the start-up checks and the engine's first rows).
    train(_fresh_config(skills_dir, tmp_path / "r", steps=4, N_sup=2), quiet=True)
    assert sorted(drawn) == [0] * 24 + [2] * 8


def _fresh_config(data_dir, run_dir, model=None, **train):
    base = {"n": 1, "T": 1, "puzzle_emb_len": 2, "demo_encoder": ENCODER}
    return tiny_config(
        data_dir, run_dir, data={"fresh_tasks": True}, model={**base, **(model or {})},
        train={"steps": 3, "halting": "none", "checkpoint_every": 3, **train},
    )  # fmt: skip


def test_a_short_run_trains_on_fresh_tasks(skills_dir, tmp_path) -> None:
    run_dir = train(_fresh_config(skills_dir, tmp_path / "r"), quiet=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 3
    assert "seen_pass1" in summary["final_eval"] and "unseen_pass1" in summary["final_eval"]


@pytest.mark.parametrize("name", ["seq_decoder", "seq_encdec", "seq_champion"])
def test_sequence_models_train_on_fresh_tasks(skills_dir, tmp_path, name) -> None:
    raw = _fresh_config(skills_dir, tmp_path / "r", N_sup=1).to_dict()
    model = {"name": name, "hidden_size": 16, "num_heads": 2, "ffn_multiple_of": 16}
    run_dir = train(config_from_dict({**raw, "model": model}), quiet=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 3 and "unseen_pass1" in summary["final_eval"]


@pytest.mark.parametrize(
    "model, train_keys, words",
    [
        ({"demo_encoder": None}, {}, "puzzle table"),
        ({"demo_encoder": {**ENCODER, "kind": "oracle"}}, {}, "oracle"),
        ({}, "curriculum", "does not combine with train.curriculum"),
    ],
)
def test_models_and_curricula_that_need_fixed_tasks_are_refused(
    skills_dir, tmp_path, model, train_keys, words
) -> None:
    if train_keys == "curriculum":
        train_keys = {"curriculum": {"datasets": [str(skills_dir)], "at_steps": [1]}}
    cfg = _fresh_config(skills_dir, tmp_path / "r", model, **train_keys)
    with pytest.raises(UserError, match=words):
        train(cfg, quiet=True)
    assert not (tmp_path / "r").exists()


def test_a_maze_dataset_exits_2_naming_the_switch(tiny_maze_dir, tmp_path, capsys) -> None:
    cfg = tiny_config(tiny_maze_dir, tmp_path / "r", data={"fresh_tasks": True})
    preset = write(tmp_path / "maze.yaml", yaml.safe_dump(cfg.to_dict()))
    code, _, err = run(["train", preset], capsys)
    assert code == 2 and "data.fresh_tasks" in err and len(err.strip().splitlines()) == 1


def test_an_arc_dataset_is_refused(tmp_path) -> None:
    arc = build_arc_dataset(tmp_path / "arc", train=1, test=1, views=1, test_views=1)
    with pytest.raises(UserError, match="not a generated skills dataset"):
        _stream(open_dataset(arc))
