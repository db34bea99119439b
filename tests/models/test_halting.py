"""Halting rules and HRM's Q-learning target on hand-made cases."""

import pytest
import torch

from ponder.models.base import ModelOutputs
from ponder.models.halting import halt_decision, halt_signal, q_continue_target
from ponder.objectives.losses import segment_loss


def _out(q_halt, q_continue=None):
    q_cont = None if q_continue is None else torch.tensor(q_continue)
    return ModelOutputs(logits=torch.zeros(len(q_halt), 1, 2), q_halt=torch.tensor(q_halt),
                        q_continue=q_cont)  # fmt: skip


def test_trm_rule_halts_on_positive_q_halt_and_at_the_limit():
    out = _out([1.0, -1.0, -1.0, 2.0])
    steps = torch.tensor([1, 1, 4, 1])
    halted = halt_decision(out, steps, rule="trm", n_sup=4)
    assert halted.tolist() == [True, False, True, True]


def test_hrm_rule_compares_halt_with_continue():
    out = _out([1.0, -1.0, -3.0], [2.0, -2.0, -4.0])
    assert halt_signal(out, "hrm").tolist() == [False, True, True]
    assert halt_signal(out, "trm").tolist() == [True, False, False]


def test_none_rule_runs_to_the_limit_and_min_steps_hold():
    out = _out([5.0, 5.0])
    steps = torch.tensor([1, 3])
    assert halt_decision(out, steps, rule="none", n_sup=3).tolist() == [False, True]
    held = halt_decision(out, torch.tensor([1, 2]), rule="trm", n_sup=8, min_steps=2)
    assert held.tolist() == [False, True]


def test_exploration_draws_a_minimum_of_at_least_two():
    torch.manual_seed(0)
    out = _out([5.0] * 1000)
    halted = halt_decision(out, torch.ones(1000, dtype=torch.long), rule="trm", n_sup=4,
                           explore_prob=0.5)  # fmt: skip
    # Exploring rows need >= 2 segments, so about half do not halt after one.
    assert 0.4 < (~halted).float().mean() < 0.6


def test_hrm_rule_needs_a_continue_head():
    with pytest.raises(ValueError, match="q_continue"):
        halt_signal(_out([1.0]), "hrm")


class _FixedQ(torch.nn.Module):
    """Returns preset next-segment Q values, whatever the carry."""

    def __init__(self, q_halt, q_continue):
        super().__init__()
        self.q = _out(q_halt, q_continue)

    def forward(self, carry, batch):
        return carry, self.q


def test_q_continue_target_hand_example():
    model = _FixedQ([0.0, 2.0, -1.0], [1.0, -3.0, 3.0])
    steps = torch.tensor([1, 1, 4])  # the third row is at the limit (n_sup 4)
    target = q_continue_target(model, None, {}, steps, n_sup=4)
    s = torch.sigmoid
    expected = torch.stack([s(torch.tensor(1.0)), s(torch.tensor(2.0)), s(torch.tensor(-1.0))])
    assert torch.allclose(target, expected)  # max(next halt, next continue); halt at limit


def test_continue_loss_is_added_with_the_halt_weight():
    out = ModelOutputs(logits=torch.randn(2, 3, 4), q_halt=torch.zeros(2),
                       q_continue=torch.zeros(2))  # fmt: skip
    batch = {
        "inputs": torch.zeros(2, 3, dtype=torch.long),
        "labels": torch.ones(2, 3, dtype=torch.long),
    }
    kw = dict(kind="softmax", ignore_label=-100, halt_weight=0.5)
    base, parts, _ = segment_loss(out, batch, **kw)
    with_q, parts_q, _ = segment_loss(out, batch, q_continue_target=torch.tensor([1.0, 0.0]), **kw)
    # BCE(0 logit, target) = log 2 for any target: the continue term adds 0.5 * log 2.
    assert torch.allclose(with_q - base, torch.tensor(0.5 * 0.6931), atol=1e-4)
    assert "continue_loss" in parts_q and "continue_loss" not in parts
