"""The few-shot CLI: building skills and ARC datasets, and one line + exit 2 on bad input."""

from __future__ import annotations

import json

import pytest
from support import run, write


def _task(train_input) -> dict:
    return {"train": [{"input": train_input, "output": [[1]]}],
            "test": [{"input": [[1]], "output": [[2]]}]}  # fmt: skip


@pytest.mark.parametrize(
    "grid, message",
    [
        ([[1, 2], [3]], "ragged rows"),
        ([[1, 10]], "outside 0..9"),
        ([[0] * 31] * 31, "larger than 30x30"),
    ],
)
def test_bad_arc_json_is_one_line_naming_task_and_pair(tmp_path, capsys, grid, message) -> None:
    source = write(tmp_path / "bad.json", json.dumps({"abc123": _task(grid)}))
    code, _, err = run(["data", "build", "arc", "--source", source, "--out", tmp_path / "d"],
                       capsys)  # fmt: skip
    assert code == 2 and message in err and "abc123" in err and "train pair 0" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()  # nothing half-written


def test_skills_build_and_check(tmp_path, capsys) -> None:
    out = tmp_path / "s"
    args = ["data", "build", "skills", "--out", out, "--size", 6, "--train", 14, "--test", 4]
    code, text, _ = run(args, capsys)
    assert code == 0 and "dataset ready" in text
    code, text, _ = run(["data", "check", out], capsys)
    assert code == 0 and "OK" in text


def test_skills_refuse_grid_task_options(tmp_path, capsys) -> None:
    code, _, err = run(["data", "build", "skills", "--out", tmp_path / "s", "--aug", "dihedral"],
                       capsys)  # fmt: skip
    assert code == 2 and "takes no --aug" in err
