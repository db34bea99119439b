"""Thinking longer on other grid sizes: a size-agnostic model runs on grids it was not built
for, `--segments N|auto` sets the evaluation depth, and the report gives exact by depth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from support import run, tiny_config

from ponder.config import config_from_dict
from ponder.data import build_dataset
from ponder.data.dataset import open_dataset
from ponder.models import DataSpec, build_model, size_bound_reason
from ponder.models.rollout import rollout
from ponder.models.trm import TRMConfig
from ponder.train.launch import train

CONV = {"mixer": "conv", "pos_encoding": "none", "q_pool": "mean", "hidden_size": 16}


@pytest.fixture(scope="module")
def maze11(tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "maze11"
    return build_dataset("maze", out, train=4, test=6, seed=3, size=11, min_path=6)


@pytest.fixture(scope="module")
def run7(tiny_maze_dir, tmp_path_factory):
    """A conv TRM trained a few steps on 7x7 mazes."""
    cfg = tiny_config(tiny_maze_dir, tmp_path_factory.mktemp("r") / "run", model=CONV)
    return train(cfg, quiet=True)


def test_a_conv_model_answers_the_same_alone_and_in_a_batch(maze11):
    torch.manual_seed(0)
    config = TRMConfig(**CONV, num_heads=2, ffn_multiple_of=16, n=2, T=2)
    model = build_model(config, DataSpec(vocab_size=6, seq_len=49, grid_shape=(7, 7))).eval()
    inputs = torch.as_tensor(open_dataset(maze11).test.inputs).long()  # 11x11, not 7x7
    batch = {"inputs": inputs, "puzzle_identifiers": torch.zeros(len(inputs), dtype=torch.long)}
    read = lambda out: out.logits.argmax(-1)  # noqa: E731
    with torch.no_grad():
        together = rollout(model, batch, 3, read=read).answer
        alone = [rollout(model, {k: v[i : i + 1] for k, v in batch.items()}, 3, read=read).answer
                 for i in range(len(inputs))]  # fmt: skip
    assert together.shape == (len(inputs), 121)
    assert torch.equal(together, torch.cat(alone))


@pytest.mark.parametrize(
    "model, words",
    [
        ({"pos_encoding": "learned"}, "learned absolute positions"),
        ({"pos_encoding": "rope"}, "1D rotary positions"),
        ({"puzzle_emb_len": 2, "pos_encoding": "rope2d"}, "puzzle-embedding table"),
        (
            {"mixer": "conv", "pos_encoding": "none", "grid_encoder": True},
            "flattens the whole grid",
        ),
    ],
)
def test_size_bound_models_are_named(model, words):
    config = TRMConfig(hidden_size=16, num_heads=2, **model)
    assert words in size_bound_reason(config)


def test_size_agnostic_models_have_no_reason():
    assert size_bound_reason(TRMConfig(**CONV, num_heads=2)) is None
    assert size_bound_reason(TRMConfig(hidden_size=16, num_heads=2, pos_encoding="rope2d")) is None


def test_eval_on_a_larger_grid_with_a_depth_curve(run7, maze11, capsys):
    code, out, err = run(["eval", run7, "--data", maze11, "--segments", "4", "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["n"] == 6 and report["halt_steps_hist"] and len(report["halt_steps_hist"]) == 4
    assert list(report["exact_by_segments"]) == ["1", "2", "4"]  # JSON keys are strings
    code, out, _ = run(["eval", run7, "--data", maze11, "--segments", "auto", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and "exact_by_segments" not in report
    assert 1 <= report["halt_steps_mean"] <= 2 * 16  # the cap: 16 x N_sup (2)


def test_solve_a_larger_puzzle_with_more_segments(run7, maze11, tmp_path, capsys):
    code, text, _ = run(["data", "show", maze11], capsys)
    puzzle = tmp_path / "p.txt"
    puzzle.write_text(text)
    code, out, err = run(["solve", run7, puzzle, "--segments", "7"], capsys)
    assert code == 0, err
    assert out.strip().splitlines()[-1].endswith("segments=7")
    assert len(out.strip().splitlines()) == 12  # 11 rows and the verdict


@pytest.mark.parametrize("tol", ["0", "-0.1", "1.5", "nan", "tiny"])
def test_bad_state_tolerances_exit_2(run7, tol, capsys):
    with pytest.raises(SystemExit) as exit_:
        run(["eval", run7, "--segments", "auto", "--halt", "converged", "--state-tol", tol], capsys)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--state-tol" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("segments", ["0", "-3", "many"])
def test_bad_segment_counts_exit_2(run7, segments, capsys):
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it before anything runs
        run(["eval", run7, "--segments", segments], capsys)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--segments" in err and len(err.strip().splitlines()) == 1


def test_a_size_bound_model_refuses_another_size(tiny_maze_dir, maze11, tmp_path, capsys):
    cfg = tiny_config(tiny_maze_dir, tmp_path / "run", model={"pos_encoding": "learned"})
    run_dir = train(cfg, quiet=True)
    before = sorted(p.name for p in run_dir.iterdir())
    code, _, err = run(["eval", run_dir, "--data", maze11], capsys)
    assert code == 2 and "learned absolute positions" in err and "11x11" in err
    assert sorted(p.name for p in run_dir.iterdir()) == before  # no eval/ written


def test_halting_report_says_whether_the_model_knows_when_it_is_done(run7, maze11, capsys):
    code, out, _ = run(["eval", run7, "--data", maze11, "--segments", "3", "--json"], capsys)
    report = json.loads(out)
    assert 0 <= report["halted_early"] <= 1
    assert report["halt_precision"] is None or 0 <= report["halt_precision"] <= 1
    assert np.isclose(sum(report["halt_steps_hist"]), report["n"])


def test_a_recipe_that_pins_its_grid_size_still_runs_on_another(
    tiny_maze_dir, maze11, tmp_path, capsys
):
    """data.seq_len in a recipe pins the training data, not the sizes the model may judge."""
    pinned = {"task": "maze", "seq_len": 49}
    cfg = tiny_config(tiny_maze_dir, tmp_path / "run", model=CONV, data=pinned)
    run_dir = train(cfg, quiet=True)
    capsys.readouterr()  # training's own lines
    code, out, err = run(["eval", run_dir, "--data", maze11, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["n"] == 6


def test_auto_with_the_stable_and_confidence_rules(run7, maze11, capsys):
    base = ["eval", run7, "--data", maze11, "--segments", "auto", "--json"]
    code, out, err = run(
        [*base, "--halt", "stable", "--stable-k", "2", "--max-segments", "9"], capsys
    )
    assert code == 0, err
    report = json.loads(out)
    assert len(report["halt_steps_hist"]) == 9 and 3 <= report["halt_steps_mean"] <= 9
    code, out, err = run([*base, "--halt", "confidence", "--max-segments", "5"], capsys)
    assert code == 0, err
    assert len(json.loads(out)["halt_steps_hist"]) == 5
    code, out, err = run(
        [*base, "--halt", "converged", "--state-tol", "0.5", "--max-segments", "6"], capsys
    )
    assert code == 0, err
    assert len(json.loads(out)["halt_steps_hist"]) == 6


def test_converged_is_refused_for_a_model_without_a_state(tiny_maze_dir, tmp_path, capsys):
    raw = tiny_config(tiny_maze_dir, tmp_path / "run").model_dump(mode="json")
    raw["model"] = {"name": "transformer", "hidden_size": 16, "num_heads": 2, "num_layers": 1}
    run_dir = train(config_from_dict(raw), quiet=True)
    capsys.readouterr()
    code, _, err = run(["eval", run_dir, "--segments", "auto", "--halt", "converged"], capsys)
    assert code == 2 and "keeps none between segments" in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, words",
    [
        (["--segments", "8", "--halt", "stable"], "--halt and --max-segments choose when"),
        (["--halt", "q"], "--halt and --max-segments choose when"),
        (["--segments", "auto", "--stable-k", "2"], "--stable-k is the window of --halt stable"),
        (["--segments", "4", "--max-segments", "9"], "--halt and --max-segments choose when"),
        (["--segments", "auto", "--state-tol", "0.1"], "--state-tol is the threshold of"),
    ],
)
def test_stop_options_without_auto_are_refused(run7, args, words, capsys):
    metrics = run7 / "eval" / "metrics.json"
    before = metrics.stat().st_mtime_ns if metrics.exists() else None
    code, _, err = run(["eval", run7, *args], capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1
    assert (metrics.stat().st_mtime_ns if metrics.exists() else None) == before  # nothing written


def test_precision_is_chosen_for_one_command(run7, capsys):
    config = (run7 / "config.yaml").read_text()
    code, out, err = run(["eval", run7, "--precision", "bf16", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["n"] > 0
    assert (run7 / "config.yaml").read_text() == config  # the run's precision is untouched
    with pytest.raises(SystemExit) as exit_:
        run(["eval", run7, "--precision", "fp8"], capsys)
    assert exit_.value.code == 2 and "--precision" in capsys.readouterr().err
