"""Experiment suites: named runs, seeds, dependencies, stop rules and a decision tree.

An experiment file (YAML) looks like this::

    name: encoder_debug
    out: runs/suites/encoder_debug       # default runs/suites/<name>
    metric: exact                        # read from each run's summary.json final_eval
    stop_rules:                          # stop a run below 20% exact at half its steps
      - {metric: exact, below: 0.2, at: 0.5}
    runs:
      base: {config: configs/a.yaml, overrides: [train.lr=1e-4], seeds: [0, 1]}
      enc: {config: configs/b.yaml, after: [base]}
    phases:
      - name: first
        runs: [base, enc]
        decide:
          - {if: "base.metric < 0.9", then: stop, say: DEBUG BASELINE}
          - {else: second}

Each (run, seed) trains into `<out>/<run>-s<seed>/`. A finished run (summary.json and a
matching config.yaml) is reused, an interrupted one (a checkpoint) resumed, so running the
file again after an interruption continues where it stopped and takes the same decisions;
`<out>/state.json` records the phases taken and the outcome. At the end `results.md`,
`results.csv` and `results.png` summarise every run.

Phases run in the order the rules pick, starting with the first listed. A phase trains its
runs (and the runs they come `after`), then its rules are tried in order: the first `if`
that holds, or the `else`, names the next phase or `stop`; when none matches (or the phase
has no rules) the next listed phase follows, and the suite ends after the last. The most
recent `say:` on the path is the suite's outcome. Without phases every run trains in
dependency order.

Conditions (`ponder.experiments.conditions`) read `RUN.metric`, `RUN.stopped`, `any(...)`
and `all(...)`; a run's value is the mean over its seeds, and a seed whose training
diverged counts 0. Stop rules become `train.fail_fast` entries of every run
(`ponder.experiments.configs`).

The experiment file's models live in `ponder.experiments.schema`, the checks made before
anything trains in `ponder.experiments.checks`, training one seed in
`ponder.experiments.runs` and the results files in `ponder.experiments.results`; the names
other modules imported from here before they moved are still importable from here.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.config import RunConfig
from ponder.errors import UserError
from ponder.experiments.checks import check_suite, run_order
from ponder.experiments.conditions import Condition
from ponder.experiments.configs import build_run_config
from ponder.experiments.results import (
    RESULTS_MD,
    RESULTS_PNG,
    csv_text,
    markdown_table,
    plot_runs,
    write_csv,
    write_markdown,
)
from ponder.experiments.runs import (
    FAILED_NAME,
    SUMMARY_NAME,
    RunResult,
    SeedResult,
    TrainFn,
    default_train,
    has_outcome,
    train_seed,
)
from ponder.experiments.schema import (
    STOP,
    Phase,
    StopRule,
    SuiteSpec,
    out_dir,
    override_strings,
    parse_schema,
    read_experiment_file,
    yaml_value,
)
from ponder.fileio import atomic_write_text, read_json_file
from ponder.train.rundir import checkpoint_path

__all__ = [
    # this module's own
    "STATE_NAME",
    "Decision",
    "SuitePlan",
    "SuiteReport",
    "decide",
    "format_plan",
    "load_suite",
    "outcome_of",
    "run_suite",
    # moved out, still importable from here as before
    "FAILED_NAME",
    "STOP",
    "SUMMARY_NAME",
    "Condition",
    "RunResult",
    "SeedResult",
    "StopRule",
    "TrainFn",
    "build_run_config",
    "csv_text",
    "default_train",
    "markdown_table",
    "override_strings",
    "parse_schema",
    "read_experiment_file",
    "train_seed",
    "yaml_value",
]

STATE_NAME = "state.json"


# ----- the plan -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SuitePlan:
    """A checked suite: what would train where. `configs` is empty when built with
    check_files=False (the presets were not read)."""

    spec: SuiteSpec
    source: Path
    out: Path
    configs: dict[tuple[str, int], RunConfig]
    conditions: dict[str, Condition]
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def after(self) -> dict[str, list[str]]:
        return {run_id: run.after for run_id, run in self.spec.runs.items()}

    def seed_dir(self, run_id: str, seed: int) -> Path:
        return self.out / f"{run_id}-s{seed}"

    def phases(self) -> list[Phase]:
        """The phases, or one implicit phase of every run when the file has none."""
        return self.spec.phases or [Phase(name="all", runs=list(self.spec.runs))]


def load_suite(path: str | Path, *, check_files: bool = True) -> SuitePlan:
    """Read and check an experiment file: everything that can be refused is refused here,
    before any training. check_files=False skips reading the run presets."""
    source = Path(path)
    raw = read_experiment_file(source)
    if raw.get("mode") == "sweep":
        raise UserError(f"{source} is a sweep (mode: sweep); run it with `ponder suite`")
    spec = parse_schema(SuiteSpec, raw, source)
    conditions = check_suite(spec, source)
    out = out_dir(spec.name, spec.out)
    plan = SuitePlan(spec=spec, source=source, out=out, configs={}, conditions=conditions)
    if check_files:
        plan.configs.update(_build_configs(plan))
    else:
        for run in spec.runs.values():
            override_strings(run.overrides)  # still refuses a malformed override list
    plan.notes.extend(_notes(plan))
    return plan


def _build_configs(plan: SuitePlan) -> dict[tuple[str, int], RunConfig]:
    configs = {}
    for run_id, run in plan.spec.runs.items():
        for seed in run.seeds:
            where = f"{plan.source}: run {run_id}"
            configs[run_id, seed] = build_run_config(
                run.config,
                override_strings(run.overrides),
                plan.seed_dir(run_id, seed),
                seed,
                plan.spec.stop_rules,
                where,
            )
    return configs


def _notes(plan: SuitePlan) -> list[str]:
    """Likely mistakes that are not errors: runs no phase reaches, runs that are the same."""
    reached = set(run_order([r for p in plan.phases() for r in p.runs], plan.after))
    notes = [f"run {r} is in no phase and never trains" for r in plan.spec.runs if r not in reached]
    seen: dict[str, str] = {}
    for (run_id, seed), config in plan.configs.items():
        key = json.dumps({**config.to_dict(), "run_dir": None}, sort_keys=True)
        if key in seen:
            notes.append(f"runs {seen[key]} and {run_id} have the same config (seed {seed})")
        seen.setdefault(key, run_id)
    return notes


# ----- running the suite --------------------------------------------------------------------
@dataclasses.dataclass
class Decision:
    phase: str
    runs: list[str]
    rule: str  # the condition taken, "else", or "(no rule)"
    next: str | None  # a phase, "stop", or None at the end of the list
    say: str | None = None

    def describe(self) -> str:
        target = self.next or "end"
        said = f' "{self.say}"' if self.say else ""
        return f"{self.phase} [{self.rule}] -> {target}{said}"


@dataclasses.dataclass
class SuiteReport:
    out: Path
    decisions: list[Decision]
    outcome: str
    results: dict[str, RunResult]
    trained: list[str]  # "<run>-s<seed>" trained by this call (the rest were reused)

    @property
    def path(self) -> list[str]:
        return [decision.phase for decision in self.decisions]


class _State:
    """state.json: the phases taken, their decisions, each seed's status and the outcome,
    rewritten atomically after every change so an interruption loses nothing."""

    def __init__(self, plan: SuitePlan):
        self.path = plan.out / STATE_NAME
        previous = read_json_file(self.path) if self.path.is_file() else {}
        self.previous_decisions = previous.get("decisions", [])
        self.data: dict[str, Any] = {
            "suite": plan.spec.name,
            "file": str(plan.source),
            "status": "running",
            "decisions": [],
            "outcome": None,
            "runs": previous.get("runs", {}),
        }

    def seed_finished(self, name: str, status: str) -> None:
        self.data["runs"][name] = status
        self._write()

    def decided(self, decision: Decision) -> None:
        record = dataclasses.asdict(decision)
        index = len(self.data["decisions"])
        if index < len(self.previous_decisions) and self.previous_decisions[index] != record:
            print(f"note: the decision after {decision.phase} differs from the last invocation")
        self.data["decisions"].append(record)
        self._write()

    def finish(self, outcome: str) -> None:
        self.data.update(status="done", outcome=outcome)
        self._write()

    def _write(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=2) + "\n")


def run_suite(plan: SuitePlan, train_fn: TrainFn | None = None) -> SuiteReport:
    """Train the phases the decision rules pick, write results.md/csv/png, and say what
    happened. `train_fn(config)` trains one run (default: ponder's trainer, resuming)."""
    if not plan.configs:
        raise UserError(f"{plan.source}: the suite was loaded without its configs")
    train_fn = train_fn or default_train
    plan.out.mkdir(parents=True, exist_ok=True)
    state = _State(plan)
    report = SuiteReport(out=plan.out, decisions=[], outcome="", results={}, trained=[])
    phases = {phase.name: phase for phase in plan.phases()}
    phase: Phase | None = plan.phases()[0]
    while phase is not None:
        for run_id in run_order(phase.runs, plan.after):
            if run_id not in report.results:
                report.results[run_id] = _train_run(plan, run_id, train_fn, state, report)
        decision = decide(plan, phase, report.results)
        state.decided(decision)
        report.decisions.append(decision)
        phase = phases.get(decision.next or "")  # None for stop and the end of the list
    report.outcome = outcome_of(report.decisions)
    state.finish(report.outcome)
    write_results(plan, report)
    _print_report(report)
    return report


def _train_run(
    plan: SuitePlan, run_id: str, train_fn: TrainFn, state: _State, report: SuiteReport
) -> RunResult:
    seeds = []
    for seed in plan.spec.runs[run_id].seeds:
        name = plan.seed_dir(run_id, seed).name
        print(f"[suite {plan.spec.name}] {name}", flush=True)
        result, trained = train_seed(plan.configs[run_id, seed], seed, train_fn)
        if trained:
            report.trained.append(name)
        else:
            print(f"[suite {plan.spec.name}] {name}: already finished, reused", flush=True)
        state.seed_finished(name, result.status)
        seeds.append(result)
    return RunResult(run_id, seeds)


def decide(plan: SuitePlan, phase: Phase, results: dict[str, RunResult]) -> Decision:
    """The first rule of `phase` that holds (or its else); with none, the next listed
    phase, or the end."""

    def read(run_id: str, attribute: str) -> float | bool:
        if run_id not in results:
            raise UserError(f"phase {phase.name}: run {run_id} has not run on this path")
        run = results[run_id]
        if attribute == "stopped":
            return run.stopped
        return run.mean(plan.spec.metric if attribute == "metric" else attribute)

    for rule in phase.decide:
        if rule.when is None or plan.conditions[rule.when].evaluate(read):
            return Decision(phase.name, phase.runs, rule.label, rule.target, rule.say)
    names = [p.name for p in plan.phases()]
    index = names.index(phase.name)
    following = names[index + 1] if index + 1 < len(names) else None
    return Decision(phase.name, phase.runs, "(no rule)", following)


def outcome_of(decisions: Sequence[Decision]) -> str:
    """The most recent `say` on the path, else where the suite ended."""
    for decision in reversed(decisions):
        if decision.say:
            return decision.say
    last = decisions[-1]
    return f"stopped after {last.phase}" if last.next == STOP else f"finished after {last.phase}"


def _print_report(report: SuiteReport) -> None:
    print(f"results: {report.out / RESULTS_MD}")
    for decision in report.decisions:
        print(f"  {decision.describe()}")
    print(f"outcome: {report.outcome}")


# ----- the plan in words --------------------------------------------------------------------
def format_plan(plan: SuitePlan) -> str:
    """What `ponder suite FILE --dry-run` prints: phases, rules, runs and their configs."""
    spec = plan.spec
    lines = [f"suite {spec.name} ({plan.source}) -> {plan.out}, metric {spec.metric}"]
    for rule in spec.stop_rules:
        lines.append(f"stop rule: {rule.metric} < {rule.below:g} at {rule.at:g} of train.steps")
    for phase in plan.phases():
        lines.append(f"phase {phase.name}: {', '.join(run_order(phase.runs, plan.after))}")
        for rule in phase.decide:
            said = f' "{rule.say}"' if rule.say else ""
            lines.append(f"  {'if ' + rule.when if rule.when else 'else'} -> {rule.target}{said}")
    lines += [_describe_seed(plan, key, config) for key, config in plan.configs.items()]
    lines += [f"note: {note}" for note in plan.notes]
    return "\n".join(lines)


def _describe_seed(plan: SuitePlan, key: tuple[str, int], config: RunConfig) -> str:
    run = plan.spec.runs[key[0]]
    run_dir = config.resolved_run_dir()
    resumable = checkpoint_path(run_dir).is_file()
    state = "finished" if has_outcome(run_dir) else "resume" if resumable else "new"
    stops = ", ".join(f"{r.metric}<{r.below:g}@{r.step}" for r in config.train.fail_fast)
    extras = " ".join(override_strings(run.overrides))
    return (
        f"  {run_dir.name}: {run.config} {extras} ({config.train.steps} steps"
        f"{', fail-fast ' + stops if stops else ''}, eval_every {config.train.eval_every}) "
        f"[{state}]"
    )


def write_results(plan: SuitePlan, report: SuiteReport) -> None:
    """results.md (one row per run), results.csv (one per seed) and results.png."""
    metric = plan.spec.metric
    rows = _run_rows(plan, report.results)
    write_markdown(plan.out, _suite_head(plan, report), _run_columns(metric), rows)
    write_csv(plan.out, _seed_columns(metric), _seed_rows(report.results, metric))
    plot_runs(plan.out / RESULTS_PNG, f"{plan.spec.name}: {metric}", metric, report.results)


def _suite_head(plan: SuitePlan, report: SuiteReport) -> str:
    decisions = "".join(f"- {d.describe()}\n" for d in report.decisions)
    header = f"# Suite {plan.spec.name}\n\nFile: {plan.source}\n\nOutcome: **{report.outcome}**\n\n"
    return header + f"Decisions:\n\n{decisions}\n"


def _run_columns(metric: str) -> list[str]:
    columns = ["run", "seeds", "status", f"{metric} mean", f"{metric} per seed", "params"]
    return columns + ["steps", "train s", "why stopped"]


def _seed_columns(metric: str) -> list[str]:
    columns = ["run", "seed", "status", metric, "params", "steps", "train_seconds"]
    return columns + ["stopped", "run_dir"]


def _seed_rows(results: dict[str, RunResult], metric: str) -> list[list[Any]]:
    return [
        [run.run_id, s.seed, s.status, value, s.params, s.steps, s.train_seconds, s.reason]
        + [str(s.run_dir)]
        for run in results.values()
        for s, value in zip(run.seeds, run.per_seed(metric), strict=True)
    ]


def _run_rows(plan: SuitePlan, results: dict[str, RunResult]) -> list[list[Any]]:
    rows = []
    for run_id, spec in plan.spec.runs.items():
        seeds = ", ".join(str(seed) for seed in spec.seeds)
        if run_id not in results:
            rows.append([run_id, seeds, "not run", None, None, None, None, None, None])
            continue
        run = results[run_id]
        values = run.per_seed(plan.spec.metric)
        per_seed = ", ".join(f"{v:.4g}" for v in values)
        steps = " / ".join(str(s.steps) for s in run.seeds if s.steps is not None)
        timed = [s.train_seconds for s in run.seeds if s.train_seconds is not None]
        seconds = round(sum(timed), 1) if timed else None
        reasons = "; ".join(sorted({s.reason for s in run.seeds if s.reason}))
        params = next((s.params for s in run.seeds if s.params is not None), None)
        rows.append([run_id, seeds, run.status, statistics.fmean(values), per_seed, params])
        rows[-1] += [steps or None, seconds, reasons or None]
    return rows
