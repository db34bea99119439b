"""Training options of part 3: MLM-U hints, warm restarts, label smoothing, maze encoder."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ponder.config import TrainConfig
from ponder.models import DataSpec, build_model
from ponder.models.base import DemoEncoderConfig
from ponder.models.trm import TRMConfig
from ponder.objectives.mlm_u import reveal_route_cells
from ponder.objectives.token_loss import token_cross_entropy
from ponder.tasks.maze import GOAL, OPEN, PATH, START, WALL, MazeTask
from ponder.train.optim import lr_at

MAZE = MazeTask()


def _mazes(n=64, size=9):
    rng = np.random.default_rng(0)
    puzzles = [MAZE.generate(rng, size=size, min_path=6) for _ in range(n)]
    inputs = torch.as_tensor(np.stack([MAZE.encode(p) for p in puzzles]))
    labels = torch.as_tensor(np.stack([MAZE.encode(MAZE.solve(p)) for p in puzzles]))
    return inputs, labels


def test_mlm_u_keeps_the_maze_and_reveals_only_path_cells():
    torch.manual_seed(0)
    inputs, labels = _mazes()
    hinted = reveal_route_cells(inputs, labels, OPEN, PATH)
    changed = hinted != inputs
    assert (hinted[changed] == PATH).all()  # only path tokens appear
    assert (labels[changed] == PATH).all()  # ... on the solution's path cells
    for token in (WALL, START, GOAL):  # the maze stays visible
        assert torch.equal(hinted == token, inputs == token)
    path = (labels == PATH).sum(1).float()
    shown = changed.sum(1).float() / path
    # The shown fraction is uniform per example: all, none and in between occur.
    assert shown.min() < 0.2 and shown.max() > 0.8 and 0.3 < shown.mean() < 0.7
    assert ((hinted == OPEN) | (hinted == PATH) | ~changed).all()


def test_cosine_with_warm_restarts():
    cfg = TrainConfig(lr=1.0, lr_min_ratio=0.1, warmup_steps=10, schedule="cosine_restarts",
                      restart_every=100, steps=1000)  # fmt: skip
    assert lr_at(9, cfg) == 1.0
    assert lr_at(10, cfg) == 1.0 and lr_at(110, cfg) == 1.0  # back to the top each cycle
    assert lr_at(60, cfg) == pytest.approx(0.55)  # half a cycle: the midpoint
    assert lr_at(109, cfg) < 0.11


def test_the_official_cosine_reads_the_nth_step_at_n():
    """pretrain.py: rate(n) = lr * n / W for n < W, then cosine at progress (n - W) / (T - W),
    for its n-th optimizer step (n from 1); ponder's step is n - 1."""
    base = {"lr": 1.0, "lr_min_ratio": 0.1, "warmup_steps": 10, "steps": 110}
    official = TrainConfig(**base, schedule="cosine_official")
    ours = TrainConfig(**base, schedule="cosine")

    def pretrain_rate(n: int) -> float:
        if n < 10:
            return n / 10
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (n - 10) / 100))

    for n in (1, 5, 10, 11, 60, 110):
        assert lr_at(n - 1, official) == pytest.approx(pretrain_rate(n), abs=1e-12), n
    assert lr_at(10, ours) == 1.0 and lr_at(10, official) < 1.0  # one step behind it


def test_label_smoothing_matches_torch():
    torch.manual_seed(0)
    logits, labels = torch.randn(3, 5, 7), torch.randint(0, 7, (3, 5))
    mine, _ = token_cross_entropy(logits, labels, "softmax", ignore=-100, smoothing=0.1)
    ref = F.cross_entropy(logits.reshape(-1, 7), labels.reshape(-1), label_smoothing=0.1,
                          reduction="none").view(3, 5)  # fmt: skip
    assert torch.allclose(mine, ref, atol=1e-6)


def test_maze_encoder_starts_neutral_and_then_conditions_every_token():
    spec = DataSpec(vocab_size=6, seq_len=81, grid_shape=(9, 9))
    torch.manual_seed(0)
    cfg = TRMConfig(hidden_size=32, num_heads=2, ffn_multiple_of=16, n=1, T=1, grid_encoder=True)
    model = build_model(cfg, spec)
    inputs, _ = _mazes(2)
    batch = {"inputs": inputs}
    plain = model.embed.tokens(inputs) * model.embed.scale
    assert torch.allclose(model.embed(batch), plain)  # zero-initialised projection
    torch.nn.init.normal_(model.embed.encoder.proj.weight)
    shift = model.embed(batch) - plain  # (B, L, D): the same vector at every token
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-5)
    assert shift.abs().sum() > 0


def test_warm_restart_cycles_grow_by_restart_mult():
    cfg = TrainConfig(lr=1.0, lr_min_ratio=0.0, schedule="cosine_restarts", restart_every=10,
                      restart_mult=2.0, steps=1000)  # fmt: skip
    assert lr_at(0, cfg) == 1.0 and lr_at(10, cfg) == 1.0  # first cycle: 10 steps
    assert lr_at(20, cfg) == pytest.approx(0.5)  # second cycle (20 steps), halfway
    assert lr_at(30, cfg) == 1.0  # third cycle starts at 10 + 20


def test_encoder_rate_has_its_own_peak_and_warmup():
    from ponder.train.optim import encoder_lr_at

    cfg = TrainConfig(lr=1.0, warmup_steps=0, schedule="constant")
    encoder = DemoEncoderConfig(lr=0.1, warmup_steps=20)
    assert lr_at(5, cfg) == 1.0 and encoder_lr_at(5, cfg) == 1.0  # no encoder: the trunk's
    assert encoder_lr_at(9, cfg, encoder) == pytest.approx(0.05)
    assert encoder_lr_at(30, cfg, encoder) == 0.1
