"""Checking a suite before anything runs: run ids and dependencies, phase names, rule
targets and conditions; no run waits for itself and no phases loop.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from pathlib import Path

from ponder.errors import UserError
from ponder.experiments.conditions import Condition
from ponder.experiments.schema import STOP, Phase, SuiteSpec

_RUN_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_suite(spec: SuiteSpec, source: Path) -> dict[str, Condition]:
    """Refuse a suite whose runs or phases do not fit together; its parsed conditions."""
    _check_runs(spec, source)
    return _check_phases(spec, source)


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
