"""`ponder export hrm|trm RUN --out DIR`: a ponder run as an official checkpoint folder, the
files the official evaluate.py reads: `step_<N>` (torch.save of the state dict under the
names pretrain.py's checkpoints carry, `_orig_mod.model.inner.*`) and all_config.yaml.

Only a run whose model the official code builds exactly is exported: its arch section is
read back through official_keys.config_from_official and must give the run's model config
(up to keys that do not shape the weights), so a ponder-only option (conv or windowed
mixer, rope2d, q_pool mean, output_skip, grid or demonstration encoders, the MLP mixer's
norm over the channels, ponder's FFN rounding) is refused, naming the key. The weights
are the ones `ponder eval` judges: the best checkpoint (else the last), its EMA copy when
the run kept one, as pretrain.py saves the EMA copy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from ponder.config import RunConfig, config_from_dict
from ponder.data.format import load_metadata
from ponder.errors import UserError
from ponder.fileio import atomic_write_text, check_output_dir, first_foreign
from ponder.models import DataSpec, build_model
from ponder.models.official_keys import config_from_official, to_official
from ponder.official.all_config import (
    CONFIG_FILE,
    all_config_from_run,
    arch_from_run,
    official_epochs,
    train_notes,
)
from ponder.official.staging import staged_directory
from ponder.official.state_file import write_state_dict
from ponder.train import checkpoint as ckpt
from ponder.train.rundir import checkpoint_path, read_run_config

WEIGHTS_FILE = re.compile(r"step_\d+")  # pretrain.py's name; evaluate.py reads the step from it
FORWARD_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Exported:
    out: Path
    weights: Path  # out/step_<N>
    source: Path  # the run's checkpoint exported
    notes: list[str]  # training settings all_config.yaml cannot hold


def export_run(model_name: str, run_dir: Path, out: Path, *, overwrite: bool = False) -> Exported:
    """Export the `model_name` ("hrm" or "trm") run `run_dir` to the folder `out` (an
    existing export there is replaced only with `overwrite`)."""
    run_dir, out = Path(run_dir), Path(out)
    config = config_from_dict(read_run_config(run_dir))
    if config.model.name != model_name:
        raise UserError(f"run {run_dir} has model {config.model.name}, not {model_name}")
    arch = arch_from_run(config)
    check_expressible(config, arch, run_dir)
    check_export_dir(out, overwrite)
    source, state, official = _official_weights(config, run_dir)
    official = _initial_states_as(official, FORWARD_DTYPES[arch["forward_dtype"]])
    epochs, notes = _epochs(config)
    all_config = all_config_from_run(config, arch, epochs)
    name = f"step_{state.get('step', 0)}"
    with staged_directory(out, "export") as tmp:
        write_state_dict(tmp / name, official)
        atomic_write_text(tmp / CONFIG_FILE, yaml.safe_dump(all_config, sort_keys=False))
    return Exported(out, out / name, source, notes + train_notes(config))


def check_expressible(config: RunConfig, arch: dict, run_dir: Path) -> None:
    """The official code builds exactly the run's model from `arch`; else UserError naming
    the first model key it cannot have."""
    name = config.model.name
    try:
        back = config_from_official(arch)
    except UserError as err:
        raise UserError(
            f"cannot export {run_dir}: the official {name} code refuses it ({err})"
        ) from None
    ours, theirs = _comparable(config.model), _comparable(back)
    for key, value in ours.items():
        if value != theirs.get(key):
            raise UserError(
                f"cannot export {run_dir}: the official {name} code has no model.{key} "
                f"{_show(value)} (it builds {_show(theirs.get(key))})"
            )


def _comparable(model) -> dict:
    """The model config without what does not shape the weights or what they compute:
    halt_bias_init (an initialisation the trained bias replaced), HRM's unused num_layers,
    official_sum_order (the order of a sum: rounding, not the function);
    puzzle_emb_dim 0 written as the hidden_size it means."""
    values = model.model_dump(mode="json")
    values.pop("halt_bias_init")
    values.pop("official_sum_order")
    if model.name == "hrm":
        values.pop("num_layers")
    if model.puzzle_emb_len and not model.puzzle_emb_dim:
        values["puzzle_emb_dim"] = model.hidden_size
    return values


def _show(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_export_dir(out: Path, overwrite: bool) -> None:
    """`out` may be written: new, empty, or (with `overwrite`) an earlier export, holding
    nothing but all_config.yaml and step_<N> files."""
    check_output_dir(out, "--out")
    if not out.exists() or not any(out.iterdir()):
        return
    foreign = first_foreign(out, _written_by_export)
    if foreign is not None:
        raise UserError(
            f"--out {out} holds {foreign.as_posix()!r}, which ponder export does not write; "
            "give a new folder"
        )
    if not overwrite:
        raise UserError(f"--out {out} already holds an export; pass --overwrite to replace it")


def _written_by_export(relative: Path, is_dir: bool) -> bool:
    top = relative.parent == Path(".")
    return top and not is_dir and (relative.name == CONFIG_FILE or bool(WEIGHTS_FILE.fullmatch(relative.name)))  # fmt: skip


def _official_weights(config: RunConfig, run_dir: Path) -> tuple[Path, dict, dict]:
    """(checkpoint read, its JSON state, the weights under official checkpoint names): the
    best checkpoint, else the last, its EMA copy when it has one; every tensor checked
    against the model the run's config builds."""
    path = checkpoint_path(run_dir, "best")
    if not path.exists():
        path = checkpoint_path(run_dir, "last")
    tensors, state = ckpt.load_checkpoint(path)
    model = build_model(config.model, _trained_spec(state, path))
    prefix = "ema.module." if any(k.startswith("ema.module.") for k in tensors) else "model."
    ckpt.load_module_state(model, tensors, prefix, path)
    return path, state, to_official(config.model.name, model.state_dict())


def _trained_spec(state: dict, path: Path) -> DataSpec:
    """The sizes of the dataset the run trained on, as its checkpoint records them."""
    saved = state.get("data_spec") or {}
    sizes = {key: saved.get(key) for key in ("vocab_size", "seq_len", "num_puzzle_identifiers")}
    if not all(isinstance(v, int) and v > 0 for v in sizes.values()):
        raise UserError(f"checkpoint {path} does not record its dataset's sizes (data_spec)")
    return DataSpec(**sizes)


def _initial_states_as(official: dict, dtype: torch.dtype) -> dict:
    """H_init and L_init in the forward dtype: the official models create them so, and
    load_state_dict(assign=True) in evaluate.py keeps a checkpoint's dtype."""
    initial = ("inner.H_init", "inner.L_init")
    return {k: v.to(dtype) if k.endswith(initial) else v for k, v in official.items()}


def _epochs(config: RunConfig) -> tuple[int, list[str]]:
    """all_config's epochs for train.steps on the run's dataset, and a note when the
    dataset is not there to count."""
    train = config.train
    try:
        md = load_metadata(Path(config.data.path), "train")
    except UserError:
        return 1, [f"epochs 1: no dataset at data.path {config.data.path} to count train.steps"]
    steps, batch = train.steps, train.global_batch_size
    return official_epochs(steps, batch, md.total_groups, md.mean_puzzle_examples), []
