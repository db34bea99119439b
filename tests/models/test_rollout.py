"""The one rollout (models/rollout.py) against the four loops it replaced, copied here as
they were: evaluation's _run_segments, few-shot prediction's _run, solve's loop and the
latent search's last-segment-with-gradient loss. Same answers, same halting steps, same
gradients, on a fixed model."""

from __future__ import annotations

import pytest
import torch

from ponder.models import DataSpec, build_model
from ponder.models.base import ModelOutputs
from ponder.models.halting import halt_signal
from ponder.models.rollout import rollout
from ponder.models.trm import TRMConfig

SPEC = DataSpec(vocab_size=6, seq_len=25, grid_shape=(5, 5))


def _model(q_continue: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    config = TRMConfig(hidden_size=16, num_heads=2, ffn_multiple_of=16, n=2, T=2,
                       pos_encoding="rope2d", halt_bias_init=0.0, q_continue=q_continue)  # fmt: skip
    model = build_model(config, SPEC).eval()
    with torch.no_grad():  # a q head that says "halt" on some rows and segments, not all
        model.q_head.proj.weight.normal_(0, 2.0)
        first = rollout(model, _batch(), 1).outputs  # centre "halt" at segment 1 on the median
        margin = first.q_halt - (first.q_continue if q_continue else 0)
        model.q_head.proj.bias[0] -= margin.median()
    return model


def _batch(b: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    inputs = torch.randint(1, 6, (b, 25), generator=g)
    return {
        "inputs": inputs,
        "labels": inputs.clone(),
        "puzzle_identifiers": torch.zeros(b, dtype=torch.long),
    }


def _old_run_segments(model, batch, n_sup, device, halt_rule, read):
    """eval/evaluate.py before part 7."""
    b = batch["inputs"].shape[0]
    carry = model.init_carry(b, device)
    halt_step = torch.full((b,), n_sup, dtype=torch.long, device=device)
    at_halt = None
    for segment in range(1, n_sup + 1):
        carry, out = model(carry, batch)
        answer = read(out)
        newly = halt_signal(out, halt_rule) & (halt_step == n_sup) & (segment < n_sup)
        halt_step = torch.where(newly, segment, halt_step)
        not_yet = (halt_step >= segment).view(-1, *([1] * (answer.dim() - 1)))
        at_halt = answer if at_halt is None else torch.where(not_yet, answer, at_halt)
    return answer, at_halt, halt_step


def _old_run(model, batch, n_sup):
    """eval/fewshot.py's _run and eval/run.py's solve loop before part 7 (the same loop)."""
    carry = model.init_carry(batch["inputs"].shape[0], batch["inputs"].device)
    for _ in range(n_sup):
        carry, out = model(carry, batch)
    return out


def _old_last_segment_with_grad(model, rows, n_sup):
    """eval/latent_search.py's _demo_loss before part 7: only the last segment records."""
    carry = model.init_carry(rows["inputs"].shape[0], rows["inputs"].device)
    with torch.no_grad():
        for _ in range(n_sup - 1):
            carry, _ = model(carry, rows)
    _, out = model(carry, rows)
    return out


@pytest.mark.parametrize("rule", ["trm", "hrm", "none"])
def test_answers_and_halting_steps_match_the_evaluation_loop(rule):
    model, batch = _model(q_continue=rule == "hrm"), _batch()
    read = lambda out: out.logits.argmax(-1)  # noqa: E731
    with torch.no_grad():
        answer, at_halt, halt_step = _old_run_segments(model, batch, 4, "cpu", rule, read)
        new = rollout(model, batch, 4, rule=rule, read=read)
    assert torch.equal(new.answer, answer) and torch.equal(new.at_halt, at_halt)
    assert torch.equal(new.halt_step, halt_step)
    assert 1 < len(set(halt_step.tolist()))  # the case is not trivial: rows halt at different steps


def test_last_outputs_match_the_few_shot_and_solve_loop():
    model, batch = _model(), _batch()
    with torch.no_grad():
        old, new = _old_run(model, batch, 3), rollout(model, batch, 3).outputs
    assert torch.equal(old.logits, new.logits) and torch.equal(old.q_halt, new.q_halt)


def test_gradient_of_the_last_segment_matches_the_latent_search_loop():
    model, batch = _model(), _batch()
    model.train()
    grads = []
    for run in (lambda: _old_last_segment_with_grad(model, batch, 3),
                lambda: rollout(model, batch, 3, grad_last=True).outputs):  # fmt: skip
        model.zero_grad()
        torch.manual_seed(5)
        run().logits.float().square().mean().backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert grads[0] and len(grads[0]) == len(grads[1])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


def test_without_grad_last_every_segment_records():
    model, batch = _model(), _batch()
    out = rollout(model, batch, 2).outputs
    assert out.logits.requires_grad
    with torch.no_grad():
        assert not rollout(model, batch, 2, grad_last=True).outputs.logits.requires_grad


def test_a_rule_that_never_halts_keeps_the_last_answer():
    model, batch = _model(), _batch()
    with torch.no_grad():
        model.q_head.proj.bias.fill_(-50.0)
        model.q_head.proj.weight.zero_()
        run = rollout(model, batch, 3, read=lambda out: out.logits.argmax(-1))
    assert (run.halt_step == 3).all() and torch.equal(run.at_halt, run.answer)


def test_snapshots_are_the_answers_after_those_segments():
    model, batch = _model(), _batch()
    read = lambda out: out.logits.argmax(-1)  # noqa: E731
    with torch.no_grad():
        full = rollout(model, batch, 4, read=read, snapshots=(1, 2, 4))
        for segments in (1, 2, 4):
            assert torch.equal(
                full.snapshots[segments], rollout(model, batch, segments, read=read).answer
            )


class _Counter(torch.nn.Module):
    """Row b says "halt" from segment batch["halts"][b] on; its answer is the segment count.
    Row-local, as every model is: a row that left the batch takes its halts entry along."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.rows_run: list[int] = []

    def init_carry(self, batch_size, device, seq_len=None):
        return torch.zeros(batch_size)

    def forward(self, carry, batch):
        self.calls += 1
        self.rows_run.append(len(carry))
        carry = carry + 1
        logits = carry[:, None, None].expand(-1, 2, 1)  # (B, L=2, V=1)
        return carry, ModelOutputs(logits=logits, q_halt=carry - batch["halts"] + 0.5)


def test_until_halt_stops_once_every_row_has_halted_and_keeps_each_halting_answer():
    inputs = torch.zeros(3, 2, dtype=torch.long)
    read = lambda out: out.logits[:, 0, 0]  # noqa: E731
    model = _Counter()
    batch = {"inputs": inputs, "halts": torch.tensor([2.0, 5.0, 3.0])}
    done = rollout(model, batch, 12, read=read, until_halt=True)
    assert done.halt_step.tolist() == [2, 5, 3] and done.at_halt.tolist() == [2.0, 5.0, 3.0]
    assert model.calls == 5  # stopped once the last row halted, not at the cap of 12
    assert model.rows_run == [3, 3, 2, 1, 1]  # a halted row leaves the batch
    capped = _Counter()
    batch = {"inputs": inputs, "halts": torch.tensor([2.0, 50.0, 3.0])}
    done = rollout(capped, batch, 12, read=read, until_halt=True)
    assert capped.calls == 12 and done.at_halt.tolist() == [2.0, 12.0, 3.0]
