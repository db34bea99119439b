"""One run of an experiment: training a seed (or reusing or resuming it) and reading what
it left in its run directory.

A finished run (summary.json and a matching config.yaml) is reused, an interrupted one (a
checkpoint) resumed. A run whose training diverged leaves failed.json instead: that is an
outcome of the experiment, not a crash, and it counts 0 for every metric.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ponder.config import RunConfig
from ponder.config import config_differences as differing_values
from ponder.errors import TrainingDiverged, UserError
from ponder.fileio import atomic_write_text, read_json_file, read_yaml_file
from ponder.train.rundir import CONFIG_NAME, checkpoint_path

SUMMARY_NAME = "summary.json"
FAILED_NAME = "failed.json"  # a seed whose training diverged: why, and its config
TrainFn = Callable[[RunConfig], Path]


@dataclasses.dataclass(frozen=True)
class SeedResult:
    seed: int
    run_dir: Path
    status: str  # done | stopped (stopped early) | failed (training diverged)
    final_eval: dict[str, float]
    params: int | None = None
    steps: int | None = None
    train_seconds: float | None = None
    reason: str | None = None  # why it stopped early or failed


@dataclasses.dataclass(frozen=True)
class RunResult:
    run_id: str
    seeds: list[SeedResult]

    def per_seed(self, metric: str) -> list[float]:
        """One value per seed; a failed seed counts 0 (it learned nothing usable)."""
        values = []
        for seed in self.seeds:
            if seed.status == "failed":
                values.append(0.0)
            elif metric in seed.final_eval:
                values.append(float(seed.final_eval[metric]))
            else:
                known = ", ".join(sorted(seed.final_eval)) or "none"
                raise UserError(
                    f"run {self.run_id} seed {seed.seed} has no metric '{metric}' in "
                    f"{seed.run_dir / SUMMARY_NAME} (final_eval has: {known})"
                )
        return values

    def mean(self, metric: str) -> float:
        return statistics.fmean(self.per_seed(metric))

    @property
    def stopped(self) -> bool:
        return any(seed.status != "done" for seed in self.seeds)

    @property
    def status(self) -> str:
        statuses = {seed.status for seed in self.seeds}
        return "failed" if "failed" in statuses else "stopped" if "stopped" in statuses else "done"


def read_seed_result(run_dir: Path, seed: int) -> SeedResult:
    """What a finished seed left: summary.json, or failed.json for a diverged run."""
    failed = run_dir / FAILED_NAME
    if failed.is_file():
        reason = read_json_file(failed).get("reason")
        return SeedResult(seed, run_dir, "failed", {}, reason=reason)
    summary = read_json_file(run_dir / SUMMARY_NAME)
    reason = summary.get("stopped_early")
    return SeedResult(
        seed=seed,
        run_dir=run_dir,
        status="stopped" if reason else "done",
        final_eval=summary.get("final_eval") or {},
        params=summary.get("params"),
        steps=summary.get("steps"),
        train_seconds=summary.get("train_seconds"),
        reason=reason,
    )


def default_train(config: RunConfig) -> Path:
    """ponder's trainer: resume a run that left a checkpoint, else start it afresh."""
    from ponder.train.launch import train  # lazy: a dry run never needs the trainer

    run_dir = config.resolved_run_dir()
    if checkpoint_path(run_dir).is_file():
        return train(config, resume=True)
    # A run killed before its first checkpoint left only its config: nothing to keep.
    return train(config, overwrite=(run_dir / CONFIG_NAME).is_file())


def is_finished(run_dir: Path, config: RunConfig) -> bool:
    """True when run_dir holds a finished run of `config`; a finished run of another config
    is refused rather than silently reused."""
    if not has_outcome(run_dir):
        return False
    saved = _saved_config(run_dir)
    now = yaml.safe_load(yaml.safe_dump(config.to_dict()))  # tuples become lists, as saved
    diffs = config_differences(saved, now)
    if diffs:
        raise UserError(
            f"{run_dir} holds a finished run of another config (differs at "
            f"{', '.join(diffs[:3])}); delete it or give the suite another `out`"
        )
    return True


def has_outcome(run_dir: Path) -> bool:
    """Whether run_dir holds what a finished run leaves: summary.json or failed.json."""
    return (run_dir / SUMMARY_NAME).is_file() or (run_dir / FAILED_NAME).is_file()


def _saved_config(run_dir: Path) -> dict[str, Any]:
    if (run_dir / CONFIG_NAME).is_file():
        return read_yaml_file(run_dir / CONFIG_NAME, "run config")
    if (run_dir / FAILED_NAME).is_file():
        return read_json_file(run_dir / FAILED_NAME).get("config") or {}
    raise UserError(f"{run_dir} has a {SUMMARY_NAME} but no {CONFIG_NAME}")


def config_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Dotted keys where two configs differ, ignoring where and on what device they run
    (a run's place does not make it a different experiment)."""
    return [key for key, _, _ in differing_values(saved, now)]


def train_seed(config: RunConfig, seed: int, train_fn: TrainFn) -> tuple[SeedResult, bool]:
    """Train one seed unless it already finished: (its result, whether it trained now).
    Divergence is an outcome of the experiment, recorded in failed.json, not a crash."""
    run_dir = config.resolved_run_dir()
    if is_finished(run_dir, config):
        return read_seed_result(run_dir, seed), False
    try:
        train_fn(config)
    except TrainingDiverged as err:
        write_failure(run_dir, {"reason": str(err), "config": config.to_dict()})
    return read_seed_result(run_dir, seed), True


def write_failure(run_dir: Path, record: dict[str, Any]) -> None:
    """failed.json: why a run failed (and, for a diverged one, its config)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / FAILED_NAME, json.dumps(record, indent=2) + "\n")
