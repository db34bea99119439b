"""Experiment suites: decision rules, resumption, validation, stop rules, results files,
and one real tiny suite."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml
from support import tiny_config, write

from ponder.config import FailFastRule, dump_config
from ponder.errors import TrainingDiverged, UserError
from ponder.experiments.cli import add_suite_parser
from ponder.experiments.suite import (
    Condition,
    RunResult,
    SeedResult,
    decide,
    default_train,
    load_suite,
    run_suite,
)

REPO = Path(__file__).resolve().parents[2]


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


def never_train(config) -> Path:
    raise AssertionError(f"trained {config.resolved_run_dir()}")


@pytest.fixture
def preset(tmp_path) -> Path:
    """A run preset whose dataset is an empty directory: the fake trainer never opens it."""
    config = tiny_config(tmp_path, tmp_path / "unused")
    return write(tmp_path / "preset.yaml", yaml.safe_dump(config.to_dict()))


def toy_suite(preset: Path, out: Path) -> dict:
    """The seed's decision tree in small: a baseline, an encoder, a diagnostic, a tuned
    variant and a full-data run."""
    cfg = str(preset)
    return {
        "name": "toy",
        "out": str(out),
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


def write_suite(tmp_path: Path, raw: dict, name: str = "suite.yaml") -> Path:
    return write(tmp_path / name, yaml.safe_dump(raw, sort_keys=False))


PASSED_PHASE1 = {"base": 1.0, "enc": 0.5, "diag": 1.0}


@pytest.mark.parametrize(
    ("exact", "path", "outcome"),
    [
        ({"base": 0.5}, ["phase1"], "DEBUG BASELINE"),
        ({"base": 0.95, "enc": 0.95}, ["phase1", "phase4"], "SUCCESS"),
        ({"base": 0.95, "enc": [0.95, 0.8], "diag": 0.3}, ["phase1"], "FIX INTERFACE"),
        (PASSED_PHASE1 | {"tuned": 0.9}, ["phase1", "phase3", "phase4"], "SUCCESS"),
        (PASSED_PHASE1 | {"tuned": 0.1}, ["phase1", "phase3"], "REDESIGN"),
    ],
)
def test_decision_rules_pick_the_path(tmp_path, preset, exact, path, outcome):
    fake = FakeTrainer(exact)
    report = run_suite(load_suite(write_suite(tmp_path, toy_suite(preset, tmp_path / "out"))), fake)
    assert report.path == path and report.outcome == outcome
    assert fake.calls[:4] == ["base-s0", "enc-s0", "enc-s1", "diag-s0"]
    state = json.loads((tmp_path / "out" / "state.json").read_text())
    assert state["status"] == "done" and state["outcome"] == outcome
    assert [d["phase"] for d in state["decisions"]] == path


def test_an_interrupted_suite_continues_and_decides_the_same(tmp_path, preset):
    exact = {"base": 1.0, "enc": 0.5, "diag": 1.0, "tuned": 0.95, "full": 0.7}
    file = write_suite(tmp_path, toy_suite(preset, tmp_path / "out"))
    with pytest.raises(KeyboardInterrupt):
        run_suite(load_suite(file), FakeTrainer(exact, interrupt_at=3))
    state = json.loads((tmp_path / "out" / "state.json").read_text())
    assert state["status"] == "running" and set(state["runs"]) == {"base-s0", "enc-s0"}
    again = FakeTrainer(exact)
    report = run_suite(load_suite(file), again)
    assert again.calls == ["enc-s1", "diag-s0", "tuned-s0", "full-s0"]  # not base, enc-s0
    assert report.path == ["phase1", "phase3", "phase4"] and report.outcome == "SUCCESS"
    assert report.trained == again.calls
    third = run_suite(load_suite(file), never_train)  # everything finished: nothing trains
    assert third.decisions == report.decisions


def test_a_finished_run_of_another_config_is_refused(tmp_path, preset):
    raw = toy_suite(preset, tmp_path / "out")
    run_suite(load_suite(write_suite(tmp_path, raw)), FakeTrainer({"base": 0.1}))
    raw["runs"]["base"]["overrides"] = ["train.lr=0.01"]
    with pytest.raises(UserError, match=r"another config \(differs at train.lr\)"):
        run_suite(load_suite(write_suite(tmp_path, raw)), never_train)


def _break(raw: dict, change: str) -> None:
    phase1 = raw["phases"][0]
    if change == "after":
        raw["runs"]["full"]["after"] = ["nobody"]
    elif change == "condition":
        phase1["decide"][0]["if"] = "nobody.metric < 0.9"
    elif change == "then":
        phase1["decide"][3] = {"else": "phase9"}
    elif change == "cycle":
        raw["runs"]["base"]["after"] = ["diag"]
        raw["runs"]["diag"]["after"] = ["enc"]
        raw["runs"]["enc"]["after"] = ["base"]
    elif change == "unsafe":
        phase1["decide"][0]["if"] = "__import__('os').system('touch hacked')"
    elif change == "not yet run":
        phase1["decide"][0]["if"] = "tuned.metric < 0.9"
    elif change == "top key":
        raw["stop_rule"] = []
    elif change == "missing config":
        raw["runs"]["tuned"]["config"] = "configs/no_such_preset.yaml"
    elif change == "missing data":
        raw["runs"]["full"]["overrides"] = ["data.path=no_such_data"]
    elif change == "override key":
        raw["runs"]["tuned"]["overrides"] = ["train.lrr=0.1"]
    elif change == "rule form":
        phase1["decide"][3] = {"if": "base.metric > 0"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("after", "run full comes after unknown run 'nobody'"),
        ("condition", "unknown run 'nobody'"),
        ("then", "phase phase1 goes to unknown phase 'phase9'"),
        ("cycle", r"cycle: base -> diag -> enc -> base"),
        ("unsafe", r"__import__\('os'\).* is not allowed"),
        ("not yet run", "reads run tuned, which never runs before this decision"),
        ("top key", "unknown key 'stop_rule'; did you mean 'stop_rules'"),
        ("missing config", "run tuned: config file not found: configs/no_such_preset.yaml"),
        ("override key", "run tuned: unknown config key 'train.lrr'"),
        ("missing data", "run full: dataset directory not found: no_such_data"),
        ("rule form", r"'phases.0.decide.3': a rule is either"),
    ],
)
def test_validation_refuses_before_anything_trains(tmp_path, preset, change, message):
    raw = toy_suite(preset, tmp_path / "out")
    _break(raw, change)
    with pytest.raises(UserError, match=message):
        run_suite(load_suite(write_suite(tmp_path, raw)), never_train)
    assert not (tmp_path / "out").exists() and not Path("hacked").exists()


def test_conditions_are_a_small_safe_language():
    values = {"a": {"metric": 0.5, "stopped": False}, "b": {"metric": 0.95, "stopped": True}}

    def holds(text: str) -> bool:
        return Condition.parse(text, "test").evaluate(lambda run, attr: values[run][attr])

    assert holds("a.metric < 0.9 and b.metric >= 0.9")
    assert holds("not (a.metric > 0.9 or a.stopped)") and holds("b.stopped")
    assert holds("any(a, b).metric >= 0.9") and not holds("all(a, b).metric >= 0.9")
    assert holds("0.2 < a.metric <= 0.5") and holds("b.metric > a.metric")
    assert holds("any(a, b).stopped") and not holds("all(a, b).stopped")
    assert Condition.parse("any(a, b).metric > c.metric", "t").runs == {"a", "b", "c"}
    for unsafe in ["a.metric", "a.__class__ < 1", "open('x')", "a.metric < b", "[1] == [1]"]:
        with pytest.raises(UserError, match="not allowed"):
            Condition.parse(unsafe, "test")


def test_stop_rules_become_fail_fast(tmp_path, preset):
    raw = toy_suite(preset, tmp_path / "out")
    raw["stop_rules"] = [{"metric": "exact", "below": 0.2, "at": 0.5}]
    raw["runs"]["tuned"]["overrides"] = ["train.steps=10", "train.eval_every=4"]
    raw["runs"]["full"]["overrides"] = [
        "train.steps=10",
        "train.fail_fast=[{step: 9, below: 0.5}]",
    ]
    plan = load_suite(write_suite(tmp_path, raw))
    base = plan.configs["base", 0].train  # 6 steps, evaluated only at the end
    assert base.fail_fast == [FailFastRule(step=3, metric="exact", below=0.2)]
    assert base.eval_every == 3  # so that step 3 is evaluated
    tuned = plan.configs["tuned", 0].train  # evaluates every 4: judged at step 8
    assert tuned.fail_fast[0].step == 5 and tuned.eval_every == 4
    full = plan.configs["full", 0].train  # the preset's own rule is kept
    assert [r.step for r in full.fail_fast] == [9, 5] and full.eval_every == 5
    raw["stop_rules"] = [{"below": 0.2, "at": 0.95}]  # step 6 of 6: never judged
    with pytest.raises(UserError, match="falls on step 6 of 6"):
        load_suite(write_suite(tmp_path, raw))


def test_results_files_and_failed_or_stopped_runs(tmp_path, preset):
    raw = toy_suite(preset, tmp_path / "out")
    raw["phases"][0]["decide"].insert(
        0, {"if": "diag.stopped and enc.metric == 0", "then": "stop", "say": "BROKEN"}
    )
    fake = FakeTrainer({"base": 1.0, "diag": 0.1}, stopped={"diag"}, diverged={"enc"})
    report = run_suite(load_suite(write_suite(tmp_path, raw)), fake)
    assert report.outcome == "BROKEN" and report.results["enc"].status == "failed"
    out = tmp_path / "out"
    md = (out / "results.md").read_text()
    assert "| run | seeds | status | exact mean |" in md and "| tuned | 0 | not run |" in md
    assert "| diag | 0 | stopped | 0.1 |" in md and "fail-fast" in md
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("run,seed,status,exact,params") and len(rows) == 5
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert "loss is not finite" in (out / "enc-s0" / "failed.json").read_text()
    again = FakeTrainer({})
    assert run_suite(load_suite(write_suite(tmp_path, raw)), again).outcome == "BROKEN"
    assert again.calls == []  # the diverged run is an outcome, not retrained


def test_default_train_resumes_a_run_with_a_checkpoint(tmp_path, monkeypatch, preset):
    calls = []
    monkeypatch.setattr("ponder.train.launch.train", lambda config, **kw: calls.append(kw))
    config = tiny_config(tmp_path, tmp_path / "run")
    default_train(config)
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "last.safetensors").write_bytes(b"")
    default_train(config)
    assert calls == [{"overwrite": False}, {"resume": True}]


def _results(values: dict[str, float]) -> dict[str, RunResult]:
    return {
        run: RunResult(run, [SeedResult(0, Path(run), "done", {"exact": value})])
        for run, value in values.items()
    }


def test_the_encoder_debug_suite_is_well_formed():
    plan = load_suite(REPO / "experiments" / "encoder_debug.yaml", check_files=False)
    assert [p.name for p in plan.phases()] == ["phase1", "phase3", "phase2", "phase4"]
    rule = plan.spec.stop_rules[0]
    assert (rule.metric, rule.below, rule.at) == ("exact", 0.2, 0.5)
    phase1, phase3, phase2, _ = plan.phases()
    good = {"E0v2": 1.0, "E1v2": 0.2, "E_diag1": 0.95}
    cases = [
        (phase1, {"E0v2": 0.5}, "stop", "DEBUG BASELINE"),
        (phase1, {**good, "E1v2": 0.92}, "phase4", "SUCCESS"),
        (phase1, {**good, "E_diag1": 0.1}, "stop", "FIX ENCODER-TRM INTERFACE"),
        (phase1, good, "phase3", None),
        (phase3, dict.fromkeys(phase3.runs, 0.1) | {"E6_combined": 0.9}, "phase4", "SUCCESS"),
        (phase3, dict.fromkeys(phase3.runs, 0.1), "phase2", None),
        (phase2, {"E2_lpn": 0.3, "E3_lpn_var": 0.4}, "stop", "REDESIGN ENCODER"),
    ]
    for phase, values, target, say in cases:
        decision = decide(plan, phase, _results(dict.fromkeys(plan.spec.runs, 0.0) | values))
        assert (decision.next, decision.say) == (target, say), (phase.name, values)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ponder")
    add_suite_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_dry_run_prints_the_plan_and_trains_nothing(tmp_path, preset, capsys, monkeypatch):
    monkeypatch.setattr("ponder.experiments.suite.default_train", never_train)
    file = write_suite(tmp_path, toy_suite(preset, tmp_path / "out"))
    assert _cli(["suite", str(file), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "phase phase1: base, enc, diag" in out and "enc-s1" in out and "[new]" in out
    assert not (tmp_path / "out").exists()


def test_a_real_tiny_suite(tmp_path, tiny_maze_dir, capsys):
    config = tiny_config(tiny_maze_dir, tmp_path / "unused", train={"steps": 4})
    preset = write(tmp_path / "tiny.yaml", yaml.safe_dump(config.to_dict()))
    raw = {
        "name": "tiny",
        "out": str(tmp_path / "out"),
        "stop_rules": [{"below": 1.01, "at": 0.5}],  # nothing reaches 101%: stops at step 2
        "runs": {
            "first": {"config": str(preset)},
            "second": {"config": str(preset), "overrides": ["model.n=1"], "after": ["first"]},
        },
    }
    file = write_suite(tmp_path, raw)
    assert _cli(["suite", str(file)]) == 0
    out = tmp_path / "out"
    for name in ("first-s0", "second-s0"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["steps"] == 2 and "fail-fast" in summary["stopped_early"]
    assert {p.name for p in out.iterdir()} >= {"results.md", "results.csv", "results.png"}
    assert "outcome: finished after all" in capsys.readouterr().out
    assert run_suite(load_suite(file), never_train).outcome == "finished after all"
