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

Conditions are a small language parsed with `ast` against a whitelist, never evaluated as
Python: `RUN.metric OP number` (OP one of < <= > >= == !=; `RUN.exact` etc. read another
final_eval metric, `RUN.stopped` is true when a seed stopped early or diverged), `and`,
`or`, `not`, parentheses, and `any(RUN1, RUN2).metric >= 0.9` / `all(...)`. A run's value
is the mean over its seeds; a seed whose training diverged counts 0.

Stop rules become `train.fail_fast` entries of every run: step = ceil(at * train.steps).
The engine judges fail-fast rules only at periodic evaluations, so a run with
`train.eval_every: 0` gets eval_every = the gcd of its rule steps (one extra evaluation
for `at: 0.5`); a run that already evaluates periodically keeps its eval_every and is
judged at its first evaluation at or after the step. A rule that could never be judged
(at or after the last step) is refused.
"""

from __future__ import annotations

import ast
import csv
import dataclasses
import difflib
import io
import json
import keyword
import math
import operator
import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ponder.config import RunConfig, config_from_dict, load_config
from ponder.errors import TrainingDiverged, UserError
from ponder.fileio import atomic_write_text
from ponder.models.base import FrozenConfig
from ponder.train.rundir import CONFIG_NAME, checkpoint_path

STOP = "stop"
SUMMARY_NAME = "summary.json"
FAILED_NAME = "failed.json"  # a seed whose training diverged: why, and its config
STATE_NAME = "state.json"
TrainFn = Callable[[RunConfig], Path]
_RUN_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SUITE_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
# Where a run may live and on what device does not make it a different experiment.
_PLACE_KEYS = ("device", "run_dir", "name")
Schema = TypeVar("Schema", bound=FrozenConfig)


# ----- the experiment file ------------------------------------------------------------------
class StopRule(FrozenConfig):
    """Stop a run whose `metric` is below `below` at the fraction `at` of its steps."""

    metric: str = "exact"
    below: float
    at: float = Field(gt=0, lt=1)


class RunSpec(FrozenConfig):
    config: str  # a YAML preset, relative to the current directory
    overrides: list[str] | dict[str, Any] = []  # "key=value" strings or {key: value}
    seeds: list[int] = Field([0], min_length=1)
    after: list[str] = []  # runs that must be complete before this one starts

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds repeat: {seeds}")
        return seeds


class Rule(FrozenConfig):
    """`{if: CONDITION, then: NEXT}` or `{else: NEXT}`, NEXT a phase name or `stop`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    when: str | None = Field(None, alias="if")
    then: str | None = None
    otherwise: str | None = Field(None, alias="else")
    say: str | None = None  # recorded as the suite's outcome when this rule is taken

    @model_validator(mode="after")
    def _one_form(self) -> Rule:
        if self.when is not None or self.then is not None:
            valid = self.when is not None and self.then is not None and self.otherwise is None
        else:
            valid = self.otherwise is not None
        if not valid:
            raise ValueError("a rule is either {if: CONDITION, then: NEXT} or {else: NEXT}")
        return self

    @property
    def target(self) -> str:
        return self.then if self.then is not None else self.otherwise  # type: ignore[return-value]

    @property
    def label(self) -> str:
        return self.when if self.when is not None else "else"


class Phase(FrozenConfig):
    name: str
    runs: list[str] = Field(min_length=1)
    decide: list[Rule] = []


class SuiteSpec(FrozenConfig):
    name: str
    mode: Literal["suite"] = "suite"
    out: str | None = None  # default runs/suites/<name>
    metric: str = "exact"
    runs: dict[str, RunSpec] = Field(min_length=1)
    stop_rules: list[StopRule] = []
    phases: list[Phase] = []

    @field_validator("name")
    @classmethod
    def _path_safe(cls, name: str) -> str:
        if not _SUITE_NAME.match(name):
            raise ValueError(f"name {name!r} may hold only letters, digits, '_', '-' and '.'")
        return name


def read_experiment_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of an experiment file, or a UserError naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"experiment file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise UserError(f"experiment file {path} must hold a mapping of keys to values")
    return raw


def parse_schema(cls: type[Schema], raw: dict[str, Any], source: Path) -> Schema:
    """Validate `raw` against a pydantic schema; the first problem becomes one line."""
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            known = [f.alias or name for name, f in _fields_at(cls, first["loc"][:-1])]
            near = difflib.get_close_matches(str(first["loc"][-1]), known, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else f" (known: {', '.join(known)})"
            raise UserError(f"{source}: unknown key '{loc}'{hint}") from None
        message = first["msg"].removeprefix("Value error, ")
        raise UserError(f"{source}: '{loc}': {message}") from None


def _fields_at(cls: type[BaseModel], loc: Sequence[Any]) -> list[tuple[str, Any]]:
    """The fields of the schema that `loc` (a pydantic error location) points into."""
    for part in loc:
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            continue  # a list index or a mapping key (a run id)
        inner = [a for a in (field.annotation, *get_args(field.annotation)) if _is_schema(a)]
        if not inner:
            break
        cls = inner[0]
    return list(cls.model_fields.items())


def _is_schema(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def override_strings(overrides: list[str] | dict[str, Any]) -> list[str]:
    """Overrides as `key=value` strings; a mapping's values are written back as YAML so
    load_config reads exactly the value the file gave (3e-5 stays a float)."""
    if isinstance(overrides, list):
        return list(overrides)
    return [f"{key}={yaml_value(value)}" for key, value in overrides.items()]


def yaml_value(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000)
    return text.removesuffix("\n...\n").strip()


# ----- conditions ---------------------------------------------------------------------------
_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_QUANTIFIERS = {"any": any, "all": all}
ReadValue = Callable[[str, str], float | bool]  # (run id, attribute) -> value


@dataclasses.dataclass(frozen=True)
class Condition:
    """A parsed decision condition: its text, its syntax tree and the runs it reads."""

    text: str
    tree: ast.expr
    runs: frozenset[str]

    @classmethod
    def parse(cls, text: str, where: str) -> Condition:
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError:
            raise UserError(f"{where}: condition {text!r} is not a valid expression") from None
        runs = _runs_in_test(tree, f"{where}: condition {text!r}")
        return cls(text=text, tree=tree, runs=frozenset(runs))

    def evaluate(self, read: ReadValue) -> bool:
        return _test(self.tree, read)


def _refuse(node: ast.AST, where: str) -> UserError:
    return UserError(
        f"{where}: {ast.unparse(node)} is not allowed (write RUN.metric OP number, "
        "and/or/not, any(RUN, ...).metric or all(...))"
    )


def _runs_in_test(node: ast.expr, where: str) -> set[str]:
    """Check a node in a true/false position; return the runs it reads."""
    if isinstance(node, ast.BoolOp):
        return set().union(*(_runs_in_test(value, where) for value in node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _runs_in_test(node.operand, where)
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        if any(type(op) not in _COMPARISONS for op in node.ops):
            raise _refuse(node, where)
        if sum(_is_quantified(o) for o in operands) > 1:
            raise UserError(f"{where}: use at most one any()/all() per comparison")
        return set().union(*(_runs_in_operand(o, where) for o in operands))
    if isinstance(node, ast.Attribute) and node.attr == "stopped":
        return _runs_in_subject(node.value, where)
    raise _refuse(node, where)


def _runs_in_operand(node: ast.expr, where: str) -> set[str]:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand  # a negative number
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        return set()
    if isinstance(node, ast.Attribute) and not node.attr.startswith("_"):
        return _runs_in_subject(node.value, where)
    raise _refuse(node, where)


def _runs_in_subject(node: ast.expr, where: str) -> set[str]:
    """RUN or any(RUN, ...) / all(RUN, ...), the part before `.metric`."""
    if isinstance(node, ast.Name):
        return {node.id}
    if _is_quantifier(node):
        return {arg.id for arg in node.args}  # type: ignore[attr-defined]
    raise _refuse(node, where)


def _is_quantifier(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _QUANTIFIERS
        and bool(node.args)
        and not node.keywords
        and all(isinstance(arg, ast.Name) for arg in node.args)
    )


def _is_quantified(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and _is_quantifier(node.value)


def _test(node: ast.expr, read: ReadValue) -> bool:
    if isinstance(node, ast.BoolOp):
        combine = all if isinstance(node.op, ast.And) else any
        return combine(_test(value, read) for value in node.values)
    if isinstance(node, ast.UnaryOp):
        return not _test(node.operand, read)
    if isinstance(node, ast.Compare):
        return _compare(node, read)
    assert isinstance(node, ast.Attribute)  # RUN.stopped, checked when parsed
    return _over_subject(node.value, lambda run: bool(read(run, node.attr)))


def _compare(node: ast.Compare, read: ReadValue) -> bool:
    operands = [node.left, *node.comparators]
    quantified = next((o for o in operands if _is_quantified(o)), None)

    def holds(run: str | None) -> bool:
        values = [_value(o, read, run if o is quantified else None) for o in operands]
        pairs = zip(node.ops, values, values[1:], strict=False)
        return all(_COMPARISONS[type(op)](a, b) for op, a, b in pairs)

    if quantified is None:
        return holds(None)
    return _over_subject(quantified.value, holds)  # type: ignore[attr-defined]


def _over_subject(subject: ast.expr, holds: Callable[[str], bool]) -> bool:
    if isinstance(subject, ast.Name):
        return holds(subject.id)
    combine = _QUANTIFIERS[subject.func.id]  # type: ignore[attr-defined]
    return combine(holds(arg.id) for arg in subject.args)  # type: ignore[attr-defined]


def _value(node: ast.expr, read: ReadValue, run: str | None) -> float | bool:
    if isinstance(node, ast.UnaryOp):
        return -_value(node.operand, read, run)
    if isinstance(node, ast.Constant):
        return node.value
    assert isinstance(node, ast.Attribute)
    return read(run or node.value.id, node.attr)  # type: ignore[attr-defined]


# ----- checking a suite before anything runs ------------------------------------------------
def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in a directed graph as [a, b, ..., a], or None."""
    state: dict[str, str] = {}  # "open" while on the DFS stack, then "done"

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = "open"
        stack = stack + [node]
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt, stack)):
                return found
        state[node] = "done"
        return None

    for start in graph:
        if start not in state and (found := visit(start, [])):
            return found
    return None


def run_order(run_ids: Sequence[str], after: dict[str, list[str]]) -> list[str]:
    """`run_ids` and everything they come after, dependencies first (file order otherwise)."""
    order: list[str] = []

    def visit(run: str) -> None:
        if run in order:
            return
        for dep in after[run]:
            visit(dep)
        order.append(run)

    for run in run_ids:
        visit(run)
    return order


def _check_runs(spec: SuiteSpec, source: Path) -> None:
    for run_id, run in spec.runs.items():
        if not _RUN_ID.match(run_id) or keyword.iskeyword(run_id):
            raise UserError(
                f"{source}: run id {run_id!r} must be a name of letters, digits and '_' "
                "(conditions refer to it as RUN.metric)"
            )
        for dep in run.after:
            if dep not in spec.runs:
                raise UserError(f"{source}: run {run_id} comes after unknown run '{dep}'")
    cycle = find_cycle({run_id: run.after for run_id, run in spec.runs.items()})
    if cycle:
        raise UserError(f"{source}: runs wait for each other in a cycle: {' -> '.join(cycle)}")


def phase_edges(phases: Sequence[Phase]) -> dict[str, list[str]]:
    """Which phases may follow each phase: its rules' targets, and the next listed phase
    when no rule may match (no rules, or no `else`)."""
    edges: dict[str, list[str]] = {}
    for i, phase in enumerate(phases):
        targets = [rule.target for rule in phase.decide if rule.target != STOP]
        falls_through = not phase.decide or phase.decide[-1].otherwise is None
        if falls_through and i + 1 < len(phases):
            targets.append(phases[i + 1].name)
        edges[phase.name] = targets
    return edges


def _check_phases(spec: SuiteSpec, source: Path) -> dict[str, Condition]:
    """Names, run references, rule targets and conditions of the phases; no loops."""
    names = [phase.name for phase in spec.phases]
    for phase in spec.phases:
        if phase.name == STOP or names.count(phase.name) > 1:
            raise UserError(f"{source}: phase name '{phase.name}' is reserved or repeated")
        for run_id in phase.runs:
            if run_id not in spec.runs:
                raise UserError(f"{source}: phase {phase.name} names unknown run '{run_id}'")
        for rule in phase.decide:
            if rule.target != STOP and rule.target not in names:
                raise UserError(
                    f"{source}: phase {phase.name} goes to unknown phase '{rule.target}' "
                    f"(phases: {', '.join(names)}, or stop)"
                )
    cycle = find_cycle(phase_edges(spec.phases))
    if cycle:
        raise UserError(f"{source}: phases loop: {' -> '.join(cycle)}")
    return _check_conditions(spec, source)


def _check_conditions(spec: SuiteSpec, source: Path) -> dict[str, Condition]:
    available = _runs_done_by(spec)
    conditions: dict[str, Condition] = {}
    for phase in spec.phases:
        where = f"{source}: phase {phase.name}"
        for rule in phase.decide:
            if rule.when is None:
                continue
            condition = Condition.parse(rule.when, where)
            for run_id in sorted(condition.runs):
                if run_id not in spec.runs:
                    raise UserError(f"{where}: condition {rule.when!r}: unknown run '{run_id}'")
                if run_id not in available[phase.name]:
                    raise UserError(
                        f"{where}: condition {rule.when!r} reads run {run_id}, which never "
                        f"runs before this decision (add it to the phase's runs)"
                    )
            conditions[rule.when] = condition
    return conditions


def _runs_done_by(spec: SuiteSpec) -> dict[str, set[str]]:
    """For each phase, the runs that may have trained by its decision: its own, and those
    of every phase from which it can be reached."""
    after = {run_id: run.after for run_id, run in spec.runs.items()}
    edges = phase_edges(spec.phases)
    own = {p.name: set(run_order(p.runs, after)) for p in spec.phases}
    available = {name: set(runs) for name, runs in own.items()}
    for start in edges:
        seen, todo = set(), list(edges[start])
        while todo:
            phase = todo.pop()
            if phase not in seen:
                seen.add(phase)
                available[phase] |= own[start]
                todo += edges[phase]
    return available


# ----- run configs --------------------------------------------------------------------------
def stop_rule_step(rule: StopRule, steps: int, where: str) -> int:
    """The step a stop rule judges at: ceil(at * steps), below the last step (the final
    evaluation never stops a run). Rounded first so 0.7 * 10 is 7, not 8."""
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
    _check_runs(spec, source)
    conditions = _check_phases(spec, source)
    out = Path(spec.out) if spec.out else Path("runs") / "suites" / spec.name
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


# ----- results of runs ----------------------------------------------------------------------
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
        reason = json.loads(failed.read_text(encoding="utf-8"))["reason"]
        return SeedResult(seed, run_dir, "failed", {}, reason=reason)
    summary = json.loads((run_dir / SUMMARY_NAME).read_text(encoding="utf-8"))
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


# ----- training one seed --------------------------------------------------------------------
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
    if not ((run_dir / SUMMARY_NAME).is_file() or (run_dir / FAILED_NAME).is_file()):
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


def _saved_config(run_dir: Path) -> dict[str, Any]:
    if (run_dir / CONFIG_NAME).is_file():
        return yaml.safe_load((run_dir / CONFIG_NAME).read_text(encoding="utf-8")) or {}
    if (run_dir / FAILED_NAME).is_file():
        return json.loads((run_dir / FAILED_NAME).read_text(encoding="utf-8"))["config"]
    raise UserError(f"{run_dir} has a {SUMMARY_NAME} but no {CONFIG_NAME}")


def config_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Dotted keys where two configs differ, ignoring where and on what device they run."""
    old, new = _flatten(saved), _flatten(now)
    keys = sorted(set(old) | set(new))
    missing = object()
    return [
        key
        for key in keys
        if key.split(".")[0] not in _PLACE_KEYS and old.get(key, missing) != new.get(key, missing)
    ]


def _flatten(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def train_seed(config: RunConfig, seed: int, train_fn: TrainFn) -> tuple[SeedResult, bool]:
    """Train one seed unless it already finished: (its result, whether it trained now).
    Divergence is an outcome of the experiment, recorded in failed.json, not a crash."""
    run_dir = config.resolved_run_dir()
    if is_finished(run_dir, config):
        return read_seed_result(run_dir, seed), False
    try:
        train_fn(config)
    except TrainingDiverged as err:
        run_dir.mkdir(parents=True, exist_ok=True)
        record = {"reason": str(err), "config": config.to_dict()}
        atomic_write_text(run_dir / FAILED_NAME, json.dumps(record, indent=2) + "\n")
    return read_seed_result(run_dir, seed), True


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
        previous = json.loads(self.path.read_text()) if self.path.is_file() else {}
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
    print(f"results: {report.out / 'results.md'}")
    for decision in report.decisions:
        print(f"  {decision.describe()}")
    print(f"outcome: {report.outcome}")


# ----- results files ------------------------------------------------------------------------
def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        text = "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_text(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def write_results(plan: SuitePlan, report: SuiteReport) -> None:
    """results.md (one row per run), results.csv (one per seed) and results.png."""
    metric = plan.spec.metric
    decisions = "".join(f"- {d.describe()}\n" for d in report.decisions)
    header = f"# Suite {plan.spec.name}\n\nFile: {plan.source}\n\nOutcome: **{report.outcome}**\n\n"
    header += f"Decisions:\n\n{decisions}\n"
    md = header + markdown_table(_run_columns(metric), _run_rows(plan, report.results))
    atomic_write_text(plan.out / "results.md", md)
    seed_columns = ["run", "seed", "status", metric, "params", "steps", "train_seconds"]
    seed_columns += ["stopped", "run_dir"]
    csv_rows = [
        [run.run_id, s.seed, s.status, value, s.params, s.steps, s.train_seconds, s.reason]
        + [str(s.run_dir)]
        for run in report.results.values()
        for s, value in zip(run.seeds, run.per_seed(metric), strict=True)
    ]
    atomic_write_text(plan.out / "results.csv", csv_text(seed_columns, csv_rows))
    plot_runs(plan.out / "results.png", f"{plan.spec.name}: {metric}", metric, report.results)


def _run_columns(metric: str) -> list[str]:
    return ["run", "seeds", "status", f"{metric} mean", f"{metric} per seed", "params"] + [
        "steps",
        "train s",
        "why stopped",
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


def plot_runs(path: Path, title: str, metric: str, results: dict[str, RunResult]) -> None:
    """A bar per run (its mean over seeds) with one dot per seed, written atomically."""
    from matplotlib.figure import Figure  # lazy: plotting only at the end of a suite

    from ponder.tasks.grids import save_figure_atomic

    runs = list(results.values())
    fig = Figure(figsize=(max(4.0, 0.9 * len(runs) + 1.5), 4.0))
    ax = fig.subplots()
    for x, run in enumerate(runs):
        values = run.per_seed(metric)
        ax.bar(x, statistics.fmean(values), color="#9ab" if run.status == "done" else "#dba")
        ax.scatter([x] * len(values), values, color="black", s=12, zorder=3)
    ax.set_xticks(range(len(runs)), [run.run_id for run in runs], rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(title)
    fig.tight_layout()
    save_figure_atomic(fig, path)


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
    finished = (run_dir / SUMMARY_NAME).is_file() or (run_dir / FAILED_NAME).is_file()
    state = "finished" if finished else "resume" if checkpoint_path(run_dir).is_file() else "new"
    stops = ", ".join(f"{r.metric}<{r.below:g}@{r.step}" for r in config.train.fail_fast)
    extras = " ".join(override_strings(run.overrides))
    return (
        f"  {run_dir.name}: {run.config} {extras} ({config.train.steps} steps"
        f"{', fail-fast ' + stops if stops else ''}, eval_every {config.train.eval_every}) "
        f"[{state}]"
    )
