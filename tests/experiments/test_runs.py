"""One run of an experiment: its config with stop rules, reusing or resuming a seed, and
refusing a finished run of another config. Fixtures: conftest.py."""

from __future__ import annotations

import pytest
from support import tiny_config

from ponder.config import FailFastRule
from ponder.errors import UserError
from ponder.experiments.configs import stop_rule_step
from ponder.experiments.runs import config_differences, default_train
from ponder.experiments.schema import StopRule
from ponder.experiments.suite import load_suite, run_suite


def test_a_finished_run_of_another_config_is_refused(
    toy_suite, write_suite, fake_trainer, never_train
):
    run_suite(load_suite(write_suite(toy_suite)), fake_trainer({"base": 0.1}))
    toy_suite["runs"]["base"]["overrides"] = ["train.lr=0.01"]
    with pytest.raises(UserError, match=r"another config \(differs at train.lr\)"):
        run_suite(load_suite(write_suite(toy_suite)), never_train)


def test_config_differences_ignore_where_and_on_what_a_run_trains():
    saved = {"device": "cpu", "run_dir": "a", "name": "x", "train": {"lr": 1e-3, "steps": 6}}
    now = {"device": "cuda", "run_dir": "b", "name": "y", "train": {"lr": 1e-4, "steps": 6}}
    assert config_differences(saved, now) == ["train.lr"]
    assert config_differences({"model": {"n": 2}}, {"model": {}}) == ["model", "model.n"]


def test_stop_rules_become_fail_fast(toy_suite, write_suite):
    raw = toy_suite
    raw["stop_rules"] = [{"metric": "exact", "below": 0.2, "at": 0.5}]
    raw["runs"]["tuned"]["overrides"] = ["train.steps=10", "train.eval_every=4"]
    raw["runs"]["full"]["overrides"] = [
        "train.steps=10",
        "train.fail_fast=[{step: 9, below: 0.5}]",
    ]
    plan = load_suite(write_suite(raw))
    base = plan.configs["base", 0].train  # 6 steps, evaluated only at the end
    assert base.fail_fast == [FailFastRule(step=3, metric="exact", below=0.2)]
    assert base.eval_every == 3  # so that step 3 is evaluated
    tuned = plan.configs["tuned", 0].train  # evaluates every 4: judged at step 8
    assert tuned.fail_fast[0].step == 5 and tuned.eval_every == 4
    full = plan.configs["full", 0].train  # the preset's own rule is kept
    assert [r.step for r in full.fail_fast] == [9, 5] and full.eval_every == 5
    raw["stop_rules"] = [{"below": 0.2, "at": 0.95}]  # step 6 of 6: never judged
    with pytest.raises(UserError, match="falls on step 6 of 6"):
        load_suite(write_suite(raw))


def test_a_stop_rule_step_is_rounded_before_its_ceiling():
    assert stop_rule_step(StopRule(below=0.2, at=0.07), 100, "here") == 7  # not 7.000000000000001
    assert stop_rule_step(StopRule(below=0.2, at=0.25), 10, "here") == 3


def test_default_train_resumes_a_run_with_a_checkpoint(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("ponder.train.launch.train", lambda config, **kw: calls.append(kw))
    config = tiny_config(tmp_path, tmp_path / "run")
    default_train(config)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.safetensors").write_bytes(b"")
    default_train(config)
    assert calls == [{"overwrite": False}, {"resume": True}]
