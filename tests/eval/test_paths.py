"""Path-formulation evaluation: a model that points along the oracle's route is exact, and
a small model learns to do so on a handful of mazes (judged by the verifier)."""

import torch
from support import tiny_config

from ponder.data import build_dataset
from ponder.eval.paths import evaluate_paths
from ponder.models.base import ModelOutputs
from ponder.runs import open_run_data
from ponder.train.launch import train
from ponder.trained import load_run


class _OraclePointers(torch.nn.Module):
    """Points from each route cell to the next one (reads the routes, as only a test may)."""

    def __init__(self, split):
        super().__init__()
        self.routes = torch.as_tensor(split.extras["routes"])

    def init_carry(self, batch_size, device, seq_len=None):
        return None

    def forward(self, carry, batch):
        b, length = batch["inputs"].shape
        logits = torch.zeros(b, 1, length, length)
        for row, i in enumerate(batch["index"].tolist()):
            cells = [c for c in self.routes[i].tolist() if c >= 0]
            for a, c in zip(cells, cells[1:], strict=False):
                logits[row, 0, a, c] = 10.0
        return carry, ModelOutputs(logits=logits, q_halt=torch.zeros(b))


def test_oracle_pointers_are_exact_and_random_ones_are_not(tiny_maze_dir, tmp_path):
    cfg = tiny_config(tiny_maze_dir, tmp_path / "r", objective="path")
    data = open_run_data(cfg)[0]
    common = dict(n_sup=2, batch_size=4, device=torch.device("cpu"))
    report, _, _ = evaluate_paths(_OraclePointers(data.test), data.test, **common)
    assert report["exact"] == 1.0 and report["length_ratio"] == 1.0
    assert report["first_error_mean"] == -1.0


def test_path_head_learns_a_handful_of_mazes(tmp_path):
    data = build_dataset("maze", tmp_path / "four", train=4, test=4, seed=1, size=7, min_path=4)
    cfg = tiny_config(
        data,
        tmp_path / "run",
        model={
            "hidden_size": 64,
            "num_heads": 4,
            "n": 2,
            "T": 1,
        },  # fmt: skip
        objective="path",
        path={"horizons": 2},
        train={
            "steps": 200,
            "global_batch_size": 8,
            "lr": 3e-3,
            "warmup_steps": 20,
            "N_sup": 2,
            "halting": "none",
            "checkpoint_every": 0,
            "weight_decay": 0.0,
            "label_smoothing": 0.05,
        },  # fmt: skip
    )
    run = load_run(train(cfg, quiet=True))
    split = run.data.train
    report, _, _ = evaluate_paths(
        run.model, split, n_sup=2, batch_size=8, device=torch.device("cpu")
    )
    assert report["exact"] == 1.0, report


def test_walls_are_in_the_path_models_inputs(tiny_maze_dir, tmp_path):
    from ponder.data.loader import TrainBatches, eval_batches
    from ponder.tasks.maze import WALL

    cfg = tiny_config(tiny_maze_dir, tmp_path / "r", objective="path")
    data = open_run_data(cfg)[0]
    train_batch = TrainBatches(data.train, 8, seed=0).batch(0)
    test_batch = next(eval_batches(data.test, 8))
    for batch in (train_batch, test_batch):
        walls = (batch["inputs"] == WALL).sum(1)
        assert (walls > 0).all() and batch["routes"].shape[0] == batch["inputs"].shape[0]
