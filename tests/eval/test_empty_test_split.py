"""A dataset built with `--test 0`: `train` trains without evaluating and says so, writing
summary.json; `ponder eval` refuses it in one line; settings that act on evaluations are
refused before a run directory exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import run, tiny_config, write

from ponder.data import build_dataset


@pytest.fixture(scope="module")
def empty_test_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "maze7_no_test"
    return build_dataset("maze", out, train=16, test=0, seed=0, size=7, min_path=4)


def _preset(tmp_path: Path, data_dir: Path, **train) -> Path:
    cfg = tiny_config(data_dir, tmp_path / "run", train={"steps": 2, **train})
    return write(tmp_path / "preset.yaml", yaml.safe_dump(cfg.to_dict()))


def _one_error_line(code: int, err: str, words: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("ponder: error:") and words in lines[0], err


def test_check_passes_and_says_the_test_split_is_empty(empty_test_dir, capsys) -> None:
    code, out, _ = run(["data", "check", empty_test_dir], capsys)
    assert code == 0 and "test: 0 examples" in out and "skips evaluation" in out


def test_train_skips_evaluation_and_writes_the_summary(empty_test_dir, tmp_path, capsys):
    code, out, err = run(["train", _preset(tmp_path, empty_test_dir)], capsys)
    assert code == 0, err
    assert f"no evaluation: the test split of {empty_test_dir} is empty" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["final_eval"] == {}
    assert summary["evaluation_skipped"] == f"the test split of {empty_test_dir} is empty"
    # `ponder eval` on that run: one line, and no eval/ folder left behind.
    code, _, err = run(["eval", tmp_path / "run"], capsys)
    _one_error_line(code, err, f"nothing to evaluate: the test split of {empty_test_dir} is empty")
    assert not (tmp_path / "run" / "eval").exists()


def test_eval_of_another_run_on_an_empty_test_split(
    empty_test_dir, tiny_maze_dir, tmp_path, capsys
) -> None:
    assert run(["train", _preset(tmp_path, tiny_maze_dir)], capsys)[0] == 0
    code, _, err = run(["eval", tmp_path / "run", "--data", empty_test_dir], capsys)
    _one_error_line(code, err, "nothing to evaluate")
    assert not (tmp_path / "run" / "eval").exists()


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ({"early_stop": {"patience": 2}}, "train.early_stop acts on evaluations"),
        ({"fail_fast": [{"step": 1, "below": 0.5}]}, "train.fail_fast acts on evaluations"),
    ],
)
def test_stop_rules_need_evaluations(empty_test_dir, tmp_path, capsys, setting, words) -> None:
    code, _, err = run(
        ["train", _preset(tmp_path, empty_test_dir, eval_every=1, **setting)], capsys
    )
    _one_error_line(code, err, words)
    assert not (tmp_path / "run").exists()


def test_accuracy_curriculum_needs_every_stage_tested(
    empty_test_dir, tiny_maze_dir, tmp_path, capsys
) -> None:
    curriculum = {"datasets": [str(empty_test_dir)], "threshold": 0.5}
    preset = _preset(tmp_path, tiny_maze_dir, eval_every=1, curriculum=curriculum)
    code, _, err = run(["train", preset], capsys)
    _one_error_line(code, err, "train.curriculum.threshold judges each stage on its test split")
    assert not (tmp_path / "run").exists()
