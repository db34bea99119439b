"""Shared by the suite tests: a fake trainer, a run preset, and the toy suite that the seed
plan's decision tree becomes in small."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support import tiny_config, write

from ponder.config import dump_config
from ponder.errors import TrainingDiverged


class FakeTrainer:
    """Leaves what ponder's trainer leaves (config.yaml, summary.json) with chosen exact
    values: `exact` maps a run id to one value, or one per seed."""

    def __init__(self, exact: dict, *, interrupt_at: int = 0, stopped=(), diverged=()):
        self.exact, self.interrupt_at = exact, interrupt_at
        self.stopped, self.diverged = set(stopped), set(diverged)
        self.calls: list[str] = []

    def __call__(self, config) -> Path:
        run_dir = config.resolved_run_dir()
        self.calls.append(run_dir.name)
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        run_id, seed = run_dir.name.rsplit("-s", 1)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(dump_config(config))
        if run_id in self.diverged:
            raise TrainingDiverged("loss is not finite")
        value = self.exact.get(run_id, 0.0)
        value = value[int(seed)] if isinstance(value, list) else value
        summary = {
            "model": "trm",
            "params": 1000,
            "steps": config.train.steps,
            "train_seconds": 0.5,
            "best_exact": value,
            "stopped_early": "fail-fast: exact < 0.2" if run_id in self.stopped else None,
            "final_eval": {"exact": value, "exact_ci_low": value / 2},
        }
        (run_dir / "summary.json").write_text(json.dumps(summary))
        return run_dir


def _never_train(config) -> Path:
    raise AssertionError(f"trained {config.resolved_run_dir()}")


@pytest.fixture
def fake_trainer() -> type[FakeTrainer]:
    return FakeTrainer


@pytest.fixture
def never_train() -> Callable:
    """A trainer that fails the test when anything trains."""
    return _never_train


@pytest.fixture
def preset(tmp_path) -> Path:
    """A run preset whose dataset is an empty directory: the fake trainer never opens it."""
    config = tiny_config(tmp_path, tmp_path / "unused")
    return write(tmp_path / "preset.yaml", yaml.safe_dump(config.to_dict()))


@pytest.fixture
def toy_suite(tmp_path, preset) -> dict:
    """The seed's decision tree in small, writing into tmp_path/out: a baseline, an
    encoder, a diagnostic, a tuned variant and a full-data run."""
    cfg = str(preset)
    return {
        "name": "toy",
        "out": str(tmp_path / "out"),
        "runs": {
            "base": {"config": cfg},
            "enc": {"config": cfg, "overrides": ["train.lr=0.002"], "seeds": [0, 1]},
            "diag": {"config": cfg, "overrides": {"train.lr": 3e-3}},
            "tuned": {"config": cfg, "overrides": ["train.lr=5e-4"]},
            "full": {"config": cfg, "overrides": ["train.steps=8"], "after": ["base"]},
        },
        "phases": [
            {
                "name": "phase1",
                "runs": ["base", "enc", "diag"],
                "decide": [
                    {"if": "base.metric < 0.9", "then": "stop", "say": "DEBUG BASELINE"},
                    {"if": "enc.metric >= 0.9", "then": "phase4", "say": "SUCCESS"},
                    {"if": "diag.metric < 0.9", "then": "stop", "say": "FIX INTERFACE"},
                    {"else": "phase3"},
                ],
            },
            {
                "name": "phase3",
                "runs": ["tuned"],
                "decide": [
                    {"if": "any(tuned, enc).metric >= 0.9", "then": "phase4", "say": "SUCCESS"},
                    {"else": "stop", "say": "REDESIGN"},
                ],
            },
            {"name": "phase4", "runs": ["full"]},
        ],
    }


@pytest.fixture
def write_suite(tmp_path) -> Callable[[dict], Path]:
    """Writes a suite mapping to tmp_path/suite.yaml and returns the file."""

    def write_file(raw: dict) -> Path:
        return write(tmp_path / "suite.yaml", yaml.safe_dump(raw, sort_keys=False))

    return write_file
