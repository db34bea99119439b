"""Halting rules, read from the models' q heads (config key `train.halting`).

- "none": every example runs all N_sup segments in training.
- "trm":  halt when q_halt > 0 (TRM; no continue head is needed).
- "hrm":  halt when q_halt > q_continue (HRM's Q-learning). q_continue is trained towards
          sigmoid(max(next q_halt, next q_continue)), or sigmoid(next q_halt) at the step
          limit, where "next" comes from one extra no-gradient forward of the same example.

Both rules halt at the limit (N_sup), never before `halt_min_steps`, and with probability
`halt_exploration_prob` draw a random minimum in [2, N_sup] (HRM/TRM exploration).
Evaluation always runs the full limit; it reports what the rule would have given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ponder.models.base import ModelOutputs

HaltRule = Literal["none", "trm", "hrm"]


@dataclass(frozen=True)
class StableAnswer:
    """A stop rule of judging (`--segments auto --halt stable`), read from the answers, not
    from a learned head: a row stops once its answer has stayed the same for `k` segments in
    a row, i.e. k segments after it last changed. An answer that cycles (A, B, A, B) never
    stops: it counts as stuck, not done, and runs to the cap."""

    k: int = 3


@dataclass(frozen=True)
class ConvergedState:
    """A stop rule of judging (`--segments auto --halt converged`), read from the model's
    state (its carry), not from the answer or a learned head: a row stops at the first
    segment whose relative state change (relative_change) is at most `tol`. An answer can
    sit still for several segments while the state behind it is still moving (a fill front
    that has not reached the route yet), which stops the stable rule too early. No default
    here: the CLI's (--state-tol) is the one."""

    tol: float


def carry_state(carry) -> torch.Tensor:
    """The carry's floating tensors flattened per row: (B, N)."""
    parts = [
        getattr(carry, f.name).flatten(1).float()
        for f in dataclasses.fields(carry)
        if getattr(carry, f.name).is_floating_point()
    ]
    if not parts:
        raise ValueError("the model keeps no state between segments to watch converge")
    return torch.cat(parts, dim=1)


def relative_change(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """(B,) ||after - before|| / max(||before||, ||after||) of states (B, N), in [0, 2].
    Relative to the larger of the two, so that a state starting at zero (DT's carry) gives
    1 at the first segment, not a division by zero."""
    scale = torch.maximum(before.norm(dim=1), after.norm(dim=1)).clamp_min(1e-12)
    return (after - before).norm(dim=1) / scale


# Judging's stop rules: a halting rule read from the q heads, the stable-answer rule, the
# converged-state rule, or "confidence" (DeepThinking's: run to the cap and keep the answer
# of the segment whose mean per-cell probability of its argmax token was highest).
StopRule = HaltRule | StableAnswer | ConvergedState | Literal["confidence"]


def answer_confidence(out: ModelOutputs) -> torch.Tensor:
    """(B,) the mean over cells of the top softmax probability: DeepThinking's confidence."""
    return torch.softmax(out.logits.float(), dim=-1).amax(-1).flatten(1).mean(-1)


def halt_signal(out: ModelOutputs, rule: HaltRule) -> torch.Tensor:
    """(B,) bool: the model says "stop here". For rule "none" the q_halt head is still
    trained, so its "trm" reading is what evaluation reports."""
    if rule == "hrm":
        if out.q_continue is None:
            raise ValueError("halting rule 'hrm' needs a model with a q_continue head")
        return out.q_halt > out.q_continue
    return out.q_halt > 0


def halt_decision(
    out: ModelOutputs,
    steps: torch.Tensor,
    *,
    rule: HaltRule,
    n_sup: int,
    min_steps: int = 1,
    explore_prob: float = 0.0,
) -> torch.Tensor:
    """(B,) bool: which rows halt after this segment. `steps` (B,) counts the segments
    run on each row's example, this one included."""
    halted = steps >= n_sup
    if rule == "none" or n_sup <= 1:
        return halted
    explore = torch.rand(steps.shape, device=steps.device) < explore_prob
    drawn = torch.randint_like(steps, low=2, high=n_sup + 1)
    floor = torch.where(explore, torch.maximum(drawn, torch.full_like(drawn, min_steps)), min_steps)
    return halted | (halt_signal(out, rule) & (steps >= floor))


@torch.no_grad()
def q_continue_target(
    model: nn.Module,
    carry,
    batch: dict[str, torch.Tensor],
    steps: torch.Tensor,
    n_sup: int,
) -> torch.Tensor:
    """(B,) target in [0, 1] for q_continue: the value of going on one more segment, read
    from the model's own next-segment Q values (one extra forward, no gradient).
    `carry` is the state after this segment; `steps` counts segments run, this one included."""
    _, nxt = model(carry, batch)
    at_limit = steps >= n_sup
    best_next = torch.where(at_limit, nxt.q_halt, torch.maximum(nxt.q_halt, nxt.q_continue))
    return torch.sigmoid(best_next.float())


def halting_counts(
    halt: torch.Tensor, correct: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(hits, count) for halting precision and recall from the (B,) bool "would halt now"
    signal of the halting rule. Only true decisions count: a row that did not halt and was
    wrong is not a hit (a prototype counted it as one, which made a head that never halts
    look 100% accurate on a hard task).
    precision: of the rows that would halt, the share whose answer is right.
    recall: of the rows whose answer is right, the share that would halt."""
    hits = (halt & correct).sum()  # 0-dim tensors, left on the device
    return {
        "halt_precision": (hits, halt.sum()),
        "halt_recall": (hits, correct.sum()),
    }
