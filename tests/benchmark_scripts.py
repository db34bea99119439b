"""Helpers for the benchmark scripts' tests: load a script as a module, and run its main()
with arguments that must be refused."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import their sibling runs.py


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_refused(script, argv: list[str], tmp_path, monkeypatch, capsys) -> None:
    """main() with `argv` exits 2 with one "error: " line. In argv, "RUN" stands for a run
    directory (a config.yaml in it) and "no_such_run" for a path that does not exist."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("name: x\n")
    names = {"RUN": str(run), "no_such_run": str(tmp_path / "no_such_run")}
    monkeypatch.setattr(sys, "argv", ["script.py", *(names.get(a, a) for a in argv)])
    with pytest.raises(SystemExit) as exit_:
        script.main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")
