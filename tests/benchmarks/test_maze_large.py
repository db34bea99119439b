"""benchmarks/maze_large.py: the stop rule's flags, the per-side summary and table, refusals."""

from __future__ import annotations

import pytest
from benchmark_scripts import assert_refused, load

large = load("maze_large")


def _row(run: str, side: int, exact: float, n: int = 200) -> dict:
    return {"run": run, "side": side, "cap": 1024, "n": n, "exact": exact,
            "halt_precision": exact, "segments_mean": 300.4, "at_cap": 0,
            "seconds": 100.0, "mazes_per_s": n / 100.0}  # fmt: skip


def test_stable_rule_flags_carry_k_and_the_cap():
    flags = large.judge_flags("stable", 1024, 8, "bf16")
    assert flags == ["--segments", "auto", "--halt", "stable", "--max-segments", "1024",
                     "--stable-k", "8", "--precision", "bf16"]  # fmt: skip
    assert "--stable-k" not in large.judge_flags("converged", 64, 8, "fp32")


def test_summary_pools_the_seeds_of_each_side():
    rows = [_row("s0", 59, 0.96), _row("s1", 59, 0.99), _row("s0", 119, 0.5, n=50)]
    table = large.summarise(rows)
    assert table[59]["per_seed"] == [0.96, 0.99]
    assert table[59]["mean"] == pytest.approx(0.975)
    assert table[59]["sd"] == pytest.approx(0.0212, abs=1e-4)
    low, high = table[59]["ci"]
    assert low < 0.975 < high
    assert table[119]["sd"] == 0.0 and table[119]["n"] == 50


def test_table_has_one_row_per_side_with_every_seed():
    rows = [_row("s0", 59, 0.96), _row("s1", 59, 0.99)]
    lines = large.markdown({"rows": rows}).splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("| 59x59 | 200 | 1024 | 96.0 / 99.0 | 97.5 (2.1) |")


def test_a_value_per_side_or_one_for_all():
    assert large.per_side([200], [59, 119]) == {59: 200, 119: 200}
    assert large.per_side([200, 50], [59, 119]) == {59: 200, 119: 50}


@pytest.mark.parametrize(
    "argv",
    [
        ["no_such_run"],
        ["RUN", "--sides", "3"],
        ["RUN", "--sides", "59", "119", "--count", "1", "2", "3"],
        ["RUN", "--cap", "0"],
    ],
)
def test_bad_arguments_exit_2(argv, tmp_path, monkeypatch, capsys):
    assert_refused(large, argv, tmp_path, monkeypatch, capsys)
