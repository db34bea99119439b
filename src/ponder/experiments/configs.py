"""A run's config: a preset plus overrides, then an experiment's own settings (its run
directory, seed and stop rules), checked down to its datasets before anything trains.

Stop rules become `train.fail_fast` entries: step = ceil(at * train.steps). The engine
judges fail-fast rules only at periodic evaluations, so a run with `train.eval_every: 0`
gets eval_every = the gcd of its rule steps (one extra evaluation for `at: 0.5`); a run
that already evaluates periodically keeps its eval_every and is judged at its first
evaluation at or after the step. A rule that could never be judged (at or after the last
step) is refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.config import RunConfig, config_from_dict, load_config
from ponder.errors import UserError
from ponder.experiments.schema import StopRule


def stop_rule_step(rule: StopRule, steps: int, where: str) -> int:
    """The step a stop rule judges at: ceil(at * steps), below the last step (the final
    evaluation never stops a run). Rounded first so 0.07 * 100 is 7, not 8."""
    step = math.ceil(round(rule.at * steps, 9))
    if step >= steps:
        raise UserError(
            f"{where}: stop rule at {rule.at:g} falls on step {step} of {steps}, the last "
            "one, where no rule is judged; use a smaller 'at'"
        )
    return step


def with_stop_rules(raw: dict[str, Any], rules: Sequence[StopRule], where: str) -> None:
    """Add the stop rules to a config dict as train.fail_fast, with the evaluations they
    need (see the module docstring)."""
    if not rules:
        return
    train = raw["train"]
    steps = [stop_rule_step(rule, train["steps"], where) for rule in rules]
    train["fail_fast"] = list(train["fail_fast"]) + [
        {"step": step, "metric": rule.metric, "below": rule.below}
        for step, rule in zip(steps, rules, strict=True)
    ]
    if train["eval_every"] == 0:
        train["eval_every"] = math.gcd(*steps)
        return
    for step in steps:
        judged_at = math.ceil(step / train["eval_every"]) * train["eval_every"]
        if judged_at >= train["steps"]:
            raise UserError(
                f"{where}: a stop rule at step {step} needs an evaluation before the end, "
                f"but train.eval_every is {train['eval_every']} of {train['steps']} steps"
            )


def build_run_config(
    config_path: str | Path,
    overrides: list[str],
    run_dir: Path,
    seed: int | None,
    rules: Sequence[StopRule],
    where: str,
) -> RunConfig:
    """A preset plus overrides, then the suite's own settings: run_dir, seed (None: the
    config's own), stop rules."""
    try:
        raw = load_config(config_path, overrides).to_dict()
        raw["run_dir"] = str(run_dir)
        if seed is not None:
            raw["seed"] = seed
        with_stop_rules(raw, rules, where)
        config = config_from_dict(raw)
        _check_datasets(config)
        return config
    except UserError as err:
        if str(err).startswith(where):
            raise
        raise UserError(f"{where}: {err}") from None


def _check_datasets(config: RunConfig) -> None:
    """A missing dataset is found now, not hours later when its phase comes."""
    for path in [*config.train.curriculum.datasets, config.data.path]:
        if not Path(path).is_dir():
            raise UserError(
                f"dataset directory not found: {path} (build it with `ponder data build`)"
            )
