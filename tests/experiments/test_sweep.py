"""Optuna sweeps as a suite mode: trials, resumption, failures and the best config."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import optuna
import pytest
import yaml
from support import tiny_config, write

from ponder.config import dump_config
from ponder.errors import TrainingDiverged, UserError
from ponder.experiments.cli import add_suite_parser
from ponder.experiments.sweep import load_sweep, run_sweep


class FakeTrainer:
    """Writes config.yaml and summary.json with exact peaking at lr = 1e-3 and n = 2."""

    def __init__(self, *, diverge_at: int = 0, interrupt_at: int = 0):
        self.diverge_at, self.interrupt_at = diverge_at, interrupt_at
        self.calls: list[str] = []

    def __call__(self, config) -> Path:
        run_dir = config.resolved_run_dir()
        self.calls.append(run_dir.name)
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(dump_config(config))
        if len(self.calls) == self.diverge_at:
            raise TrainingDiverged("loss is not finite")
        lr, n = config.train.lr, config.model.n
        exact = 1 - abs(math.log10(lr) + 3) / 4 - abs(n - 2) / 10
        summary = {"params": 1, "steps": 6, "train_seconds": 0.1, "stopped_early": None}
        summary["final_eval"] = {"exact": exact}
        (run_dir / "summary.json").write_text(json.dumps(summary))
        return run_dir


def sweep_file(tmp_path: Path, trials: int) -> Path:
    config = tiny_config(tmp_path, tmp_path / "unused")
    preset = write(tmp_path / "preset.yaml", yaml.safe_dump(config.to_dict()))
    raw = {
        "name": "lr_sweep",
        "mode": "sweep",
        "out": str(tmp_path / "out"),
        "config": str(preset),
        "overrides": {"train.steps": 6},
        "space": {
            "train.lr": {"low": 1e-5, "high": 1e-1, "log": True},
            "model.n": {"low": 1, "high": 3, "int": True},
            "train.loss": {"choices": ["softmax", "stablemax"]},
        },
        "trials": trials,
        "metric": "exact",
        "direction": "maximize",
        "seed": 0,
    }
    return write(tmp_path / "sweep.yaml", yaml.safe_dump(raw, sort_keys=False))


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ponder")
    add_suite_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


def _trials(tmp_path: Path) -> list:
    storage = f"sqlite:///{tmp_path / 'out' / 'study.db'}"
    return optuna.load_study(study_name="lr_sweep", storage=storage).trials


def test_a_sweep_writes_its_best_config_and_resumes(tmp_path, monkeypatch, capsys):
    fake = FakeTrainer()
    monkeypatch.setattr("ponder.experiments.sweep.default_train", fake)
    assert _cli(["suite", str(sweep_file(tmp_path, trials=3))]) == 0
    out = tmp_path / "out"
    assert (out / "study.db").is_file() and fake.calls == ["trial-0", "trial-1", "trial-2"]
    trials = _trials(tmp_path)
    best = max(trials, key=lambda t: t.value)
    saved = yaml.safe_load((out / f"trial-{best.number}" / "config.yaml").read_text())
    assert yaml.safe_load((out / "best_config.yaml").read_text()) == saved
    assert saved["train"]["lr"] == best.params["train.lr"] and saved["train"]["steps"] == 6
    assert f"best trial {best.number}" in capsys.readouterr().out
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0] == "trial,state,train.lr,model.n,train.loss,exact,steps,train_seconds,note"
    assert len(rows) == 4 and "| trial | state |" in (out / "results.md").read_text()
    more = FakeTrainer()
    monkeypatch.setattr("ponder.experiments.sweep.default_train", more)
    assert _cli(["suite", str(sweep_file(tmp_path, trials=4))]) == 0
    assert more.calls == ["trial-3"] and len(_trials(tmp_path)) == 4
    assert len(set(tuple(sorted(t.params.items())) for t in _trials(tmp_path))) == 4


def test_a_failed_training_fails_its_trial_not_the_sweep(tmp_path):
    plan = load_sweep(sweep_file(tmp_path, trials=2))
    study = run_sweep(plan, FakeTrainer(diverge_at=1))
    states = [t.state.name for t in study.trials]
    assert states == ["FAIL", "COMPLETE"]
    assert "loss is not finite" in (tmp_path / "out" / "trial-0" / "failed.json").read_text()
    assert "| 0 | fail |" in (tmp_path / "out" / "results.md").read_text()


def test_an_interrupted_trial_resumes_with_its_parameters(tmp_path):
    plan = load_sweep(sweep_file(tmp_path, trials=3))
    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, FakeTrainer(interrupt_at=2))
    interrupted = _trials(tmp_path)[1]
    assert interrupted.state.name == "RUNNING"
    again = FakeTrainer()
    study = run_sweep(plan, again)
    assert again.calls == ["trial-1", "trial-2"]
    assert study.trials[1].params == interrupted.params
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3


def test_a_bad_search_space_is_refused_before_any_trial(tmp_path):
    file = sweep_file(tmp_path, trials=2)
    raw = yaml.safe_load(file.read_text())
    raw["space"]["train.lrr"] = {"low": 1, "high": 2}
    with pytest.raises(UserError, match="unknown config key 'train.lrr'"):
        load_sweep(write(file, yaml.safe_dump(raw)))
    raw["space"] = {"train.lr": {"low": 0, "high": 1, "log": True}}
    with pytest.raises(UserError, match="a log range needs low > 0"):
        load_sweep(write(file, yaml.safe_dump(raw)))
    assert not (tmp_path / "out").exists()
