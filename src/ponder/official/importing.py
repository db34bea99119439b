"""`ponder import hrm|trm CHECKPOINT`: an official checkpoint (pretrain.py's state dict and
the all_config.yaml beside it) as a ponder run directory that `ponder eval`, `ponder solve`
and `ponder train --resume` (fine-tuning from step 0) read.

Every check comes before anything is written: the run directory may be made (ponder's
rules), the file is a state dict of tensors (read without running code), the config is an
official one of this model, the dataset fits the weights (vocabulary, puzzle identifiers,
and the sequence length where the weights fix it), and every key and shape maps
(official_keys.from_official). The run is then built in a hidden sibling and renamed into
place. Its last checkpoint is what a fresh `ponder train` would hold at step 0 with these
weights: a fresh optimizer, EMA copy and batch rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import nn

from ponder.config import RunConfig, config_from_dict
from ponder.data.dataset import Dataset, check_spec
from ponder.fileio import atomic_write_text
from ponder.models import build_model, count_parameters
from ponder.models.official_keys import from_official, strip_prefix
from ponder.objectives import Objective
from ponder.official.all_config import (
    CONFIG_FILE,
    not_carried,
    official_steps,
    read_all_config,
    run_config_dict,
)
from ponder.official.staging import staged_directory
from ponder.official.state_file import read_state_dict
from ponder.runs import open_run_data
from ponder.train import checkpoint as ckpt
from ponder.train.engine import Trainer
from ponder.train.launch import make_loader
from ponder.train.rundir import CONFIG_NAME, check_run_dir, checkpoint_path
from ponder.train.runtime import Runtime, seed_everything

# Official weights with one row per position (puzzle tokens first): learned positions
# (seq_len + prefix, D) and TRM's MLP mixer's output projection (seq_len + prefix, inner).
PER_POSITION = ("inner.embed_pos.embedding_weight", "inner.L_level.layers.0.mlp_t.down_proj.weight")


@dataclass(frozen=True)
class Imported:
    run_dir: Path
    model: str
    parameters: int
    steps: int  # train.steps of a fine-tuning with `ponder train --resume`
    not_carried: list[str]  # official settings ponder does not reproduce


def import_checkpoint(
    model_name: str,
    checkpoint: Path,
    data: Path,
    out: Path,
    *,
    config_file: Path | None = None,
    task: str | None = None,
    steps: int | None = None,
    overwrite: bool = False,
) -> Imported:
    """Import an official `model_name` ("hrm" or "trm") checkpoint as the run `out`, for
    the dataset `data` (`task` names its task when it has no ponder.json). `config_file`:
    its all_config.yaml (default: beside the checkpoint). `steps`: train.steps for
    fine-tuning (default: the official epochs on this dataset, as pretrain.py counts)."""
    checkpoint, out = Path(checkpoint), Path(out)
    check_run_dir(out, overwrite=overwrite)  # refuses before any file is read
    official = read_state_dict(checkpoint)
    ckpt.require_finite(official, list(official), checkpoint)
    raw = read_all_config(config_file or checkpoint.parent / CONFIG_FILE, model_name)
    config = config_from_dict(run_config_dict(raw, Path(data), task, out, steps or 1))
    dataset, objective = open_run_data(config)
    if steps is None:
        md = dataset.train.metadata
        config = _with_steps(config, official_steps(raw, md.total_groups, md.mean_puzzle_examples))
    sizes = weights_spec(official, config.model.puzzle_emb_len)
    check_spec(dataset, sizes, f"checkpoint {checkpoint}")
    model = build_model(config.model, dataset.spec)
    model.load_state_dict(from_official(model, official))
    record = {"checkpoint": str(checkpoint), "sha256": _sha256(checkpoint), "model": model_name}
    with staged_directory(out, "import") as tmp:
        _write_run(tmp, config, model, dataset, objective, record)
    return Imported(out, model_name, count_parameters(model), config.train.steps, not_carried(raw))


def weights_spec(official: Mapping[str, torch.Tensor], prefix: int) -> dict[str, int]:
    """The dataset sizes the official weights fix: vocab_size (the token table's rows),
    num_puzzle_identifiers (the puzzle table's rows, one per identifier of the training
    dataset) and seq_len where the weights have one row per position (learned positions,
    TRM's MLP mixer; `prefix` puzzle tokens come first). A missing or odd weight is left to
    from_official to name."""
    weights = {strip_prefix(key): tensor for key, tensor in official.items()}
    rows = {key: int(t.shape[0]) for key, t in weights.items() if t.dim() == 2}
    spec = {}
    if "inner.embed_tokens.embedding_weight" in rows:
        spec["vocab_size"] = rows["inner.embed_tokens.embedding_weight"]
    if "inner.puzzle_emb.weights" in rows:
        spec["num_puzzle_identifiers"] = rows["inner.puzzle_emb.weights"]
    for key in PER_POSITION:
        if key in rows:
            spec["seq_len"] = rows[key] - prefix
    return spec


def _with_steps(config: RunConfig, steps: int) -> RunConfig:
    return config.model_copy(update={"train": config.train.model_copy(update={"steps": steps})})


def _write_run(
    run_dir: Path,
    config: RunConfig,
    model: nn.Module,
    data: Dataset,
    objective: Objective,
    record: dict,
) -> None:
    """config.yaml and checkpoints/last.safetensors: the trainer's state at step 0, seeded
    as `ponder train` seeds a fresh run, with the imported weights."""
    seed_everything(config.seed, config.deterministic)
    runtime = Runtime(device=torch.device("cpu"), dtype=torch.float32)
    loader, evaluate = make_loader(config, [data], objective, runtime)
    trainer = Trainer(config, model, loader, runtime, run_dir, evaluate, objective,
                      data.pinned_spec())  # fmt: skip
    tensors, state = trainer.checkpoint_tensors()
    state.pop("precision")  # nothing was measured: a resumed run settles its own precision
    state["imported"] = record
    atomic_write_text(run_dir / CONFIG_NAME, yaml.safe_dump(config.to_dict(), sort_keys=False))
    ckpt.save_checkpoint(checkpoint_path(run_dir, "last"), tensors, state)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
