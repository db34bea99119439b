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
