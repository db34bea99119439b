"""One rollout: a fresh carry, then N supervision segments of a model on one batch.

Training's evaluations, `ponder eval`, `ponder solve`, few-shot voting and the test-time
latent search all run a model this way; only what they keep differs:
- the last segment's outputs (always);
- `read(outputs)` after the last segment, and at the segment where the halting rule first
  says stop (the answer the model would have given had it halted there), with that segment;
- `grad_last`: the earlier segments run without gradient and the last one with it, so a
  caller inside `torch.enable_grad()` can backpropagate through one segment (latent search);
- `snapshots`: `read(outputs)` after each of these segments (exact-by-depth curves);
- `until_halt`: stop as soon as every row's rule has said halt (`--segments auto`: the
  answers that count are then those at each row's halting segment, `at_halt`).

The stop rule (`rule`) is a halting rule read from the q heads ("trm", "hrm"; "none" reads
q_halt as "trm" does), StableAnswer(k) (a row stops k segments after its answer last
changed; it needs `read`), ConvergedState(tol) (a row stops once its state's relative
change over a segment is at most tol), or "confidence" (no row stops early; `at_halt` is
the answer of the segment of highest confidence so far, `halt_step` that segment).
Evaluation always runs all N segments (the papers evaluate at the limit) and reports what
the halting rule would have done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass

import torch
from torch import nn

from ponder.models.base import ModelOutputs
from ponder.models.halting import (
    ConvergedState,
    StableAnswer,
    StopRule,
    answer_confidence,
    carry_state,
    halt_signal,
    relative_change,
)


@dataclass
class Rollout:
    outputs: ModelOutputs  # the last segment's outputs
    answer: torch.Tensor | None  # read(outputs) after the last segment (B, ...); None: no read
    at_halt: torch.Tensor | None  # read(...) at the segment the rule first says halt (B, ...)
    halt_step: torch.Tensor  # (B,) 1-based segment of the first "halt" (segments if never)
    snapshots: dict[int, torch.Tensor]  # segment -> read(outputs) after it


def rollout(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    segments: int,
    *,
    rule: StopRule = "trm",
    read: Callable[[ModelOutputs], torch.Tensor] | None = None,
    grad_last: bool = False,
    snapshots: Collection[int] = (),
    until_halt: bool = False,
) -> Rollout:
    """Run `segments` segments from a fresh carry on `batch` (inputs (B, L), ...).

    With `until_halt` (and no snapshots) a row that has halted leaves the batch: the model
    runs on the rows still going only, so a deep `--segments auto` costs what its slowest
    rows need, not the cap for every row. `outputs` and `answer` are then those of the rows
    still running at the last segment run; `at_halt` and `halt_step` cover every row."""
    b = batch["inputs"].shape[0]
    device = batch["inputs"].device
    carry = model.init_carry(b, device, batch["inputs"].shape[1])
    halt_step = torch.full((b,), segments, dtype=torch.long, device=device)
    watch = _Watch(rule, b, device, carry)
    drops = until_halt and not watch.picks_best and not snapshots
    rows = torch.arange(b, device=device)  # the batch positions still running
    answer = at_halt = None
    kept: dict[int, torch.Tensor] = {}
    for segment in range(1, segments + 1):
        with torch.set_grad_enabled(
            torch.is_grad_enabled() and _tracks(segment, segments, grad_last)
        ):
            carry, out = model(carry, batch)
        answer = read(out) if read is not None else None  # (R, ...) for the R rows running
        steps = halt_step[rows]
        chosen = watch.chosen(out, answer, carry, steps, segment, segments)  # (R,) bool
        halt_step[rows] = steps = torch.where(chosen, segment, steps)
        if answer is not None:
            at_halt = _keep_answers(
                at_halt, answer, rows, chosen if watch.picks_best else steps >= segment, b
            )
            if segment in snapshots:
                kept[segment] = answer
        if until_halt and not watch.picks_best and bool((halt_step < segments).all()):
            break  # every row has halted: its answer is kept in at_halt
        if drops and bool(chosen.any()):
            going = ~chosen  # (R,) the rows that have not halted (earlier halts left already)
            rows, carry, batch = rows[going], _rows_of(carry, going), _rows_of(batch, going)
            watch.keep(going)
    return Rollout(out, answer, at_halt, halt_step, kept)


def _keep_answers(at_halt, answer, rows, take, batch: int) -> torch.Tensor:
    """at_halt (B, ...) with the running rows' entries replaced by `answer` (R, ...) where
    `take` (R,) says so."""
    if at_halt is None:
        at_halt = answer.new_zeros((batch, *answer.shape[1:]))
    take = take.view(-1, *([1] * (answer.dim() - 1)))
    at_halt[rows] = torch.where(take, answer, at_halt[rows])
    return at_halt


def _rows_of(value, keep: torch.Tensor):
    """A carry (a dataclass of tensors, or one tensor) or a batch (a dict of tensors) with
    only the rows `keep` (B,) bool: every tensor is batch-first."""
    if isinstance(value, torch.Tensor):
        return value[keep]
    if isinstance(value, dict):
        return {k: v[keep] for k, v in value.items()}
    fields = {f.name: getattr(value, f.name)[keep] for f in dataclasses.fields(value)}
    return dataclasses.replace(value, **fields)


class _Watch:
    """Which rows a stop rule chooses at each segment."""

    def __init__(self, rule: StopRule, batch: int, device: torch.device, carry):
        self.rule = rule
        self.picks_best = rule == "confidence"  # the best segment so far, never a stop
        self.best = torch.full((batch,), -1.0, device=device)
        self.unchanged = torch.zeros(batch, dtype=torch.long, device=device)
        self.previous: torch.Tensor | None = None
        # the state before the first segment (B, N), for the converged-state rule
        self.state = carry_state(carry) if isinstance(rule, ConvergedState) else None

    def chosen(self, out, answer, carry, halt_step, segment: int, segments: int) -> torch.Tensor:
        """(B,) bool: for "confidence", rows whose answer here beats their best so far; for
        the other rules, rows that stop here (first time, and before the last segment: a
        rule that says stop at the last segment changes nothing)."""
        if self.picks_best:
            confidence = answer_confidence(out)
            better = confidence > self.best
            self.best = torch.where(better, confidence, self.best)
            return better
        if isinstance(self.rule, StableAnswer):
            says = self._stable(answer)
        elif isinstance(self.rule, ConvergedState):
            says = self._converged(carry)
        else:
            says = halt_signal(out, self.rule)
        return says & (halt_step == segments) & (segment < segments)

    def _stable(self, answer: torch.Tensor | None) -> torch.Tensor:
        if answer is None:
            raise ValueError("the stable-answer rule reads the answers: give rollout a read")
        key = answer.argmax(-1) if answer.is_floating_point() else answer  # tokens (B, ...)
        if self.previous is not None:
            same = (key == self.previous).flatten(1).all(1)
            self.unchanged = torch.where(same, self.unchanged + 1, 0)
        self.previous = key
        return self.unchanged >= self.rule.k

    def keep(self, rows: torch.Tensor) -> None:
        """Forget the rows that left the batch (rows: (R,) bool, True for those kept)."""
        self.best, self.unchanged = self.best[rows], self.unchanged[rows]
        if self.previous is not None:
            self.previous = self.previous[rows]
        if self.state is not None:
            self.state = self.state[rows]

    def _converged(self, carry) -> torch.Tensor:
        state = carry_state(carry)  # (B, N)
        change = relative_change(self.state, state)  # (B,)
        self.state = state
        return change <= self.rule.tol


def _tracks(segment: int, segments: int, grad_last: bool) -> bool:
    """Whether this segment records gradients (when the caller's context does)."""
    return segment == segments or not grad_last
