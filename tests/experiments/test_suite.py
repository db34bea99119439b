"""Experiment suites: decision rules, resumption, validation before training, the
encoder-debug suite, the CLI and one real tiny suite. Fixtures: conftest.py."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml
from support import tiny_config, write

from ponder.errors import UserError
from ponder.experiments.cli import add_suite_parser
from ponder.experiments.runs import RunResult, SeedResult
from ponder.experiments.schema import override_strings
from ponder.experiments.suite import decide, load_suite, run_suite

REPO = Path(__file__).resolve().parents[2]
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
def test_decision_rules_pick_the_path(
    tmp_path, toy_suite, write_suite, fake_trainer, exact, path, outcome
):
    fake = fake_trainer(exact)
    report = run_suite(load_suite(write_suite(toy_suite)), fake)
    assert report.path == path and report.outcome == outcome
    assert fake.calls[:4] == ["base-s0", "enc-s0", "enc-s1", "diag-s0"]
    state = json.loads((tmp_path / "out" / "state.json").read_text())
    assert state["status"] == "done" and state["outcome"] == outcome
    assert [d["phase"] for d in state["decisions"]] == path


def test_an_interrupted_suite_continues_and_decides_the_same(
    tmp_path, toy_suite, write_suite, fake_trainer, never_train
):
    exact = {"base": 1.0, "enc": 0.5, "diag": 1.0, "tuned": 0.95, "full": 0.7}
    file = write_suite(toy_suite)
    with pytest.raises(KeyboardInterrupt):
        run_suite(load_suite(file), fake_trainer(exact, interrupt_at=3))
    state = json.loads((tmp_path / "out" / "state.json").read_text())
    assert state["status"] == "running" and set(state["runs"]) == {"base-s0", "enc-s0"}
    again = fake_trainer(exact)
    report = run_suite(load_suite(file), again)
    assert again.calls == ["enc-s1", "diag-s0", "tuned-s0", "full-s0"]  # not base, enc-s0
    assert report.path == ["phase1", "phase3", "phase4"] and report.outcome == "SUCCESS"
    assert report.trained == again.calls
    third = run_suite(load_suite(file), never_train)  # everything finished: nothing trains
    assert third.decisions == report.decisions


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
def test_validation_refuses_before_anything_trains(
    tmp_path, toy_suite, write_suite, never_train, change, message
):
    _break(toy_suite, change)
    with pytest.raises(UserError, match=message):
        run_suite(load_suite(write_suite(toy_suite)), never_train)
    assert not (tmp_path / "out").exists() and not Path("hacked").exists()


def _results(values: dict[str, float], metric: str = "exact") -> dict[str, RunResult]:
    return {
        run: RunResult(run, [SeedResult(0, Path(run), "done", {metric: value})])
        for run, value in values.items()
    }


def test_the_encoder_debug_suite_is_well_formed():
    plan = load_suite(REPO / "experiments" / "encoder_debug.yaml", check_files=False)
    names = ["phase1", "phase3", "phase2", "phase4", "phase5"]
    assert [p.name for p in plan.phases()] == names
    rule = plan.spec.stop_rules[0]
    assert (rule.metric, rule.below, rule.at) == ("seen_exact", 0.2, 0.5)
    phase1, phase3, phase2, phase4, phase5 = plan.phases()
    good = {"E0v2": 1.0, "E1v2": 0.2, "E_diag1": 0.95}
    cases = [
        (phase1, {"E0v2": 0.5}, "stop", "DEBUG BASELINE"),
        (phase1, {**good, "E1v2": 0.92}, "phase4", "SUCCESS"),
        (phase1, {**good, "E_diag1": 0.1}, "stop", "FIX ENCODER-TRM INTERFACE"),
        (phase1, good, "phase3", None),
        (phase3, dict.fromkeys(phase3.runs, 0.1) | {"E6_combined": 0.9}, "phase4", "SUCCESS"),
        (phase3, dict.fromkeys(phase3.runs, 0.1), "phase2", None),
        (phase2, {"E2_lpn": 0.3, "E3_lpn_var": 0.4}, "stop", "REDESIGN ENCODER"),
        (phase4, {}, "phase5", None),  # no rule: the next phase listed (part 11's)
        (phase5, {"E8_memory": 0.96}, "stop", "CROSS-ATTENTION MEMORISES"),
        (phase5, {"E8_memory": 0.9}, "stop", "CROSS-ATTENTION BELOW 95%"),
    ]
    for phase, values, target, say in cases:
        results = _results(dict.fromkeys(plan.spec.runs, 0.0) | values, "seen_exact")
        decision = decide(plan, phase, results)
        assert (decision.next, decision.say) == (target, say), (phase.name, values)


def _override(run, key: str) -> str | None:
    return dict(o.split("=", 1) for o in override_strings(run.overrides)).get(key)


def test_the_encoder_debug_suite_clips_gradients_where_the_seed_plan_does():
    """ponder clips at 1.0 by default; the plan's runs without clipping must turn it off,
    so that E5 (clipping added) differs from E1v2 (none)."""
    plan = load_suite(REPO / "experiments" / "encoder_debug.yaml", check_files=False)
    clip = {run_id: _override(run, "train.grad_clip") for run_id, run in plan.spec.runs.items()}
    unclipped = ["E0v2", "E1v2", "E_diag1", "E2_lpn", "E3_lpn_var", "E4_lower_lr", "E7_attention"]
    assert {run: clip[run] for run in unclipped} == dict.fromkeys(unclipped, "0")
    assert clip["E5_grad_clip"] == clip["E6_combined"] == "1.0"
    runs = [(r.config, tuple(override_strings(r.overrides))) for r in plan.spec.runs.values()]
    assert len(set(runs)) == len(runs)  # no two runs are the same experiment


def test_names_used_elsewhere_are_still_importable_from_suite():
    from ponder.experiments import suite

    used = ["format_plan", "load_suite", "read_experiment_file", "run_suite"]  # by cli.py
    used += ["FAILED_NAME", "StopRule", "TrainFn", "build_run_config", "csv_text"]
    used += ["default_train", "markdown_table", "override_strings", "parse_schema"]
    used += ["train_seed", "yaml_value", "Condition", "RunResult", "SeedResult", "decide"]
    assert [name for name in used if not hasattr(suite, name)] == []
    assert set(used) <= set(suite.__all__)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ponder")
    add_suite_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_dry_run_prints_the_plan_and_trains_nothing(
    tmp_path, toy_suite, write_suite, never_train, capsys, monkeypatch
):
    monkeypatch.setattr("ponder.experiments.suite.default_train", never_train)
    file = write_suite(toy_suite)
    assert _cli(["suite", str(file), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "phase phase1: base, enc, diag" in out and "enc-s1" in out and "[new]" in out
    assert not (tmp_path / "out").exists()


def test_a_real_tiny_suite(tmp_path, tiny_maze_dir, write_suite, never_train, capsys):
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
    file = write_suite(raw)
    assert _cli(["suite", str(file)]) == 0
    out = tmp_path / "out"
    for name in ("first-s0", "second-s0"):
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["steps"] == 2 and "fail-fast" in summary["stopped_early"]
    assert {p.name for p in out.iterdir()} >= {"results.md", "results.csv", "results.png"}
    assert "outcome: finished after all" in capsys.readouterr().out
    assert run_suite(load_suite(file), never_train).outcome == "finished after all"
