"""The segment-by-segment trace (ponder.eval.trace, `ponder eval --trace`): what it records
on hand-made answers, how it classes failures, and the CLI's file handling."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from support import run, tiny_config

from ponder.data import build_dataset
from ponder.data.dataset import open_dataset
from ponder.eval.evaluate import keep_givens
from ponder.eval.trace import classify, trace_puzzle, trace_split
from ponder.models.base import ModelOutputs
from ponder.tasks.maze import MAZE, PATH
from ponder.tasks.maze_hints import hint_labels, hint_rounds
from ponder.train.launch import train

# A 5x5 maze: S at the top left, G at the bottom right, one route along the top and right.
PUZZLE = MAZE.parse("#####\n#S  #\n### #\n#G  #\n#####\n")
SOLVED = MAZE.solve(PUZZLE)


def _tokens(grid) -> np.ndarray:
    return MAZE.encode(grid).astype(np.uint8)


def test_a_hand_made_trace_records_changes_exactness_and_the_class():
    half = PUZZLE.copy()
    half[1, 2] = PATH  # one route cell of the three
    answers = np.stack([_tokens(PUZZLE), _tokens(half), _tokens(SOLVED), _tokens(SOLVED)])
    example = (_tokens(PUZZLE), PUZZLE, SOLVED)
    record = trace_puzzle(MAZE, example, answers, np.array([1.0, 0.5, 0.1, 0.0]), window=1)
    route_cells = int((SOLVED == PATH).sum())
    assert record["cells_changed"] == [0, 1, route_cells - 1, 0]
    assert record["cells_answered"] == [0, 1, route_cells, route_cells]
    assert record["cells_wrong"] == [route_cells, route_cells - 1, 0, 0]
    assert record["exact"] == [False, False, True, True]
    assert record["first_exact"] == 3 and record["class"] == "solved"
    assert record["state_change"] == [1.0, 0.5, 0.1, 0.0] and "errors" not in record


def test_a_failed_answer_says_where_its_wrong_cells_are():
    wrong = PUZZLE.copy()
    wrong[1, 2] = PATH
    answers = np.stack([_tokens(wrong)] * 3)
    record = trace_puzzle(MAZE, (_tokens(PUZZLE), PUZZLE, SOLVED), answers, np.zeros(3), window=2)
    assert record["class"] == "wrong fixed point" and record["first_exact"] is None
    errors = record["errors"]
    assert errors["wrong_cells"] == int((SOLVED == PATH).sum()) - 1
    assert 0 <= errors["at_junction"] <= 1 and 0 < errors["from_start"] <= 1.5


@pytest.mark.parametrize(
    "sequence, expected",
    [
        ([1, 2, 3, 3, 3], "wrong fixed point"),
        ([1, 2, 1, 2, 1], "oscillating"),  # a 2-cycle
        ([4, 1, 2, 3, 1], "oscillating"),  # back to the answer of 3 segments before
        ([1, 2, 3, 4, 5], "still moving"),
        ([1, 2, 3, 9, 9], "still moving"),  # changed inside the window of 2
    ],
)
def test_failures_are_classed_by_how_they_end(sequence, expected):
    answers = np.array([[v, 0] for v in sequence])
    assert classify(answers, [False] * len(sequence), window=2) == expected


@pytest.fixture(scope="module")
def conv_run(tiny_maze_dir, tmp_path_factory):
    model = {"mixer": "conv", "pos_encoding": "none", "q_pool": "mean", "hidden_size": 16}
    return train(
        tiny_config(tiny_maze_dir, tmp_path_factory.mktemp("r") / "run", model=model), quiet=True
    )


def test_eval_writes_a_trace_and_refuses_to_overwrite_it(conv_run, tmp_path, capsys):
    out = tmp_path / "trace.json"
    code, text, err = run(["eval", conv_run, "--segments", "3", "--trace", out], capsys)
    assert code == 0, err
    trace = json.loads(out.read_text())
    assert trace["segments"] == 3 and trace["summary"]["n"] == len(trace["puzzles"]) == 8
    assert all(len(p["exact"]) == len(p["cells_changed"]) == 3 for p in trace["puzzles"])
    assert sum(trace["summary"]["classes"].values()) == 8 and "trace        8 puzzles" in text
    code, _, err = run(["eval", conv_run, "--trace", out], capsys)
    assert code == 2 and "already exists; pass --overwrite" in err
    code, _, err = run(["eval", conv_run, "--trace", out, "--overwrite"], capsys)
    assert code == 0, err


def test_a_trace_into_a_directory_is_refused(conv_run, tmp_path, capsys):
    code, _, err = run(["eval", conv_run, "--trace", tmp_path], capsys)
    assert code == 2 and "is a directory" in err and len(err.strip().splitlines()) == 1


def test_a_larger_maze_set_can_be_traced(conv_run, tmp_path, capsys):
    bigger = build_dataset("maze", tmp_path / "m9", train=2, test=3, seed=1, size=9, min_path=4)
    out = tmp_path / "t.json"
    code, _, err = run(["eval", conv_run, "--data", bigger, "--trace", out, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out.read_text())["summary"]["n"] == 3


@dataclass
class _State:
    z: torch.Tensor  # (B, 1)


class _RightOnOpenCells(torch.nn.Module):
    """Answers the label on every open cell and PATH on every wall, S and G."""

    def init_carry(self, batch_size, device, seq_len=None):
        return _State(z=torch.zeros(batch_size, 1))

    def forward(self, carry, batch):
        given = torch.isin(batch["inputs"], torch.tensor(MAZE.given_tokens))
        tokens = torch.where(given, PATH, batch["labels"]).long()  # (B, L)
        logits = torch.nn.functional.one_hot(tokens, 6).float()
        return _State(z=carry.z + 1), ModelOutputs(logits=logits, q_halt=torch.zeros(len(tokens)))


@pytest.mark.parametrize("kept", [False, True])
def test_the_trace_judges_the_answers_that_evaluation_judges(tiny_maze_dir, kept):
    """With grid.keep_givens the trace decodes each segment's answer as evaluation does
    (the given cells copied from the input), so an answer right on the open cells is exact."""
    split = open_dataset(tiny_maze_dir).test
    decode = keep_givens(MAZE.given_tokens) if kept else None
    trace = trace_split(
        _RightOnOpenCells(), MAZE, split, segments=2, batch_size=4, device=torch.device("cpu"),
        decode=decode,
    )  # fmt: skip
    assert trace["summary"]["exact_by_segment"] == ([1.0, 1.0] if kept else [0.0, 0.0])


def _fill_hint(batch: dict, segments: int) -> dict:
    """Dead-end filling's state after `segments` rounds (hint_rate 1), as the objective's
    targets_at gives it."""
    side = int(batch["inputs"].shape[1] ** 0.5)
    rounds = hint_rounds("dead_end_fill", batch["inputs"], (side, side))
    return {**batch, "labels": hint_labels(batch["labels"], rounds, segments)}


class _Filling(torch.nn.Module):
    """Answers dead-end filling's state after as many rounds as segments it has run."""

    def init_carry(self, batch_size, device, seq_len=None):
        return _State(z=torch.zeros(batch_size, 1))

    def forward(self, carry, batch):
        done = int(carry.z[0]) + 1
        logits = torch.nn.functional.one_hot(_fill_hint(batch, done)["labels"], 6).float()
        return _State(z=carry.z + 1), ModelOutputs(logits=logits, q_halt=torch.zeros(len(logits)))


def test_a_model_that_fills_round_by_round_stays_on_the_hint(tiny_maze_dir):
    split = open_dataset(tiny_maze_dir).test
    args = {"segments": 12, "batch_size": 4, "device": torch.device("cpu"), "hint": _fill_hint}
    filling = trace_split(_Filling(), MAZE, split, **args)
    assert filling["summary"]["on_hint_by_segment"] == [1.0] * 12
    assert all(p["cells_off_hint"] == [0] * 12 for p in filling["puzzles"])
    # the answer from the first segment is off the hint until the fill has ended
    answering = trace_split(_RightOnOpenCells(), MAZE, split, **args, decode=keep_givens(
        MAZE.given_tokens))  # fmt: skip
    first = [p["cells_off_hint"][0] for p in answering["puzzles"]]
    assert min(first) > 0 and answering["summary"]["on_hint_by_segment"][0] == 0.0
    assert answering["summary"]["exact_by_segment"][0] == 1.0
    assert "cells_off_hint" not in trace_split(_Filling(), MAZE, split, segments=2,
        batch_size=4, device=torch.device("cpu"))["puzzles"][0]  # fmt: skip
