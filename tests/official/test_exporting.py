"""`ponder export hrm|trm`: an imported run exported gives back the official state dict bit
for bit and an all_config.yaml that reads back to the same model; a run the official code
cannot build is refused, naming the key, with nothing written."""

from __future__ import annotations

import pytest
import torch
import yaml
from official_support import (
    CONFIGS,
    fixture_weights,
    import_args,
    official_model,
    write_official_folder,
)
from refusals import assert_refused
from support import run

from ponder.config import config_from_dict
from ponder.models.official_keys import CHECKPOINT_PREFIX, config_from_official
from ponder.train.checkpoint import load_checkpoint, save_checkpoint

# The keys the official PretrainConfig requires (HRM's and TRM's alike), besides the data.
REQUIRED = ("arch", "global_batch_size", "epochs", "lr", "lr_min_ratio", "lr_warmup_steps",
            "weight_decay", "beta1", "beta2", "puzzle_emb_lr", "puzzle_emb_weight_decay")  # fmt: skip


def _imported(tmp_path, config: str, maze4_dir, capsys):
    weights = write_official_folder(tmp_path / "official", config)
    run_dir = tmp_path / "run"
    code, _, err = run(import_args(weights, official_model(config), maze4_dir, run_dir), capsys)
    assert code == 0, err
    return run_dir


@pytest.mark.parametrize("config", CONFIGS)
def test_import_then_export_gives_back_the_official_checkpoint(config, tmp_path, maze4_dir, capsys):  # fmt: skip
    run_dir, model = _imported(tmp_path, config, maze4_dir, capsys), official_model(config)
    code, _, err = run(["export", model, run_dir, "--out", tmp_path / "export"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["all_config.yaml", "step_0"]
    back = torch.load(tmp_path / "export" / "step_0", weights_only=True)
    original = {CHECKPOINT_PREFIX + k: v for k, v in fixture_weights(config).items()}
    assert set(back) == set(original)
    for key, tensor in original.items():
        assert back[key].dtype == tensor.dtype and torch.equal(back[key], tensor), key
    raw = yaml.safe_load((tmp_path / "export" / "all_config.yaml").read_text())
    assert set(REQUIRED) <= set(raw) and ("data_path" in raw or "data_paths" in raw)
    run_config = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    assert config_from_official(raw["arch"]) == run_config.model


def test_an_export_is_replaced_only_with_overwrite(tmp_path, maze4_dir, capsys):
    run_dir = _imported(tmp_path, "hrm", maze4_dir, capsys)
    args = ["export", "hrm", run_dir, "--out", tmp_path / "export"]
    assert run(args, capsys)[0] == 0
    assert_refused(args, capsys, tmp_path, "already holds an export", "--overwrite")
    assert run([*args, "--overwrite"], capsys)[0] == 0
    (tmp_path / "export" / "notes.txt").write_text("mine")
    assert_refused([*args, "--overwrite"], capsys, tmp_path, "notes.txt", "does not write")


def _with_model(run_dir, **model) -> None:
    """Edit the run's config.yaml: the refusal comes before its checkpoint is read."""
    path = run_dir / "config.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["model"].update(model)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.mark.parametrize(
    "config, change, words",
    [
        ("trm_attention", {"pos_encoding": "rope2d"}, ["model.pos_encoding \"rope2d\""]),
        ("trm_attention", {"q_pool": "mean"}, ["model.q_pool \"mean\""]),
        ("trm_attention", {"output_skip": True}, ["model.output_skip true"]),
        ("trm_attention", {"grid_encoder": True}, ["model.grid_encoder true"]),
        ("trm_attention", {"attn_window": 1}, ["model.attn_window 1"]),
        ("trm_attention", {"ffn_multiple_of": 16}, ["model.ffn_multiple_of 16", "builds 256"]),
        ("trm_attention", {"mixer": "conv", "puzzle_emb_len": 0, "puzzle_emb_dim": 0},
         ["model.mixer \"conv\""]),
        ("trm_mlp", {"mlp_mixer_norm": "hidden"}, ["model.mlp_mixer_norm \"hidden\""]),
        ("trm_attention", {"q_continue": False}, ["model.q_continue false"]),
        ("hrm", {"pos_encoding": "none"}, ["pos_encodings 'none'"]),
    ],
    ids=["rope2d", "q_pool", "output_skip", "grid_encoder", "window", "ffn", "conv",
         "mlp_norm", "q_continue", "hrm_positions"],
)  # fmt: skip
def test_a_run_the_official_code_cannot_build_is_refused(config, change, words, tmp_path, maze4_dir, capsys):  # fmt: skip
    run_dir = _imported(tmp_path, config, maze4_dir, capsys)
    _with_model(run_dir, **change)
    args = ["export", official_model(config), run_dir, "--out", tmp_path / "export"]
    assert_refused(args, capsys, tmp_path, "cannot export", *words)


def test_an_initialisation_only_key_does_not_stop_an_export(tmp_path, maze4_dir, capsys):
    """halt_bias_init sets the q head's bias before training; the weights carry the rest."""
    run_dir = _imported(tmp_path, "hrm", maze4_dir, capsys)
    _with_model(run_dir, halt_bias_init=-2.0)
    code, _, err = run(["export", "hrm", run_dir, "--out", tmp_path / "export"], capsys)
    assert code == 0, err


def test_the_wrong_model_name_is_refused(tmp_path, maze4_dir, capsys):
    run_dir = _imported(tmp_path, "hrm", maze4_dir, capsys)
    args = ["export", "trm", run_dir, "--out", tmp_path / "export"]
    assert_refused(args, capsys, tmp_path, "has model hrm, not trm")


def test_a_run_with_an_ema_exports_its_average(tmp_path, maze4_dir, capsys):
    """Where the checkpoint holds an EMA copy, that is what the export holds (the official
    TRM saves its EMA copy too): here an EMA set to the weights + 1, told apart from them."""
    run_dir = _imported(tmp_path, "trm_attention", maze4_dir, capsys)
    path = run_dir / "checkpoints" / "last.safetensors"
    tensors, state = load_checkpoint(path)
    model = {k: v for k, v in tensors.items() if k.startswith("model.")}
    averaged = {"ema.module." + k.removeprefix("model."): v + 1 for k, v in model.items()}
    save_checkpoint(path, {**tensors, **averaged}, state)
    code, _, err = run(["export", "trm", run_dir, "--out", tmp_path / "export"], capsys)
    assert code == 0, err
    back = torch.load(tmp_path / "export" / "step_0", weights_only=True)
    want = {CHECKPOINT_PREFIX + k: v + 1 for k, v in fixture_weights("trm_attention").items()}
    assert set(back) == set(want)
    for key, tensor in want.items():
        assert torch.equal(back[key], tensor.to(back[key].dtype)), key
