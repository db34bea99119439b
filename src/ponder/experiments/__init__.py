"""Experiment files: suites of runs with a decision tree (`suite`) and Optuna sweeps (`sweep`).

`ponder suite FILE` reads one YAML file from `experiments/`; `mode: sweep` makes it a
hyperparameter search, anything else a suite of named runs, phases and decision rules.
"""

from ponder.experiments.suite import SuitePlan, SuiteReport, load_suite, run_suite

__all__ = ["SuitePlan", "SuiteReport", "load_suite", "run_suite"]
