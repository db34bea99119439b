"""`ponder train --resume` and `ponder eval` on a run that was edited or damaged: one line
naming the key or tensor at fault, exit 2, and the run left as it was (issue 12, items 9,
10 and 17b)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from refusals import assert_refused, write_config
from support import run, tiny_config

from ponder.train import checkpoint as ckpt
from ponder.train.launch import train

CHECKPOINTS = ("last", "best")


@pytest.fixture(scope="module")
def trained(tiny_maze_dir, tmp_path_factory) -> Path:
    """A finished tiny run, copied by `run_copy` for each test to edit."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    return train(tiny_config(tiny_maze_dir, run_dir), quiet=True)


@pytest.fixture
def run_copy(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "run"))


def edit_config(run_dir: Path, old: str, new: str) -> None:
    path = run_dir / "config.yaml"
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def damage_checkpoints(run_dir: Path, change) -> None:
    """Apply `change(tensors, state)` to every checkpoint of the run and save it back."""
    for which in CHECKPOINTS:
        path = run_dir / "checkpoints" / f"{which}.safetensors"
        tensors, state = ckpt.load_checkpoint(path)
        change(tensors, state)
        ckpt.save_checkpoint(path, tensors, state)


def test_an_untouched_copy_resumes(run_copy, capsys):
    """The control for every refusal below: the same run, not edited, resumes."""
    code, _, err = run(["train", "--resume", run_copy], capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("  hidden_size: 32\n", "  hidden_size: 64\n", "model.hidden_size (32 in the checkpoint"),
        ("  lr: 0.001\n", "  lr: 0.01\n", "train.lr (0.001 in the checkpoint, 0.01 now)"),
    ],
)
def test_resume_refuses_a_config_yaml_edited_since_the_checkpoint(
    run_copy, tmp_path, capsys, old, new, named
):
    edit_config(run_copy, old, new)
    assert_refused(["train", "--resume", run_copy], capsys, tmp_path, "cannot resume", named)


MODEL_KEY = "model.lm_head.weight"


def _pop(key):
    return lambda tensors, state: tensors.pop(key)


def _set(key, value):
    return lambda tensors, state: tensors.__setitem__(key, value)


def _set_state(key, value):
    return lambda tensors, state: state.__setitem__(key, value)


def _first_moment(tensors, state):
    key = next(k for k in tensors if k.startswith("optim.state.") and tensors[k].dim() > 0)
    tensors[key] = torch.zeros(3)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_pop(MODEL_KEY), f"lacks tensor {MODEL_KEY}"),
        (_set(MODEL_KEY, torch.zeros(3)), f"tensor {MODEL_KEY} has shape [3]"),
        (_set("model.extra", torch.zeros(1)), "has tensor model.extra"),
        (_set_state("step", "six"), "'step'"),
        (_set_state("step", -1), "'step'"),
        (lambda tensors, state: state.pop("optim"), "'optim'"),
        (_first_moment, "has shape [3] where this run needs"),
        (_pop("rows.steps"), "lacks tensor rows.steps"),
        (_set("rows.data.inputs", torch.zeros(2, dtype=torch.long)), "rows.data.inputs"),
        (lambda tensors, state: state["rng"].__setitem__("python", [3]), "python RNG state"),
    ],
    ids=[
        "missing-weight",
        "misshapen-weight",
        "unknown-weight",
        "text-step",
        "negative-step",
        "no-optimizer",
        "misshapen-moment",
        "missing-rows",
        "misshapen-rows",
        "bad-rng",
    ],
)
def test_resume_refuses_a_damaged_checkpoint_naming_the_part(
    run_copy, tmp_path, capsys, change, named
):
    damage_checkpoints(run_copy, change)
    assert_refused(["train", "--resume", run_copy], capsys, tmp_path, "last.safetensors", named)


def test_eval_names_the_missing_tensor(run_copy, tmp_path, capsys):
    damage_checkpoints(run_copy, _pop(MODEL_KEY))
    assert_refused(["eval", run_copy], capsys, tmp_path, f"lacks tensor {MODEL_KEY}")


def test_resume_with_overwrite_is_refused(run_copy, tmp_path, capsys):
    assert_refused(["train", "--resume", run_copy, "--overwrite"], capsys, tmp_path, "--overwrite")


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (b"seed: 0\nseed: 1\n", "duplicate key 'seed'"),
        ("name: caf\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"", "is empty"),
    ],
)
def test_resume_refuses_a_run_config_that_is_not_strict_yaml(
    run_copy, tmp_path, capsys, raw, named
):
    (run_copy / "config.yaml").write_bytes(raw)
    assert_refused(["train", "--resume", run_copy], capsys, tmp_path, "config.yaml", named)


def test_train_refuses_a_dataset_json_that_is_not_utf8(tiny_maze_dir, tmp_path, capsys):
    data = Path(shutil.copytree(tiny_maze_dir, tmp_path / "data"))
    meta = data / "train" / "dataset.json"
    meta.write_bytes(meta.read_bytes().replace(b'"pad_id"', b'"pad_\xe9d"'))
    config = tiny_config(data, tmp_path / "run")
    preset = write_config(tmp_path / "base.yaml", config)
    assert_refused(
        ["train", preset, f"run_dir={tmp_path / 'run'}"], capsys, tmp_path, "dataset.json"
    )
    assert not (tmp_path / "run").exists()


# ----- QA after issue 12 ----------------------------------------------------------------------
def test_resume_refuses_a_step_past_the_run(run_copy, tmp_path, capsys):
    """A step of 10**30 passed the checks and ended in TensorBoard's "Value out of range"."""
    damage_checkpoints(run_copy, _set_state("step", 10**30))
    assert_refused(
        ["train", "--resume", run_copy], capsys, tmp_path, "last.safetensors", "past train.steps"
    )


def _nan_weight(tensors, state):
    tensors[MODEL_KEY] = torch.full_like(tensors[MODEL_KEY], float("nan"))


@pytest.mark.parametrize("command", [["train", "--resume"], ["eval"], ["solve"]])
def test_non_finite_weights_are_refused_naming_the_tensor(
    run_copy, tiny_maze_dir, tmp_path, capsys, command
):
    damage_checkpoints(run_copy, _nan_weight)
    puzzle = tmp_path / "maze.txt"
    puzzle.write_text(run(["data", "show", tiny_maze_dir], capsys)[1])
    args = [*command, run_copy] + ([puzzle] if command == ["solve"] else [])
    assert_refused(args, capsys, tmp_path, f"tensor {MODEL_KEY} holds NaN or infinite values")
