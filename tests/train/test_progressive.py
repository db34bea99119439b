"""DeepThinking's progressive loss (ponder.train.progressive, train.progressive_alpha):
gradient only through the segments after the detached state, the two branches weighted,
depths drawn as published, and training through the engine."""

from __future__ import annotations

import pytest
import torch
from support import tiny_config

from ponder.config import TrainConfig, config_from_dict
from ponder.errors import UserError
from ponder.models import DataSpec, build_model
from ponder.models.dt import DTConfig
from ponder.models.halting import carry_state, relative_change
from ponder.train import progressive
from ponder.train.launch import train

SPEC = DataSpec(vocab_size=6, seq_len=49, grid_shape=(7, 7))


class Recorder(torch.nn.Module):
    """The model, noting for every call whether gradient was on and whether the carry it
    was handed still hangs on a graph."""

    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, []

    def forward(self, carry, data):
        self.calls.append((torch.is_grad_enabled(), carry.state.requires_grad))
        return self.model(carry, data)


class TokenLoss:
    """A stand-in objective: mean cross-entropy of the logits against the labels."""

    def targets_at(self, data, segments):
        return data

    def loss(self, out, data, target):
        loss = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2), data["labels"])
        correct = (out.logits.argmax(-1) == data["labels"]).all(-1)
        return loss, {"lm": loss.detach()}, correct


def _setup():
    torch.manual_seed(0)
    model = build_model(DTConfig(width=8, head_width=8), SPEC)
    data = {"inputs": torch.randint(0, 6, (3, 49)), "labels": torch.randint(0, 6, (3, 49))}
    return model, data, lambda: model.init_carry(3, "cpu", 49)


def _grads(model):
    """Each parameter's gradient (None where none reached it)."""
    return {name: p.grad for name, p in model.named_parameters()}


def test_gradient_flows_only_through_the_segments_after_the_detached_state(monkeypatch):
    model, data, fresh = _setup()
    monkeypatch.setattr(progressive, "draw_depths", lambda segments, deepest=None: (3, 2))
    net = Recorder(model)
    result = progressive.progressive_loss(net, fresh, TokenLoss(), data, segments=6, alpha=1.0)
    result.loss.backward()
    # n = 3 calls without gradient, then k = 2 with it, the first from a detached state.
    assert net.calls == [(False, False)] * 3 + [(True, False), (True, True)]
    got = _grads(model)
    # The input's projection acts only in the first segment, before the detached state.
    assert not got["project.weight"].any() and got["recall.weight"].any()

    model.zero_grad(set_to_none=True)
    carry = fresh()
    with torch.no_grad():
        for _ in range(3):
            carry, _ = model(carry, data)
    for _ in range(2):
        carry, out = model(carry, data)
    TokenLoss().loss(out, data, None)[0].backward()
    expected = _grads(model)
    assert got.keys() == expected.keys()
    for name, grad in got.items():
        assert (grad is None) == (expected[name] is None), name
        assert grad is None or torch.allclose(grad, expected[name], atol=1e-6), name


def test_alpha_weighs_the_full_and_the_progressive_branch(monkeypatch):
    model, data, fresh = _setup()
    monkeypatch.setattr(progressive, "draw_depths", lambda segments, deepest=None: (1, 2))
    full = progressive.progressive_loss(model, fresh, TokenLoss(), data, 4, alpha=0.0)
    prog = progressive.progressive_loss(model, fresh, TokenLoss(), data, 4, alpha=1.0)
    mixed = progressive.progressive_loss(model, fresh, TokenLoss(), data, 4, alpha=0.25)
    expected = 0.75 * full.loss + 0.25 * prog.loss
    assert torch.allclose(mixed.loss, expected)
    assert torch.allclose(mixed.parts["loss_full"], full.loss)
    assert torch.allclose(mixed.parts["loss_progressive"], prog.loss)
    assert "loss_progressive" not in full.parts and "loss_full" not in prog.parts


def test_depths_are_drawn_as_published():
    torch.manual_seed(0)
    seen = {progressive.draw_depths(4) for _ in range(2000)}
    assert seen == {(n, k) for n in range(4) for k in range(1, 4 - n + 1)}


def test_deeper_starts_keep_k_within_the_training_depth():
    torch.manual_seed(0)
    seen = {progressive.draw_depths(4, 10) for _ in range(5000)}
    assert seen == {(n, k) for n in range(10) for k in range(1, min(4, 10 - n) + 1)}
    assert progressive.draw_depths(4, 4) in {(n, k) for n in range(4) for k in range(1, 5 - n)}


@pytest.mark.parametrize(
    ("keys", "words"),
    [({"progressive_depth": 8}, "needs progressive_alpha"),
     ({"progressive_alpha": 0.5, "progressive_depth": 3}, "at least N_sup")],
)  # fmt: skip
def test_progressive_depth_is_refused_where_it_means_nothing(keys, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(N_sup=4, **keys)


def _dt_config(data_dir, run_dir, grid=None, **train_keys):
    return config_from_dict(
        {
            **({"grid": grid} if grid else {}),
            "run_dir": str(run_dir),
            "device": "cpu",
            "precision": "fp32",
            "data": {"path": str(data_dir)},
            "model": {"name": "dt", "width": 8, "head_width": 8},
            "train": {
                "steps": 4,
                "global_batch_size": 4,
                "N_sup": 3,
                "log_every": 2,
                "halting": "none",
                **train_keys,
            },  # fmt: skip
            "eval": {"batch_size": 8, "samples_png": 0},
        }
    )


@pytest.mark.parametrize("grid", [None, {"hint": "dead_end_fill"}])
def test_the_engine_trains_with_it(tiny_maze_dir, tmp_path, grid):
    run_dir = train(_dt_config(tiny_maze_dir, tmp_path / "run", grid, progressive_alpha=0.5))
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert any('"train/loss_full"' in line and '"train/loss_progressive"' in line for line in lines)


@pytest.mark.parametrize(
    "clash", [{"random_depth": True}, {"progressive_segments": 2}, {"halting": "hrm"}]
)
def test_clashing_depth_rules_are_refused(tiny_maze_dir, tmp_path, clash):
    with pytest.raises(UserError, match="progressive_alpha cannot be combined"):
        _dt_config(tiny_maze_dir, tmp_path / "run", progressive_alpha=0.5, **clash)


def test_a_trm_trains_with_it_too(tiny_maze_dir, tmp_path):
    """The loss is the engine's, not the model's: the seed systems take it unchanged."""
    config = tiny_config(
        tiny_maze_dir, tmp_path / "run", train={"progressive_alpha": 0.3, "halting": "none"}
    )
    run_dir = train(config, quiet=True)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert any('"train/loss_progressive"' in line for line in lines)


class Judged(TokenLoss):
    """TokenLoss with the rows it calls exact fixed by the test (B,) bool."""

    def __init__(self, exact):
        self.exact = torch.tensor(exact)

    def loss(self, out, data, target):
        loss, parts, _ = super().loss(out, data, target)
        return loss, parts, self.exact


def test_stability_adds_the_state_change_of_exact_rows(monkeypatch):
    model, data, fresh = _setup()
    monkeypatch.setattr(progressive, "draw_depths", lambda segments, deepest=None: (1, 2))
    judged = Judged([True, False, True])
    plain = progressive.progressive_loss(model, fresh, judged, data, 4, alpha=1.0)
    stable = progressive.progressive_loss(model, fresh, judged, data, 4, 1.0, stability=0.5)
    carry = fresh()
    for _ in range(3):  # n + k = 3 segments reach s_k, then one more
        carry, _ = model(carry, data)
    after, _ = model(carry, data)
    change = relative_change(carry_state(carry), carry_state(after))
    expected = (change[0] + change[2]) / 3
    assert change.min() > 0  # the term is not trivially zero on this model
    assert torch.allclose(stable.parts["loss_stability"], expected, atol=1e-6)
    assert torch.allclose(stable.loss, plain.loss + 0.5 * expected, atol=1e-6)


def test_stability_ignores_rows_whose_answer_is_wrong_and_trains_the_recurrence(monkeypatch):
    model, data, fresh = _setup()
    monkeypatch.setattr(progressive, "draw_depths", lambda segments, deepest=None: (1, 2))

    def run(exact, stability):
        judged = Judged([exact] * 3)
        return progressive.progressive_loss(model, fresh, judged, data, 4, 1.0, stability=stability)

    assert run(False, 0.5).parts["loss_stability"] == 0
    assert torch.allclose(run(False, 0.5).loss, run(False, 0.0).loss)
    grads = []
    for stability in (0.0, 0.5):
        model.zero_grad(set_to_none=True)
        run(True, stability).loss.backward()
        grads.append(model.recall.weight.grad.clone())
    assert not torch.allclose(grads[0], grads[1])


def test_stability_needs_the_progressive_branch():
    with pytest.raises(ValueError, match="stability_weight needs progressive_alpha"):
        TrainConfig(N_sup=4, stability_weight=0.1)
    with pytest.raises(ValueError, match="stability_weight needs progressive_alpha"):
        TrainConfig(N_sup=4, stability_weight=0.1, progressive_alpha=0.0)


def test_the_engine_trains_with_the_stability_term(tiny_maze_dir, tmp_path):
    config = _dt_config(tiny_maze_dir, tmp_path / "run", progressive_alpha=0.5, stability_weight=1)
    lines = (train(config) / "metrics.jsonl").read_text().splitlines()
    assert any('"train/loss_stability"' in line for line in lines)


def test_each_branch_is_trained_towards_the_targets_at_its_depth(monkeypatch):
    """grid.hint's contract with the loss: the full branch asks the objective for its
    targets at N_sup segments, the progressive branch at n + k."""
    model, data, fresh = _setup()
    monkeypatch.setattr(progressive, "draw_depths", lambda segments, deepest=None: (1, 2))
    asked = []

    class Hinted(TokenLoss):
        def targets_at(self, batch, segments):
            asked.append(segments)
            return batch

    progressive.progressive_loss(model, fresh, Hinted(), data, 4, alpha=0.5)
    assert asked == [4, 3]
