"""Two gloo ranks on a CPU train exactly like one process with the same global batch:
same loss at every step, same final weights and puzzle-embedding table."""

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from support import hrm_maze_fixture

from ponder.train import checkpoint as ckpt

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without distributed"
)


def _config(data, run_dir) -> dict:
    return {
        "name": "ddp",
        "run_dir": str(run_dir),
        "device": "cpu",
        "precision": "fp32",
        "deterministic": True,
        "data": {"path": str(data), "task": "maze"},
        # Attention TRM with a 2-token puzzle embedding: the sparse optimizer must gather
        # the other rank's rows for the tables to stay equal to the 1-process run.
        "model": {
            "name": "trm",
            "hidden_size": 16,
            "num_heads": 2,
            "ffn_multiple_of": 16,
            "n": 1,
            "T": 2,
            "puzzle_emb_len": 2,
        },  # fmt: skip
        "train": {
            "steps": 5,
            "global_batch_size": 8,
            "lr": 3e-3,
            "N_sup": 3,
            "halting": "none",
            "log_every": 1,
            "checkpoint_every": 0,
            "eval_examples": 2,
            "puzzle_emb_lr": 0.05,
        },  # fmt: skip
        "eval": {"batch_size": 2, "samples_png": 0},
    }


def _run(config: dict, tmp_path, nproc: int):
    path = tmp_path / f"cfg{nproc}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={nproc}"]  # fmt: skip
    cmd = [*(launcher if nproc > 1 else [sys.executable]), "-m", "ponder", "train", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def _losses(run_dir) -> list[float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["train/loss"] for r in rows if "train/loss" in r]


def test_two_gloo_ranks_match_one_process(tmp_path):
    data = hrm_maze_fixture(tmp_path / "data", 7, 16, 2, ids=5)
    one, two = tmp_path / "one", tmp_path / "two"
    _run(_config(data, one), tmp_path, nproc=1)
    _run(_config(data, two), tmp_path, nproc=2)
    a, b = _losses(one), _losses(two)
    assert len(a) == len(b) == 5
    assert a == pytest.approx(b, rel=1e-5, abs=1e-6)
    wa, _ = ckpt.load_checkpoint(one / "checkpoints" / "last.safetensors")
    wb, _ = ckpt.load_checkpoint(two / "checkpoints" / "last.safetensors")
    table = "model.embed.puzzle.weight"
    assert wa[table].abs().sum() > 0  # the table was trained
    for key in (k for k in wa if k.startswith("model.")):
        assert torch.allclose(wa[key], wb[key], rtol=1e-4, atol=1e-6), key
