"""The curriculum: small routing cities on a canvas first, then the run's own data, moved on
by a schedule or by accuracy; its stage is logged and survives checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import tiny_config

from ponder.data import build_dataset
from ponder.data.dataset import open_dataset
from ponder.data.loader import TrainBatches
from ponder.errors import UserError
from ponder.models import build_model
from ponder.runs import open_run_data
from ponder.tasks.routing import BUILDING
from ponder.train.curriculum import CurriculumBatches
from ponder.train.engine import Trainer
from ponder.train.launch import (
    _advancing,
    make_loader,
    open_stages,
    train,
)
from ponder.train.runtime import make_runtime

SIDE = 8  # the canvas and the final city size: every stage is (9, 8) = 72 tokens


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """(small 6x6 cities on an 8 canvas, 8x8 cities): 16 train / 8 test each."""
    root = tmp_path_factory.mktemp("curriculum")
    small = build_dataset("routing", root / "small", train=16, test=8, seed=0, size=6, canvas=8)
    big = build_dataset("routing", root / "big", train=16, test=8, seed=1, size=SIDE)
    return small, big


def padded(inputs) -> np.ndarray:
    """(B,) True where a batch row is a 6x6 city: its last two city rows and columns are
    all BUILDING. inputs: int64 [B, 72]."""
    city = inputs.numpy().reshape(-1, SIDE + 1, SIDE)[:, 1:]  # (B, 8, 8)
    rows, cols = city[:, 6:, :] == BUILDING, city[:, :, 6:] == BUILDING  # (B, 2, 8), (B, 8, 2)
    return rows.all(axis=(1, 2)) & cols.all(axis=(1, 2))


def stage_batches(datasets) -> list[TrainBatches]:
    return [TrainBatches(open_dataset(path).train, 8, seed=0) for path in datasets]


def curriculum_config(datasets, run_dir, train_keys=(), **curriculum):
    small, big = datasets
    keys = {"curriculum": {"datasets": [str(small)], **curriculum}, **dict(train_keys)}
    return tiny_config(big, run_dir, train=keys, eval={"samples_png": 0})


def test_schedule_serves_stage_0_then_stage_1(datasets):
    loader = CurriculumBatches(stage_batches(datasets), at_steps=[3])
    for step in range(6):
        batch = loader.batch(step)
        want = loader.stages[int(step >= 3)].batch(step)["inputs"]
        assert (batch["inputs"] == want).all()
        assert padded(batch["inputs"]).all() == (step < 3)
        assert loader.log_fields(step) == {"curriculum_stage": float(step >= 3)}


def test_accuracy_mode_advances_only_at_the_threshold(datasets):
    loader = CurriculumBatches(stage_batches(datasets), threshold=0.5)
    assert not loader.observe({"exact": 0.49}) and loader.stage == 0
    assert padded(loader.batch(7)["inputs"]).all()
    assert loader.observe({"exact": 0.5}) and loader.stage == 1
    assert not padded(loader.batch(7)["inputs"]).all()
    assert not loader.observe({"exact": 1.0}) and loader.stage == 1  # the last stage stays
    fresh = CurriculumBatches(stage_batches(datasets), threshold=0.5)
    fresh.load_state_dict(loader.state_dict())
    assert fresh.stage == 1


def test_the_evaluation_judges_the_current_stage_and_advances_on_it(datasets):
    loader = CurriculumBatches(stage_batches(datasets), threshold=0.5)
    calls = []

    def judge(stage: int, exact: float):
        return lambda model: calls.append(stage) or {"exact": exact}

    evaluate = _advancing(judge(1, 0.1), [judge(0, 0.75), judge(1, 0.1)], loader)
    metrics = evaluate(None)
    # The reported exact is the run's own data (the last stage); the stage's is beside it.
    assert metrics == {"exact": 0.1, "curriculum_exact": 0.75, "curriculum_stage": 1.0}
    assert evaluate(None) == {"exact": 0.1, "curriculum_stage": 1.0}
    assert calls == [1, 0, 1]  # at the last stage only the run's own data is judged


def test_the_accuracy_stage_survives_a_checkpoint(datasets, tmp_path):
    cfg = curriculum_config(datasets, tmp_path / "run", {"eval_every": 2}, threshold=0.5)

    def trainer() -> Trainer:
        runtime = make_runtime("cpu", "fp32")
        data, objective = open_run_data(cfg)
        stages = open_stages(cfg, data, objective)
        loader, evaluate = make_loader(cfg, stages, objective, runtime)
        model = build_model(cfg.model, data.spec)
        return Trainer(cfg, model, loader, runtime, tmp_path / "run", evaluate, objective)

    first = trainer()
    first.loader.observe({"exact": 0.9})
    first.save("last")
    second = trainer()
    assert second.loader.stage == 0
    second.restore(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert second.loader.stage == 1


def test_a_stage_of_another_size_is_refused(datasets, tmp_path):
    other = build_dataset("routing", tmp_path / "six", train=4, test=2, seed=0, size=6)
    cfg = tiny_config(datasets[1], tmp_path / "run", train={"curriculum": {
        "datasets": [str(other)], "at_steps": [3]}})  # fmt: skip
    with pytest.raises(UserError, match=r"six has seq_len 42 but data.path \(.*big\) expects 72"):
        train(cfg, quiet=True)
    assert not (tmp_path / "run").exists()  # refused before the run directory is made


@pytest.mark.parametrize(
    ("curriculum", "words"),
    [
        ({"datasets": ["a"]}, "set exactly one of at_steps or threshold"),
        ({"datasets": ["a"], "at_steps": [2], "threshold": 0.5}, "exactly one"),
        ({"datasets": ["a", "b"], "at_steps": [3]}, "one step per dataset"),
        ({"datasets": ["a", "b"], "at_steps": [3, 3]}, "strictly increasing"),
        ({"datasets": ["a"], "at_steps": [6]}, r"must all be below steps \(6\)"),
        ({"datasets": ["a"], "threshold": 0.5}, "needs eval_every > 0"),
        ({"at_steps": [3]}, "datasets is empty"),
    ],
)
def test_bad_curriculum_keys_are_one_clear_error(tmp_path, curriculum, words):
    with pytest.raises(UserError, match=words):
        tiny_config(tmp_path, tmp_path / "run", train={"curriculum": curriculum})


def test_a_scheduled_curriculum_trains_and_logs_its_stage(datasets, tmp_path):
    short = {"steps": 4, "log_every": 1, "checkpoint_every": 0}
    cfg = curriculum_config(datasets, tmp_path / "run", short, at_steps=[2])
    run_dir = train(cfg, quiet=True)
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    stages = [(r["step"], r["train/curriculum_stage"]) for r in logged if "train/loss" in r]
    # A row logged at step s reports the stage of the step just taken (index s - 1).
    assert stages == [(1, 0.0), (2, 0.0), (3, 1.0), (4, 1.0)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 4 and "exact" in summary["final_eval"]
