"""grid.keep_givens (`ponder eval --keep-givens`): decoding copies the puzzle's given cells
(a maze's walls, S and G) into the answer and leaves the model's other cells alone."""

from __future__ import annotations

import json

import pytest
import torch
from support import run, tiny_config

from ponder.eval.evaluate import keep_givens
from ponder.tasks.maze import GOAL, OPEN, PATH, START, WALL
from ponder.train.launch import train


def test_given_cells_come_from_the_input_the_rest_from_the_model():
    inputs = torch.tensor([[WALL, START, OPEN, OPEN, GOAL, WALL]])
    tokens = torch.tensor([[OPEN, PATH, PATH, WALL, PATH, WALL]])
    decoded = keep_givens((WALL, START, GOAL))(tokens, {"inputs": inputs})
    assert decoded.tolist() == [[WALL, START, PATH, WALL, GOAL, WALL]]


@pytest.fixture(scope="module")
def conv_run(tiny_maze_dir, tmp_path_factory):
    model = {"mixer": "conv", "pos_encoding": "none", "q_pool": "mean", "hidden_size": 16}
    return train(
        tiny_config(tiny_maze_dir, tmp_path_factory.mktemp("r") / "run", model=model), quiet=True
    )


def test_eval_with_keep_givens_never_breaks_a_given_cell(conv_run, capsys):
    code, out, err = run(["eval", conv_run, "--json"], capsys)
    plain = json.loads(out)
    code, out, err = run(["eval", conv_run, "--json", "--keep-givens"], capsys)
    assert code == 0, err
    kept = json.loads(out)
    # valid = walls, S and G unchanged and every other cell open or route: only the second
    # half can still fail with the givens copied.
    assert kept["valid"] >= plain["valid"] and kept["n"] == plain["n"]
    config = (conv_run / "config.yaml").read_text()
    assert "keep_givens: false" in config  # the run's own config is not touched
