"""Experiment files: suites of runs with a decision tree (`suite`) and Optuna sweeps (`sweep`).

`ponder suite FILE` reads one YAML file from `experiments/`; `mode: sweep` makes it a
hyperparameter search, anything else a suite of named runs, phases and decision rules.

The names below are imported on first use, so that `ponder.experiments.cli` (imported by
the command line to build its parser) does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["SuitePlan", "SuiteReport", "load_suite", "run_suite"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("ponder.experiments.suite"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
