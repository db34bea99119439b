"""Training for extrapolation: random depth per example and the progressive loss's
no-gradient pre-roll (both off by default, so the defaults train exactly as before)."""

from __future__ import annotations

import pytest
import torch
from support import tiny_config

from ponder.models import build_model
from ponder.runs import open_run_data
from ponder.train import checkpoint as ckpt
from ponder.train.engine import Trainer
from ponder.train.launch import make_loader, open_stages, train
from ponder.train.runtime import make_runtime

CONV = {"mixer": "conv", "pos_encoding": "none", "q_pool": "mean", "hidden_size": 16}


def _trainer(cfg, run_dir):
    runtime = make_runtime("cpu", "fp32")
    data, objective = open_run_data(cfg)
    loader, evaluate = make_loader(cfg, open_stages(cfg, data, objective), objective, runtime)
    return Trainer(
        cfg, build_model(cfg.model, data.spec), loader, runtime, run_dir, evaluate, objective
    )


def test_random_depth_gives_each_example_its_own_budget(tiny_maze_dir, tmp_path):
    cfg = tiny_config(tiny_maze_dir, tmp_path / "r", model=CONV,
                      train={"N_sup": 6, "halting": "none", "random_depth": True})  # fmt: skip
    trainer = _trainer(cfg, tmp_path / "r")
    seen_limits, halted_at = set(), set()
    for step in range(40):
        trainer.train_step(trainer.loader.batch(step))
        limits, steps, halted = trainer.rows.limit, trainer.rows.steps, trainer.rows.halted
        assert ((limits >= 1) & (limits <= 6)).all()
        assert torch.equal(halted, steps >= limits)  # with halting none: exactly at the budget
        seen_limits |= set(limits.tolist())
        halted_at |= set(steps[halted].tolist())
    assert len(seen_limits) > 3 and len(halted_at) > 3


def test_without_random_depth_every_example_gets_n_sup(tiny_maze_dir, tmp_path):
    cfg = tiny_config(
        tiny_maze_dir, tmp_path / "r", model=CONV, train={"N_sup": 3, "halting": "none"}
    )
    trainer = _trainer(cfg, tmp_path / "r")
    for step in range(7):
        trainer.train_step(trainer.loader.batch(step))
        assert (trainer.rows.limit == 3).all()
        assert trainer.rows.halted.all() == (step % 3 == 2)


def test_progressive_pre_roll_moves_only_fresh_rows(tiny_maze_dir, tmp_path):
    cfg = tiny_config(tiny_maze_dir, tmp_path / "r", model=CONV,
                      train={"N_sup": 2, "halting": "none", "progressive_segments": 3})  # fmt: skip
    trainer = _trainer(cfg, tmp_path / "r")
    fresh = trainer.model.init_carry(8, "cpu", 49)
    torch.manual_seed(0)
    trainer._refill(trainer._to_device(trainer.loader.batch(0)))
    moved = (trainer.rows.carry.z != fresh.z).flatten(1).any(1)
    assert moved.any() and not moved.all()  # some rows drew k = 0 and start afresh
    trainer.rows.halted = torch.zeros_like(trainer.rows.halted)  # nobody is fresh now
    before = trainer.rows.carry.z.clone()
    trainer._refill(trainer._to_device(trainer.loader.batch(1)))
    assert torch.equal(trainer.rows.carry.z, before)


def test_both_options_resume_exactly_after_a_kill(tiny_maze_dir, tmp_path, monkeypatch):
    """6 straight steps == killed after the step-3 checkpoint, then resumed: the drawn
    budgets (rows.limit) and the pre-roll's randomness are part of the checkpoint."""
    options = {"N_sup": 3, "halting": "none", "random_depth": True, "progressive_segments": 2}
    straight = tiny_config(tiny_maze_dir, tmp_path / "straight", model=CONV, train=options,
                           deterministic=True)  # fmt: skip
    train(straight, quiet=True)
    original_save = Trainer.save

    def save_then_die(self, which):
        original_save(self, which)
        if self.step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "save", save_then_die)
    killed = tiny_config(tiny_maze_dir, tmp_path / "killed", model=CONV, train=options,
                         deterministic=True)  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        train(killed, quiet=True)
    monkeypatch.setattr(Trainer, "save", original_save)
    train(killed, resume=True, quiet=True)
    a, _ = ckpt.load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.safetensors")
    b, _ = ckpt.load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.safetensors")
    assert "rows.limit" in a
    for key in (k for k in a if k.startswith(("model.", "rows."))):
        assert torch.equal(a[key], b[key]), key
