"""benchmarks/trace_report.py: medians by failure class at 1, 2, 4, ... segments, its table,
its plot and its refusals."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling runs.py
spec = importlib.util.spec_from_file_location("trace_report", BENCHMARKS / "trace_report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def _puzzle(cls, wrong, change):
    return {"class": cls, "cells_answered": [w + 10 for w in wrong], "cells_wrong": wrong,
            "state_change": change}  # fmt: skip


TRACE = {
    "segments": 5,
    "puzzles": [
        _puzzle("solved", [9, 4, 2, 0, 0], [1.0, 0.5, 0.2, 0.1, 0.0]),
        _puzzle("solved", [7, 6, 4, 2, 0], [1.0, 0.3, 0.1, 0.1, 0.0]),
        _puzzle("solved", [8, 5, 3, 1, 0], [1.0, 0.4, 0.3, 0.0, 0.0]),
        _puzzle("still moving", [9, 8, 9, 8, 9], [1.0, 0.2, 0.2, 0.2, 0.2]),
    ],
}


def test_marks_double_and_end_at_the_deepest_segment():
    assert report.marks(5) == [1, 2, 4, 5]
    assert report.marks(256) == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert report.marks(1) == [1]


def test_medians_are_taken_per_class_at_the_marked_segments():
    got = report.summarise_trace(TRACE, "hand-made")
    assert got["marks"] == [1, 2, 4, 5] and got["n"] == 4
    solved = got["by_class"]["solved"]
    assert solved["n"] == 3
    assert solved["wrong"] == [8, 5, 1, 0]  # segments 1, 2, 4, 5
    assert solved["answered"] == [18, 15, 11, 10]
    assert solved["change"] == [1.0, 0.4, 0.1, 0.0]
    assert got["by_class"]["still moving"]["wrong"] == [9, 8, 8, 9]
    assert "oscillating" not in got["by_class"]


def test_the_script_writes_its_table_plot_and_results(tmp_path, monkeypatch, capsys):
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps(TRACE))
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["trace_report", str(trace), "--out", str(out)])
    report.main()
    results = json.loads((out / "results.json").read_text())
    assert results["benchmark"] == "trace_report"
    table = (out / "table.md").read_text()
    assert "| solved | 3 | wrong | 8 | 5 | 1 | 0 |" in table
    assert (out / "trace.png").stat().st_size > 0


@pytest.mark.parametrize("case", ["not json", "no cells", "labels"])
def test_bad_input_is_refused_in_one_line(tmp_path, monkeypatch, capsys, case):
    trace = tmp_path / "trace.json"
    trace.write_text("{" if case == "not json" else json.dumps({"segments": 1, "puzzles": [{}]}))
    if case == "labels":
        trace.write_text(json.dumps(TRACE))
    argv = ["trace_report", str(trace), "--out", str(tmp_path / "out")]
    argv += ["--labels", "a", "b"] if case == "labels" else []
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_:
        report.main()
    assert exit_.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
