"""benchmarks/deep_eval_speed.py: the two depth modes it times, its table and refusals."""

from __future__ import annotations

import pytest
from benchmark_scripts import assert_refused, load

speed = load("deep_eval_speed")


def test_modes_run_fixed_depth_or_stop_converged_puzzles_at_the_cap():
    assert speed.MODES["fixed"](64) == ["--segments", "64"]
    converged = speed.MODES["converged"](64)
    assert converged[:4] == ["--segments", "auto", "--halt", "converged"]
    assert converged[-2:] == ["--max-segments", "64"]


def test_table_has_one_row_per_measurement():
    row = {"side": 59, "precision": "bf16", "mode": "converged", "n": 20, "exact": 0.25,
           "segments_mean": 120.5, "seconds": 40.0, "mazes_per_s": 0.5}  # fmt: skip
    table = speed.markdown([row, {**row, "precision": "fp32"}]).splitlines()
    assert len(table) == 4
    assert table[2] == "| 59 | bf16 | converged | 20 | 25.0 | 120.5 | 40.0 | 0.500 |"


@pytest.mark.parametrize(
    "argv",
    [
        ["no_such_run"],
        ["RUN", "--count", "0"],
        ["RUN", "--sides", "3"],
        ["RUN", "--sides", "59", "203"],
    ],
)
def test_bad_arguments_exit_2(argv, tmp_path, monkeypatch, capsys):
    assert_refused(speed, argv, tmp_path, monkeypatch, capsys)
