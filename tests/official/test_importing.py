"""`ponder import hrm|trm`: the fixtures' official weights, saved as pretrain.py saves a
checkpoint, become a run that `ponder eval` judges, whose model computes the official
logits, and that `ponder train --resume` fine-tunes; every bad input is refused with one
line, exit 2 and nothing written."""

from __future__ import annotations

import fractions
import json
import shutil

import pytest
import torch
import yaml
from official_support import (
    CONFIGS,
    FIXTURES,
    all_config,
    fixture_weights,
    import_args,
    official_model,
    write_official_folder,
)
from refusals import assert_refused
from safetensors.torch import load_file
from support import run

from ponder.train.checkpoint import load_checkpoint
from ponder.trained import load_run


def _first_segment_logits(run_dir, config: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(ponder's, the official) logits of the fixture's first batch, first segment, eval."""
    expected = load_file(FIXTURES / config / "expected.safetensors")
    model = load_run(run_dir, device="cpu").model
    batch = {k: expected[f"batch1.{k}"].long() for k in ("inputs", "puzzle_identifiers")}
    with torch.no_grad():
        _, out = model(model.init_carry(batch["inputs"].shape[0], "cpu"), batch)
    return out.logits, expected["eval.segment1.logits"]


@pytest.mark.parametrize("config", CONFIGS)
def test_an_imported_checkpoint_computes_the_official_logits(config, tmp_path, maze4_dir, capsys):
    weights = write_official_folder(tmp_path / "official", config)
    run_dir = tmp_path / "run"
    code, out, err = run(import_args(weights, official_model(config), maze4_dir, run_dir), capsys)
    assert code == 0, err
    assert "ponder train --resume" in out
    ours, official = _first_segment_logits(run_dir, config)
    assert ours.shape == official.shape
    assert (ours - official).abs().max() < 1e-5
    code, out, err = run(["eval", run_dir, "--device", "cpu", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["n"] == 4  # the dataset's 4 test mazes judged


@pytest.mark.parametrize("prefix", ["", "model.", "_orig_mod."])
def test_every_official_prefix_is_read(prefix, tmp_path, maze4_dir, capsys):
    """The ACT wrapper's own keys (`inner.`), the loss head's, and torch.compile's alone."""
    weights = write_official_folder(tmp_path / "official", "hrm", prefix=prefix)
    code, _, err = run(import_args(weights, "hrm", maze4_dir, tmp_path / "run"), capsys)
    assert code == 0, err
    ours, official = _first_segment_logits(tmp_path / "run", "hrm")
    assert (ours - official).abs().max() < 1e-5


def test_the_imported_run_holds_the_official_training_settings(tmp_path, maze4_dir, capsys):
    weights = write_official_folder(tmp_path / "official", "trm_attention")
    code, out, _ = run(import_args(weights, "trm", maze4_dir, tmp_path / "run"), capsys)
    assert code == 0
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    train = saved["train"]
    assert (train["N_sup"], train["halting"], train["loss"]) == (3, "trm", "stablemax")
    assert (train["optimizer"], train["grad_clip"], train["betas"]) == (
        "adam_atan2",
        0.0,
        [0.9, 0.95],
    )
    assert train["steps"] == 4  # pretrain.py's count: 2 epochs x 8 groups x 1 example / 4
    assert (train["schedule"], train["official_metrics"]) == ("cosine_official", True)
    assert (saved["precision"], saved["data"]["task"]) == ("fp32", "maze")
    _, state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.safetensors")
    assert state["step"] == 0 and state["imported"]["checkpoint"] == str(weights)


def test_fine_tuning_an_imported_run_takes_a_step(tmp_path, maze4_dir, capsys):
    weights = write_official_folder(tmp_path / "official", "trm_attention")
    run_dir = tmp_path / "run"
    code, _, err = run(import_args(weights, "trm", maze4_dir, run_dir, "--steps", 1), capsys)
    assert code == 0, err
    before, _ = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    code, _, err = run(["train", "--resume", run_dir, "--device", "cpu"], capsys)
    assert code == 0, err
    after, state = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert state["step"] == 1
    key = "model.lm_head.weight"
    assert not torch.equal(before[key], after[key]), "the step changed the weights"
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = next(r for r in logged if "train/loss" in r)
    assert {"train/accuracy", "train/q_halt_accuracy"} <= set(train), "the official metrics"


def test_overwrite_replaces_an_imported_run(tmp_path, maze4_dir, capsys):
    weights = write_official_folder(tmp_path / "official", "hrm")
    args = import_args(weights, "hrm", maze4_dir, tmp_path / "run")
    assert run(args, capsys)[0] == 0
    assert_refused(args, capsys, tmp_path, "already holds a run", "--overwrite")
    assert run([*args, "--overwrite"], capsys)[0] == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --------------------------------------------------------------------------- refusals


def _save(path, obj):
    torch.save(obj, path)
    return path


def _bad_weights(config: str, change) -> dict[str, torch.Tensor]:
    weights = fixture_weights(config)
    change(weights)
    return weights


def _bad_file(kind: str, folder):
    """(weights file, words the refusal names) for each kind of bad checkpoint file."""
    good = write_official_folder(folder, "trm_mlp")
    if kind == "text":
        good.write_text("not a checkpoint")
        return good, ["not a file torch.save wrote"]
    if kind == "list":
        return _save(good, [torch.zeros(2)]), ["holds a list", "not a state dict"]
    if kind == "code":  # a pickle that names a class: torch's weights_only refuses it
        return _save(good, {"w": fractions.Fraction(1, 3)}), [
            "needs code to load (fractions.Fraction)"
        ]
    if kind == "not_tensor":
        return _save(good, {"inner.lm_head.weight": 3}), ["'inner.lm_head.weight'", "not a tensor"]
    if kind == "directory":
        return folder, ["is a directory"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["text", "list", "code", "not_tensor", "directory"])
def test_a_file_that_is_not_a_state_dict_is_refused(kind, tmp_path, maze4_dir, capsys):
    weights, words = _bad_file(kind, tmp_path / "official")
    args = import_args(weights, "trm", maze4_dir, tmp_path / "run")
    assert_refused(args, capsys, tmp_path, *words)


def _drop(key):
    return lambda w: w.pop(key)


def _add(key, tensor):
    return lambda w: w.__setitem__(key, tensor)


@pytest.mark.parametrize(
    "config, change, words",
    [
        ("hrm", _drop("inner.L_level.layers.0.mlp.down_proj.weight"),
         ["'inner.L_level.layers.0.mlp.down_proj.weight'"]),
        ("trm_attention", _add("inner.L_level.layers.5.mlp.down_proj.weight", torch.zeros(1)),
         ["inner.L_level.layers.5.mlp.down_proj.weight"]),
        ("trm_attention", _add("inner.extra_head.weight", torch.zeros(1)), ["extra_head"]),
        ("hrm", _add("inner.q_head.bias", torch.full((2,), float("nan"))),
         ["q_head.bias", "NaN"]),
    ],
    ids=["missing", "extra_layer", "extra_head", "nan"],
)  # fmt: skip
def test_missing_extra_and_broken_weights_are_refused(config, change, words, tmp_path, maze4_dir, capsys):  # fmt: skip
    weights = write_official_folder(tmp_path / "o", config, weights=_bad_weights(config, change))
    args = import_args(weights, official_model(config), maze4_dir, tmp_path / "run")
    assert_refused(args, capsys, tmp_path, *words)


def _arch_change(config: str, **arch) -> dict:
    raw = all_config(config)
    raw["arch"].update(arch)
    return raw


@pytest.mark.parametrize(
    "config, raw, words",
    [
        ("hrm", _arch_change("hrm", hidden_size=64), ["H_init' has shape (32,)", "expects (64,)"]),
        ("trm_attention", _arch_change("trm_attention", L_layers=1),
         ["'_orig_mod.model.inner.L_level.layers.1.", "not in this trm model"]),
        ("trm_attention", all_config("hrm"), ["describes a hrm model, not trm"]),
        ("hrm", _arch_change("hrm", rope_theta=500.0), ["rope_theta"]),
        ("hrm", _arch_change("hrm", loss={"name": "losses@ACTLossHead"}), ["loss_type"]),
        ("hrm", {k: v for k, v in all_config("hrm").items() if k != "lr"}, ["lacks 'lr'"]),
    ],
    ids=["hidden_size", "layers", "other_model", "rope_theta", "loss", "no_lr"],
)  # fmt: skip
def test_a_config_that_does_not_fit_the_weights_is_refused(config, raw, words, tmp_path, maze4_dir, capsys):  # fmt: skip
    weights = write_official_folder(tmp_path / "o", config, raw=raw)
    model = "trm" if config.startswith("trm") else "hrm"
    assert_refused(import_args(weights, model, maze4_dir, tmp_path / "run"), capsys, tmp_path, *words)  # fmt: skip


def _dataset_with(source, target, **metadata):
    """A copy of the dataset `source` with dataset.json keys changed in both splits."""
    shutil.copytree(source, target)
    for split in ("train", "test"):
        path = target / split / "dataset.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **metadata}))
    return target


@pytest.mark.parametrize(
    "config, change, words",
    [
        ("hrm", {"num_puzzle_identifiers": 7}, ["num_puzzle_identifiers 7", "expects 5"]),
        ("trm_attention", {"vocab_size": 7}, ["vocab_size 7", "expects 6"]),
    ],
    ids=["identifiers", "vocabulary"],
)
def test_a_dataset_that_does_not_fit_the_weights_is_refused(config, change, words, tmp_path, maze4_dir, capsys):  # fmt: skip
    data = _dataset_with(maze4_dir, tmp_path / "data", **change)
    if "num_puzzle_identifiers" in change:
        (data / "identifiers.json").write_text(
            json.dumps(["<blank>"] + [f"p{i}" for i in range(6)])
        )
    weights = write_official_folder(tmp_path / "o", config)
    args = import_args(weights, official_model(config), data, tmp_path / "run")
    assert_refused(args, capsys, tmp_path, *words)


def test_a_dataset_of_another_length_is_refused_where_the_weights_fix_it(tmp_path, tiny_maze_dir, capsys):  # fmt: skip
    """trm_mlp has learned positions and the MLP mixer: one row per cell of a 4x4 grid."""
    weights = write_official_folder(tmp_path / "o", "trm_mlp")
    args = import_args(weights, "trm", tiny_maze_dir, tmp_path / "run")
    assert_refused(args, capsys, tmp_path, "seq_len 49", "expects 16")


def test_an_existing_directory_that_is_not_a_run_is_never_replaced(tmp_path, maze4_dir, capsys):
    weights = write_official_folder(tmp_path / "o", "hrm")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    args = import_args(weights, "hrm", maze4_dir, tmp_path / "run", "--overwrite")
    assert_refused(args, capsys, tmp_path, "not a ponder run directory")
