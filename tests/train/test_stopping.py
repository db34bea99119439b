import json

from support import tiny_config

from ponder.config import TrainConfig
from ponder.train.launch import train
from ponder.train.stopping import StopRules


def test_early_stop_after_patience_without_improvement():
    rules = StopRules(TrainConfig(early_stop={"patience": 2, "min_delta": 0.01}))
    assert rules.check(1, {"exact": 0.5}) is None
    assert rules.check(2, {"exact": 0.505}) is None  # not better by min_delta: stale 1
    assert "early stop" in rules.check(3, {"exact": 0.4})


def test_fail_fast_fires_at_the_first_eval_past_its_step():
    rules = StopRules(TrainConfig(fail_fast=[{"step": 100, "metric": "exact", "below": 0.2}]))
    assert rules.check(50, {"exact": 0.0}) is None  # too early to judge
    reason = rules.check(120, {"exact": 0.1})
    assert reason and "fail-fast" in reason and "step 120" in reason
    passing = StopRules(TrainConfig(fail_fast=[{"step": 100, "below": 0.2}]))
    assert passing.check(100, {"exact": 0.3}) is None


def test_a_run_stops_and_records_why(tiny_maze_dir, tmp_path):
    cfg = tiny_config(
        tiny_maze_dir,
        tmp_path / "ff",
        train={"steps": 8, "eval_every": 2, "fail_fast": [{"step": 2, "below": 0.5}]},
    )
    run_dir = train(cfg, quiet=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 2 and "fail-fast" in summary["stopped_early"]


def test_early_stop_on_a_loss_waits_for_it_to_fall():
    from ponder.config import EarlyStopConfig

    rules = StopRules(TrainConfig(early_stop=EarlyStopConfig(metric="val_loss", mode="min",
                                                             patience=2)))  # fmt: skip
    assert rules.check(1, {"val_loss": 1.0}) is None
    assert rules.check(2, {"val_loss": 0.5}) is None  # lower is better
    assert rules.check(3, {"val_loss": 0.7}) is None
    assert "val_loss" in rules.check(4, {"val_loss": 0.6})


def test_top_checkpoints_keep_the_k_lowest_losses(tmp_path):
    from ponder.train.topk import TopCheckpoints

    top = TopCheckpoints(tmp_path, k=2)
    make = lambda: ({"w": __import__("torch").zeros(1)}, {"step": 0})  # noqa: E731
    for step, loss in [(1, 0.9), (2, 0.5), (3, 0.7), (4, 0.95), (5, 0.4)]:
        top.offer(step, loss, make)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "val-0000002.safetensors",
        "val-0000005.safetensors",
    ]
    assert top.state() == [[0.4, 5], [0.5, 2]]
