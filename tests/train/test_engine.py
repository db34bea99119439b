"""The engine end to end on tiny mazes: it learns, it resumes exactly, it checkpoints."""

import json

import pytest
import torch
from support import tiny_config

from ponder.data import build_dataset
from ponder.data.dataset import open_dataset
from ponder.eval.evaluate import evaluate_model
from ponder.train import checkpoint as ckpt
from ponder.train.engine import Trainer
from ponder.train.launch import train
from ponder.trained import load_run


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


def _logged(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_q_learning_halting_trains_the_continue_head(tiny_maze_dir, tmp_path):
    from ponder.config import config_from_dict

    raw = tiny_config(tiny_maze_dir, tmp_path / "run", train={"halting": "hrm"}).to_dict()
    raw["model"] = {"name": "hrm", "hidden_size": 32, "num_heads": 2, "ffn_multiple_of": 16,
                    "H_layers": 1, "L_layers": 1}  # fmt: skip
    run_dir = train(config_from_dict(raw), quiet=True)
    rows = _logged(run_dir)
    assert any("train/continue_loss" in r for r in rows)
    tensors, _ = ckpt.load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert tensors["model.q_head.proj.weight"].shape[0] == 2  # (q_halt, q_continue)


def test_puzzle_embedding_run_reports_the_leakage_check(tmp_path):
    from support import hrm_maze_fixture

    data = hrm_maze_fixture(tmp_path / "data", 7, 8, 4, ids=4)
    cfg = tiny_config(
        data,
        tmp_path / "run",
        data={"task": "maze"},
        model={"puzzle_emb_len": 2},
        train={"puzzle_emb_lr": 0.1},
    )
    run_dir = train(cfg, quiet=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "exact_blank_id" in summary["final_eval"]
    tensors, _ = ckpt.load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    table = tensors["model.embed.puzzle.weight"]  # (4 ids, 32)
    assert table[1:].abs().sum() > 0  # the train ids' rows moved
    assert not table[0].any()  # the blank id was never in a training batch


def test_resume_on_a_dataset_of_another_shape_is_refused(tmp_path):
    """The dataset at the run's path was rebuilt at another size: resuming names both."""
    import shutil

    from ponder.errors import UserError

    data, run = tmp_path / "data", tmp_path / "run"
    build_dataset("maze", data, train=8, test=4, seed=0, size=7, min_path=4)
    train(tiny_config(data, run), quiet=True)
    shutil.rmtree(data)
    build_dataset("maze", data, train=8, test=4, seed=0, size=9, min_path=4)
    with pytest.raises(UserError, match="seq_len 81 but the model in .* expects 49"):
        train(tiny_config(data, run), resume=True, quiet=True)


def test_poh_logs_and_regularises_routing_entropy(tiny_maze_dir, tmp_path):
    from ponder.config import config_from_dict

    raw = tiny_config(tiny_maze_dir, tmp_path / "run").to_dict()
    raw["model"] = {"name": "poh", "hidden_size": 32, "num_heads": 4, "ffn_multiple_of": 16,
                    "num_layers": 1, "R": 2, "route_entropy_weight": 0.01,
                    "route_entropy_anneal": True}  # fmt: skip
    run_dir = train(config_from_dict(raw), quiet=True)
    entropies = [r["train/route_entropy"] for r in _logged(run_dir) if "train/route_entropy" in r]
    assert entropies and all(0 < e <= 1.3863 for e in entropies)  # at most log(4 heads)
    terms = [r["train/route_entropy_loss"] for r in _logged(run_dir) if "train/loss" in r]
    assert terms and all(0 < t <= 0.01 * 1.3863 for t in terms)  # weighted, annealed


def test_mlm_u_training_runs_and_leaves_the_stored_data_alone(tiny_maze_dir, tmp_path):
    before = open_dataset(tiny_maze_dir).train.inputs.copy()
    run_dir = train(tiny_config(tiny_maze_dir, tmp_path / "run", grid={"mlm_u": True}), quiet=True)
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 6
    assert (open_dataset(tiny_maze_dir).train.inputs == before).all()
