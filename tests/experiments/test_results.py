"""Results files: the shared Markdown and CSV tables, and a suite's results.md/csv/png
with failed and stopped runs. Fixtures: conftest.py."""

from __future__ import annotations

from ponder.experiments.results import csv_text, markdown_table
from ponder.experiments.suite import load_suite, run_suite


def test_tables_format_floats_and_escape_cells():
    rows = [[0.123456, "a|b"], [None, "two\nlines"]]
    md = markdown_table(["x", "y"], rows)
    assert md == "| x | y |\n|---|---|\n| 0.1235 | a\\|b |\n|  | two lines |\n"
    assert csv_text(["x", "y"], rows) == 'x,y\n0.123456,a|b\n,"two\nlines"\n'


def test_results_files_and_failed_or_stopped_runs(tmp_path, toy_suite, write_suite, fake_trainer):
    raw = toy_suite
    raw["phases"][0]["decide"].insert(
        0, {"if": "diag.stopped and enc.metric == 0", "then": "stop", "say": "BROKEN"}
    )
    fake = fake_trainer({"base": 1.0, "diag": 0.1}, stopped={"diag"}, diverged={"enc"})
    report = run_suite(load_suite(write_suite(raw)), fake)
    assert report.outcome == "BROKEN" and report.results["enc"].status == "failed"
    out = tmp_path / "out"
    md = (out / "results.md").read_text()
    assert "| run | seeds | status | exact mean |" in md and "| tuned | 0 | not run |" in md
    assert "| diag | 0 | stopped | 0.1 |" in md and "fail-fast" in md
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("run,seed,status,exact,params") and len(rows) == 5
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert "loss is not finite" in (out / "enc-s0" / "failed.json").read_text()
    again = fake_trainer({})
    assert run_suite(load_suite(write_suite(raw)), again).outcome == "BROKEN"
    assert again.calls == []  # the diverged run is an outcome, not retrained
