"""The experiment file: reading it, one-line messages for bad keys, `out`, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import write

from ponder.errors import UserError
from ponder.experiments.schema import (
    SuiteSpec,
    out_dir,
    override_strings,
    parse_schema,
    read_experiment_file,
)


def test_reading_refuses_a_missing_invalid_or_non_mapping_file(tmp_path):
    with pytest.raises(UserError, match="experiment file not found"):
        read_experiment_file(tmp_path / "none.yaml")
    with pytest.raises(UserError, match="is not valid YAML"):
        read_experiment_file(write(tmp_path / "bad.yaml", "name: [unclosed\n"))
    with pytest.raises(UserError, match="must hold a mapping"):
        read_experiment_file(write(tmp_path / "list.yaml", "- a\n- b\n"))
    assert read_experiment_file(write(tmp_path / "ok.yaml", "name: x\n")) == {"name": "x"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"runs": {"a": {"config": "c", "seed": [1]}}}, r"'runs.a.seed'; did you mean 'seeds'"),
        ({"phases": [{"name": "p", "runs": ["a"], "decid": []}]}, "did you mean 'decide'"),
        ({"runs": {"a": {"config": "c", "seeds": [1, 1]}}}, "'runs.a.seeds': seeds repeat"),
        ({"name": "a/b"}, "'name': name 'a/b' may hold only letters"),
        ({"stop_rules": [{"below": 0.2, "at": 1.5}]}, r"'stop_rules.0.at'"),
    ],
)
def test_a_bad_key_or_value_becomes_one_line(raw, message):
    raw = {"name": "s", "runs": {"a": {"config": "c"}}} | raw
    with pytest.raises(UserError, match=message):
        parse_schema(SuiteSpec, raw, Path("file.yaml"))


def test_out_defaults_under_runs_suites():
    assert out_dir("toy", None) == Path("runs/suites/toy")
    assert out_dir("toy", "elsewhere") == Path("elsewhere")


def test_override_mappings_are_written_back_as_yaml():
    assert override_strings(["a=1"]) == ["a=1"]
    given = {"train.lr": 3e-5, "x": [1, 2], "flag": True, "text": "x y"}
    assert override_strings(given) == ["train.lr=3.0e-05", "x=[1, 2]", "flag=true", "text=x y"]
