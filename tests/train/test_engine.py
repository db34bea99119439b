"""The engine end to end on tiny mazes: it learns, it resumes exactly, it checkpoints."""

import json

import pytest
import torch
from support import tiny_config

from ponder.data import build_dataset
from ponder.eval.evaluate import evaluate_model
from ponder.train import checkpoint as ckpt
from ponder.train.engine import Trainer
from ponder.train.launch import load_run, open_dataset, train


def test_overfits_a_handful_of_mazes(tmp_path):
    """Training on 4 mazes must solve all 4 (judged by the verifier, not the labels)."""
    data = build_dataset("maze", tmp_path / "four", train=4, test=4, seed=1, size=7, min_path=4)
    cfg = tiny_config(
        data,
        tmp_path / "run",
        model={"hidden_size": 64, "num_heads": 4, "n": 2, "T": 1},
        train={
            "steps": 250,
            "global_batch_size": 8,
            "lr": 3e-3,
            "warmup_steps": 20,
            "N_sup": 2,
            "halting": False,
            "checkpoint_every": 0,
            "eval_examples": 4,
            "weight_decay": 0.0,
        },
    )
    run_dir = train(cfg, quiet=True)
    run = load_run(run_dir)
    split = open_dataset(data).train
    report, _, _ = evaluate_model(
        run.model, run.data.task, split, n_sup=2, batch_size=8, device=torch.device("cpu")
    )
    assert report["exact"] == 1.0, report


def test_resume_after_a_kill_continues_identically(tiny_maze_dir, tmp_path, monkeypatch):
    """6 straight steps == killed right after the step-3 checkpoint, then resumed."""
    train(tiny_config(tiny_maze_dir, tmp_path / "straight", deterministic=True), quiet=True)

    original_save = Trainer.save

    def save_then_die(self, which):
        original_save(self, which)
        if self.step == 3:
            raise KeyboardInterrupt  # the process is killed here

    monkeypatch.setattr(Trainer, "save", save_then_die)
    killed = tiny_config(tiny_maze_dir, tmp_path / "killed", deterministic=True)
    with pytest.raises(KeyboardInterrupt):
        train(killed, quiet=True)
    monkeypatch.setattr(Trainer, "save", original_save)
    train(killed, resume=True, quiet=True)

    a, sa = ckpt.load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.safetensors")
    b, sb = ckpt.load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.safetensors")
    assert sa["step"] == sb["step"] == 6
    for key in (k for k in a if k.startswith(("model.", "optim.", "rows."))):
        assert torch.equal(a[key], b[key]), key


def test_run_directory_contents(tiny_maze_dir, tmp_path):
    run_dir = train(tiny_config(tiny_maze_dir, tmp_path / "run"), quiet=True)
    assert (run_dir / "config.yaml").is_file()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert any("train/loss" in json.loads(line) for line in lines)
    assert any("eval/exact" in json.loads(line) for line in lines)
    assert (run_dir / "checkpoints" / "last.safetensors").is_file()
    assert list((run_dir / "tb").iterdir())
    tensors, state = ckpt.load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert state["step"] == 6
    assert any(k.startswith("optim.") for k in tensors)
    assert "rows.carry.z" in tensors and "rng.cpu" in tensors


def test_ema_weights_are_evaluated(tiny_maze_dir, tmp_path):
    cfg = tiny_config(tiny_maze_dir, tmp_path / "ema", train={"ema": True, "ema_rate": 0.9})
    run_dir = train(cfg, quiet=True)
    tensors, _ = ckpt.load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert any(k.startswith("ema.module.") for k in tensors)
    run = load_run(run_dir)
    key = next(k for k in tensors if k.startswith("ema.module.net"))
    name = key.removeprefix("ema.module.")
    assert torch.equal(run.model.state_dict()[name], tensors[key])


def _poison_logits(monkeypatch, bad_calls: set[int]):
    """Make the TRM return NaN logits on the listed forward calls (1-based)."""
    from ponder.models.trm import TRM

    original = TRM.forward
    calls = {"n": 0}

    def forward(self, carry, batch):
        carry, out = original(self, carry, batch)
        calls["n"] += 1
        if calls["n"] in bad_calls:
            out.logits = out.logits * float("nan")
        return carry, out

    monkeypatch.setattr(TRM, "forward", forward)


def test_nonfinite_loss_is_skipped_and_counted(tiny_maze_dir, tmp_path, monkeypatch):
    _poison_logits(monkeypatch, bad_calls={2})
    run_dir = train(tiny_config(tiny_maze_dir, tmp_path / "nan"), quiet=True)
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum(r.get("train/nonfinite_steps", 0) for r in logged) == 1
    tensors, state = ckpt.load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert state["step"] == 6
    assert all(torch.isfinite(v).all() for k, v in tensors.items() if k.startswith("model."))


def test_too_many_nonfinite_losses_stop_the_run(tiny_maze_dir, tmp_path, monkeypatch):
    from ponder.errors import TrainingDiverged

    _poison_logits(monkeypatch, bad_calls={2, 3})
    cfg = tiny_config(tiny_maze_dir, tmp_path / "nan2", train={"max_nonfinite_steps": 1})
    with pytest.raises(TrainingDiverged, match="2 non-finite losses by step 3"):
        train(cfg, quiet=True)
