"""Hyperparameter sweeps: an experiment file with `mode: sweep`, searched with Optuna.

    name: lr_sweep
    mode: sweep
    config: configs/maze_quick.yaml
    overrides: [train.steps=2000]          # fixed for every trial (list or mapping)
    space:
      train.lr: {low: 1.0e-5, high: 1.0e-3, log: true}
      model.n: {low: 1, high: 4, int: true}
      train.loss: {choices: [softmax, stablemax]}
    trials: 20
    metric: exact                          # read from summary.json's final_eval
    direction: maximize                    # or minimize
    seed: 0                                # the TPE sampler's seed
    stop_rules: [{metric: exact, below: 0.2, at: 0.5}]   # optional, as in a suite

The study lives in `<out>/study.db` (sqlite; out defaults to runs/suites/<name>), so
running the file again continues it: a trial interrupted mid-training is resumed from its
checkpoint in `<out>/trial-<n>/`, and new trials are added until `trials` have finished
(failed ones count, so a configuration that always fails cannot loop forever). A training
that fails with a UserError (divergence, a sampled value the config refuses) fails its
trial, with the reason in `<trial dir>/failed.json`, and the sweep goes on. At the end
`best_config.yaml` holds the best trial's full config and results.md/.csv one row per
trial. One process per sweep: a trial left RUNNING is taken to be an interrupted one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from ponder.config import RunConfig, dump_config
from ponder.errors import UserError
from ponder.experiments.configs import build_run_config
from ponder.experiments.results import RESULTS_MD, write_csv, write_markdown
from ponder.experiments.runs import (
    FAILED_NAME,
    SUMMARY_NAME,
    TrainFn,
    default_train,
    train_seed,
    write_failure,
)
from ponder.experiments.schema import (
    StopRule,
    out_dir,
    override_strings,
    parse_schema,
    read_experiment_file,
)
from ponder.fileio import atomic_write_text, read_json_file
from ponder.limits import SEED_MAX
from ponder.models.base import FrozenConfig

Choice = bool | int | float | str | None


class SearchRange(FrozenConfig):
    """One searched key: {low, high, log, int} or {choices: [...]}."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = Field(False, alias="int")
    choices: list[Choice] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> SearchRange:
        if self.choices is not None:
            if not self.choices or self.low is not None or self.high is not None:
                raise ValueError("give either non-empty choices or low and high")
            return self
        if self.low is None or self.high is None or not self.low < self.high:
            raise ValueError("give low < high (or choices)")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self

    def bounds(self) -> list[Choice]:
        """Values that every trial's config must accept: the ends or the choices."""
        if self.choices is not None:
            return list(self.choices)
        ends = [self.low, self.high]
        return [int(end) for end in ends] if self.integer else ends  # type: ignore[arg-type]


class SweepSpec(FrozenConfig):
    name: str
    mode: Literal["sweep"]
    out: str | None = None  # default runs/suites/<name>
    config: str
    overrides: list[str] | dict[str, Any] = []
    space: dict[str, SearchRange] = Field(min_length=1)
    trials: int = Field(gt=0)
    metric: str = "exact"
    direction: Literal["maximize", "minimize"] = "maximize"
    seed: int = Field(0, ge=0, le=SEED_MAX)
    stop_rules: list[StopRule] = []


class SweepPlan:
    """A checked sweep: its spec, where it lives, and how to make a trial's config."""

    def __init__(self, spec: SweepSpec, source: Path):
        self.spec, self.source = spec, source
        self.out = out_dir(spec.name, spec.out)

    def trial_dir(self, number: int) -> Path:
        return self.out / f"trial-{number}"

    def trial_config(self, params: dict[str, Any], number: int) -> RunConfig:
        return build_run_config(
            self.spec.config,
            override_strings(self.spec.overrides) + override_strings(params),
            self.trial_dir(number),
            None,  # every trial trains with the seed its config gives
            self.spec.stop_rules,
            f"{self.source}: trial {number}",
        )


def load_sweep(path: str | Path) -> SweepPlan:
    """Read and check a sweep file; every searched key is tried at its ends (or each
    choice) so a bad key or range is refused before any trial trains."""
    source = Path(path)
    plan = SweepPlan(parse_schema(SweepSpec, read_experiment_file(source), source), source)
    for key, search in plan.spec.space.items():
        for value in search.bounds():
            plan.trial_config({key: value}, 0)
    return plan


def format_sweep_plan(plan: SweepPlan) -> str:
    spec = plan.spec
    lines = [
        f"sweep {spec.name} ({plan.source}) -> {plan.out}: {spec.trials} trials, "
        f"{spec.direction} {spec.metric}, TPE seed {spec.seed}",
        f"config: {spec.config} {' '.join(override_strings(spec.overrides))}".rstrip(),
    ]
    lines += [f"  {key}: {_describe_range(search)}" for key, search in spec.space.items()]
    return "\n".join(lines)


def _describe_range(search: SearchRange) -> str:
    if search.choices is not None:
        return f"choices {search.choices}"
    kind = ("log " if search.log else "") + ("int" if search.integer else "float")
    return f"{kind} [{search.low:g}, {search.high:g}]"


# ----- running ------------------------------------------------------------------------------
def _optuna():
    """Optuna, imported only for sweeps and kept quiet (our own lines say what happens)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(plan: SweepPlan):
    """The sweep's study in <out>/study.db, created or loaded. The TPE seed is offset by
    the trials already there, so a resumed sweep draws new points instead of repeating
    the first ones (its random start-up phase restarts with the process)."""
    optuna = _optuna()
    plan.out.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{(plan.out / 'study.db').resolve()}"
    existing = _count_trials(optuna, storage, plan.spec.name)
    return optuna.create_study(
        storage=storage,
        study_name=plan.spec.name,
        direction=plan.spec.direction,
        # numpy under TPE takes seeds below 2**32: wrap the offset seed around
        sampler=optuna.samplers.TPESampler(seed=(plan.spec.seed + existing) % 2**32),
        load_if_exists=True,
    )


def _count_trials(optuna, storage: str, name: str) -> int:
    try:
        return len(optuna.load_study(study_name=name, storage=storage).trials)
    except KeyError:  # no such study yet
        return 0


def run_sweep(plan: SweepPlan, train_fn: TrainFn | None = None):
    """Finish interrupted trials, add new ones until `trials` have finished, then write
    best_config.yaml and results.md/.csv. Returns the Optuna study."""
    optuna = _optuna()
    train_fn = train_fn or default_train
    study = open_study(plan)
    states = optuna.trial.TrialState
    for stale in study.get_trials(deepcopy=False, states=(states.RUNNING,)):
        print(f"[sweep {plan.spec.name}] trial {stale.number}: interrupted, resuming")
        _finish_trial(plan, study, stale.number, stale.params, train_fn)
    finished = (states.COMPLETE, states.FAIL)  # failures count: a broken setup cannot loop
    while len(study.get_trials(deepcopy=False, states=finished)) < plan.spec.trials:
        trial = study.ask()
        params = {key: _suggest(trial, key, search) for key, search in plan.spec.space.items()}
        _finish_trial(plan, study, trial.number, params, train_fn)
    write_sweep_results(plan, study)
    return study


def _suggest(trial, key: str, search: SearchRange) -> Choice:
    if search.choices is not None:
        return trial.suggest_categorical(key, search.choices)
    if search.integer:
        return trial.suggest_int(key, int(search.low), int(search.high), log=search.log)
    return trial.suggest_float(key, search.low, search.high, log=search.log)


def _finish_trial(plan: SweepPlan, study, number: int, params: dict, train_fn: TrainFn) -> None:
    """Train one trial (or reuse its finished run) and tell the study its value; any
    UserError fails the trial, with the reason kept in the trial's directory."""
    states = _optuna().trial.TrialState
    name = f"[sweep {plan.spec.name}] trial {number}"
    try:
        if set(params) != set(plan.spec.space):
            raise UserError("interrupted before all its parameters were chosen")
        config = plan.trial_config(params, number)
        print(f"{name}: {_show_params(params)}", flush=True)
        result, _ = train_seed(config, config.seed, train_fn)
        if result.status == "failed":
            raise UserError(result.reason or "training failed")
        value = _metric(result.final_eval, plan.spec.metric)
    except UserError as err:
        _record_failure(plan.trial_dir(number), str(err))
        study.tell(number, state=states.FAIL)
        print(f"{name}: failed: {err}", flush=True)
        return
    study.tell(number, value)
    print(f"{name}: {plan.spec.metric} = {value:.4g}", flush=True)


def _metric(final_eval: dict[str, float], metric: str) -> float:
    value = final_eval.get(metric)
    if value is None or not math.isfinite(value):
        known = ", ".join(sorted(final_eval)) or "none"
        raise UserError(f"no finite '{metric}' in the run's final_eval (has: {known})")
    return float(value)


def _record_failure(trial_dir: Path, reason: str) -> None:
    if not (trial_dir / FAILED_NAME).is_file():  # keep the divergence record train_seed wrote
        write_failure(trial_dir, {"reason": reason})


def _show_params(params: dict[str, Any]) -> str:
    return " ".join(override_strings(params))


# ----- results ------------------------------------------------------------------------------
def write_sweep_results(plan: SweepPlan, study) -> None:
    """results.md/.csv (one row per trial) and best_config.yaml; prints the best trial."""
    columns, rows = _trial_rows(plan, study)
    best = _best_trial(study)
    head = f"# Sweep {plan.spec.name}\n\nFile: {plan.source}\n\n"
    if best is not None:
        head += f"Best: trial {best.number}, {plan.spec.metric} = {best.value:.4g}\n\n"
    write_markdown(plan.out, head, columns, rows)
    write_csv(plan.out, columns, rows)
    print(f"results: {plan.out / RESULTS_MD}")
    if best is None:
        raise UserError(f"no trial of sweep {plan.spec.name} finished; see {plan.out}")
    config = plan.trial_config(best.params, best.number)
    atomic_write_text(plan.out / "best_config.yaml", dump_config(config))
    print(
        f"best trial {best.number}: {plan.spec.metric} = {best.value:.4g} with "
        f"{_show_params(best.params)}; config: {plan.out / 'best_config.yaml'}"
    )


def _best_trial(study):
    try:
        return study.best_trial
    except ValueError:  # no trial completed
        return None


def _trial_rows(plan: SweepPlan, study) -> tuple[list[str], list[list[Any]]]:
    keys = list(plan.spec.space)
    columns = ["trial", "state", *keys, plan.spec.metric, "steps", "train_seconds", "note"]
    rows = []
    for trial in study.get_trials(deepcopy=False):
        summary, failure = _trial_files(plan.trial_dir(trial.number))
        note = failure.get("reason") or summary.get("stopped_early")
        rows.append(
            [trial.number, trial.state.name.lower(), *(trial.params.get(k) for k in keys)]
            + [trial.value, summary.get("steps"), summary.get("train_seconds"), note]
        )
    return columns, rows


def _trial_files(trial_dir: Path) -> tuple[dict, dict]:
    def read(name: str) -> dict:
        path = trial_dir / name
        return read_json_file(path) if path.is_file() else {}

    return read(SUMMARY_NAME), read(FAILED_NAME)
