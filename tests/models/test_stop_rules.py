"""Judging's stop rules in the one rollout (models/rollout.py): the stable-answer rule stops
a row exactly k segments after its answer last changed and never stops a cycling one; the
confidence rule keeps the answer of the most confident segment; the converged-state rule
stops a row at its first segment whose state hardly moved."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from ponder.models.base import ModelOutputs
from ponder.models.halting import ConvergedState, StableAnswer, answer_confidence, relative_change
from ponder.models.rollout import rollout


@dataclass
class Step:
    count: torch.Tensor  # (B,) segments run


class Scripted(torch.nn.Module):
    """Row r answers tokens script[r][segment - 1] (one cell) with probability
    confidence[r][segment - 1]; q_halt never says halt."""

    def __init__(self, script: list[list[int]], confidence: list[list[float]] | None = None):
        super().__init__()
        self.script = torch.tensor(script)  # (B, S)
        self.confidence = torch.tensor(confidence or [[0.9] * len(script[0])] * len(script))

    def init_carry(self, batch: int, device, length: int) -> Step:
        return Step(count=torch.zeros(batch, dtype=torch.long))

    def forward(self, carry: Step, batch: dict) -> tuple[Step, ModelOutputs]:
        index = carry.count
        tokens = self.script.gather(1, index.view(-1, 1))  # (B, 1)
        top = self.confidence.gather(1, index.view(-1, 1)).unsqueeze(-1)  # (B, 1, 1)
        probs = ((1 - top) / 3).expand(len(index), 1, 4).clone()  # (B, 1 cell, 4 tokens)
        probs.scatter_(2, tokens.unsqueeze(-1), top)
        out = ModelOutputs(logits=probs.log(), q_halt=torch.full((len(index),), -1.0))
        return Step(count=carry.count + 1), out


def _run(model, segments, rule, until_halt=True):
    batch = {"inputs": torch.zeros(model.script.shape[0], 1, dtype=torch.long)}
    read = lambda out: out.logits.argmax(-1)  # noqa: E731
    return rollout(model, batch, segments, rule=rule, read=read, until_halt=until_halt)


def test_stable_stops_exactly_k_segments_after_the_last_change():
    script = [
        [1, 2, 2, 2, 2, 2, 2, 2],  # changed last at segment 2: stops at 2 + k
        [1, 1, 1, 1, 1, 1, 1, 1],  # never changed: stops at 1 + k
        [1, 2, 1, 2, 1, 2, 1, 2],  # a 2-cycle: stuck, runs to the cap
        [1, 2, 3, 3, 0, 0, 0, 0],  # changed last at segment 5: stops at 5 + k
    ]
    done = _run(Scripted(script), 8, StableAnswer(k=2), until_halt=False)
    assert done.halt_step.tolist() == [4, 3, 8, 7]
    assert done.at_halt.view(-1).tolist() == [2, 1, 2, 0]


def test_stable_with_until_halt_stops_running_once_every_row_is_done():
    script = [[1, 2, 2, 2, 2, 2, 2, 2], [3, 3, 3, 3, 3, 3, 3, 3]]
    model = Scripted(script)
    done = _run(model, 8, StableAnswer(k=3))
    assert done.halt_step.tolist() == [5, 4]
    assert done.at_halt.view(-1).tolist() == [2, 3]


def test_confidence_keeps_the_most_confident_segment():
    script = [[1, 2, 3, 0], [1, 2, 3, 0]]
    confidence = [[0.5, 0.9, 0.6, 0.7], [0.4, 0.5, 0.6, 0.95]]
    done = _run(Scripted(script, confidence), 4, "confidence")
    assert done.halt_step.tolist() == [2, 4]
    assert done.at_halt.view(-1).tolist() == [2, 0]
    assert done.answer.view(-1).tolist() == [0, 0]  # the last segment's, as always


def test_answer_confidence_is_the_mean_top_probability():
    probs = torch.tensor([[[0.7, 0.1, 0.2], [0.1, 0.3, 0.6]]])
    out = ModelOutputs(logits=probs.log(), q_halt=torch.zeros(1))
    assert torch.allclose(answer_confidence(out), torch.tensor([0.65]))


@dataclass
class Moving:
    state: torch.Tensor  # (B, 1) the state that the converged rule watches


class Settling(torch.nn.Module):
    """Row r's state moves by steps[r][segment - 1] (relative to a state of about 1) while
    its answer (one cell, token 1) never changes; q_halt never says halt."""

    def __init__(self, steps: list[list[float]]):
        super().__init__()
        self.steps = torch.tensor(steps)  # (B, S)
        self.segment = 0

    def init_carry(self, batch: int, device, length: int) -> Moving:
        self.segment = 0
        return Moving(state=torch.ones(batch, 1))

    def forward(self, carry: Moving, batch: dict) -> tuple[Moving, ModelOutputs]:
        step = self.steps[:, self.segment].view(-1, 1)  # (B, 1)
        self.segment += 1
        logits = torch.tensor([0.0, 5.0]).expand(len(step), 1, 2)
        out = ModelOutputs(logits=logits, q_halt=torch.full((len(step),), -1.0))
        return Moving(state=carry.state + step), out


def test_converged_stops_at_the_first_still_segment_not_at_a_still_answer():
    steps = [
        [0.5, 0.2, 0.01, 0.0005, 0.0, 0.0],  # still (<= 1e-3 relative) from segment 4
        [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],  # never still: runs to the cap
        [0.0, 0.3, 0.0, 0.0, 0.0, 0.0],  # still at segment 1 already
    ]
    batch = {"inputs": torch.zeros(3, 1, dtype=torch.long)}
    read = lambda out: out.logits.argmax(-1)  # noqa: E731
    done = rollout(Settling(steps), batch, 6, rule=ConvergedState(1e-3), read=read)
    assert done.halt_step.tolist() == [4, 6, 1]
    # the stable rule would stop every row at 1 + k: the answer never changes
    stable = rollout(Settling(steps), batch, 6, rule=StableAnswer(k=2), read=read)
    assert stable.halt_step.tolist() == [3, 3, 3]


def test_relative_change_is_scaled_by_the_larger_state():
    zero, state = torch.zeros(1, 3), torch.tensor([[3.0, 4.0, 0.0]])
    assert relative_change(zero, state).item() == 1.0  # a carry starting at zero: no 0/0
    assert relative_change(state, 1.1 * state).item() == pytest.approx(0.1 / 1.1)
    assert relative_change(state, state).item() == 0.0


class Counting(Scripted):
    """Scripted, recording how many rows each segment ran on. Its step counter is the carry,
    so a row that leaves the batch takes its own script position with it."""

    def __init__(self, script):
        super().__init__(script)
        self.rows_run: list[int] = []

    def forward(self, carry: Step, batch: dict):
        self.rows_run.append(len(carry.count))
        index = carry.count
        rows = batch["row"]  # (R,) which script row each batch row is
        tokens = self.script[rows].gather(1, index.view(-1, 1))  # (R, 1)
        logits = 5.0 * torch.nn.functional.one_hot(tokens, 4).float()  # (R, 1, 4)
        out = ModelOutputs(logits=logits, q_halt=torch.full((len(index),), -1.0))
        return Step(count=carry.count + 1), out


def test_rows_that_halted_leave_the_batch_and_nothing_else_changes():
    script = [
        [1, 2, 2, 2, 2, 2, 2, 2],  # stops at 4 (k = 2)
        [1, 1, 1, 1, 1, 1, 1, 1],  # stops at 3
        [1, 2, 1, 2, 1, 2, 1, 2],  # runs to the cap
        [1, 2, 3, 3, 0, 0, 0, 0],  # stops at 7
    ]
    batch = {"inputs": torch.zeros(4, 1, dtype=torch.long), "row": torch.arange(4)}
    read = lambda out: out.logits.argmax(-1)  # noqa: E731
    rule = StableAnswer(k=2)
    dropping, full = Counting(script), Counting(script)
    done = rollout(dropping, batch, 8, rule=rule, read=read, until_halt=True)
    # snapshots keep every row in the batch (each snapshot covers all rows)
    same = rollout(full, batch, 8, rule=rule, read=read, until_halt=True, snapshots=(8,))
    assert done.halt_step.tolist() == same.halt_step.tolist() == [4, 3, 8, 7]
    assert done.at_halt.view(-1).tolist() == same.at_halt.view(-1).tolist() == [2, 1, 2, 0]
    assert full.rows_run == [4] * 8
    assert dropping.rows_run == [4, 4, 4, 3, 2, 2, 2, 1]
