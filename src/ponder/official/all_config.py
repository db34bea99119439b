"""The official run config, all_config.yaml (pretrain.py's `yaml.dump(config.model_dump())`),
read into a ponder run config and written from one.

Its `arch` section is the model (ponder.models.official_keys maps it) plus the halting keys
and the loss; its other keys are training settings. Each official key maps to one ponder
key here and nowhere else:

    global_batch_size -> train.global_batch_size    lr, lr_min_ratio -> train.lr, lr_min_ratio
    lr_warmup_steps -> train.warmup_steps           beta1, beta2 -> train.betas
    weight_decay -> train.weight_decay              puzzle_emb_lr, puzzle_emb_weight_decay -> same
    ema, ema_rate (TRM) -> train.ema, ema_rate      seed -> seed
    epochs -> train.steps (pretrain.py's total_steps: epochs x groups x mean examples / batch)
    arch.loss.loss_type -> train.loss               arch.forward_dtype -> precision
    arch.halt_max_steps, halt_exploration_prob, no_ACT_continue -> train.N_sup, ... , halting

and the official code's fixed choices (OFFICIAL_TRAIN): AdamATan2, its cosine schedule
(cosine_official), sign-SGD puzzle table, no gradient clipping, halting loss weight 0.5
(ACTLossHead: lm_loss + 0.5 x (q_halt + q_continue losses)); an import also logs the
official training metrics (train.official_metrics).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ponder.config import RunConfig
from ponder.errors import UserError
from ponder.fileio import read_yaml_file
from ponder.models.official_keys import (
    config_from_official,
    official_model_name,
    official_train_keys,
)

CONFIG_FILE = "all_config.yaml"  # pretrain.py writes it beside its checkpoints
ARCH_NAMES = {
    "trm": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    "hrm": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
}
LOSS_HEAD = "losses@ACTLossHead"
LOSS_TYPES = {"stablemax_cross_entropy": "stablemax", "softmax_cross_entropy": "softmax"}
# forward_dtype -> precision: bf16 and fp16 become auto (bf16 on a GPU that has it, the
# faster of fp32 and bf16 on a CPU; ponder runs no fp16 on a CPU).
PRECISIONS = {"float32": "fp32", "bfloat16": "auto", "float16": "auto"}
# The keys the official PretrainConfig requires besides arch and the data path(s).
REQUIRED = (
    "global_batch_size", "epochs", "lr", "lr_min_ratio", "lr_warmup_steps",
    "weight_decay", "beta1", "beta2", "puzzle_emb_lr", "puzzle_emb_weight_decay",
)  # fmt: skip
# What pretrain.py always does, as ponder's train keys (its cosine schedule reaches
# lr_min_ratio, counting steps from 1; AdamATan2 decays biases as weights,
# vector_weight_decay null).
OFFICIAL_TRAIN = {
    "schedule": "cosine_official", "optimizer": "adam_atan2", "vector_weight_decay": None,
    "puzzle_emb_optimizer": "signsgd", "grad_clip": 0.0, "halt_loss_weight": 0.5,
    "label_smoothing": 0.0, "label_change_weight": 1.0, "halt_min_steps": 1,
    "random_depth": False, "progressive_segments": 0, "progressive_alpha": None,
}  # fmt: skip
# Official keys ponder has no place for, with the value that changes nothing.
NOT_CARRIED = {
    "eval_interval": None, "evaluators": [], "data_paths_test": [], "freeze_weights": False,
    "min_eval_interval": 0, "checkpoint_every_eval": False, "eval_save_outputs": [],
}  # fmt: skip


def read_all_config(path: Path, model_name: str) -> dict[str, Any]:
    """all_config.yaml's mapping, checked: an arch section of `model_name` ("hrm" or
    "trm") with a known loss, and every training key the official code requires."""
    raw = read_yaml_file(Path(path), "official config")
    arch = raw.get("arch")
    if not isinstance(arch, dict):
        raise UserError(f"official config {path} has no arch section (a mapping)")
    found = official_model_name(arch)
    if found != model_name:
        raise UserError(f"official config {path} describes a {found} model, not {model_name}")
    loss = arch.get("loss")
    loss_type = loss.get("loss_type") if isinstance(loss, dict) else None
    if loss_type not in LOSS_TYPES:
        raise UserError(
            f"official config {path}: arch.loss.loss_type {loss_type!r} is not one of "
            f"{', '.join(LOSS_TYPES)}"
        )
    for key in REQUIRED:
        if key not in raw:
            raise UserError(f"official config {path} lacks {key!r} (the official code needs it)")
    return raw


def official_steps(raw: dict[str, Any], total_groups: int, mean_examples: float) -> int:
    """pretrain.py's total_steps for `epochs` on a dataset of this size (at least 1)."""
    total = raw["epochs"] * total_groups * mean_examples / raw["global_batch_size"]
    return max(1, int(total))


def run_config_dict(
    raw: dict[str, Any], data: Path, task: str | None, run_dir: Path, steps: int
) -> dict[str, Any]:
    """The ponder run config (as a raw mapping, for config_from_dict to check) of an
    official all_config.yaml, reading `data` and living in `run_dir`."""
    arch = raw["arch"]
    precision = PRECISIONS.get(str(arch.get("forward_dtype", "bfloat16")), "auto")
    return {
        "name": run_dir.name,
        "run_dir": str(run_dir),
        "seed": raw.get("seed", 0),
        "precision": precision,
        "data": {"path": str(data), "task": task},
        "model": config_from_official(arch).model_dump(mode="json"),
        "train": _train_section(raw, steps),
    }


def _train_section(raw: dict[str, Any], steps: int) -> dict[str, Any]:
    arch = raw["arch"]
    return {
        "steps": steps,
        "global_batch_size": raw["global_batch_size"],
        "lr": raw["lr"],
        "lr_min_ratio": raw["lr_min_ratio"],
        "warmup_steps": raw["lr_warmup_steps"],
        "betas": [raw["beta1"], raw["beta2"]],
        "weight_decay": raw["weight_decay"],
        "puzzle_emb_lr": raw["puzzle_emb_lr"],
        "puzzle_emb_weight_decay": raw["puzzle_emb_weight_decay"],
        "loss": LOSS_TYPES[arch["loss"]["loss_type"]],
        **OFFICIAL_TRAIN,
        "ema": raw.get("ema", False),
        "ema_rate": raw.get("ema_rate", 0.999),
        **official_train_keys(arch),
        "official_metrics": True,  # the log then has the official accuracy metrics too
    }


def not_carried(raw: dict[str, Any]) -> list[str]:
    """The official keys set to something ponder does not reproduce, e.g. 'eval_interval 10000'."""
    return [
        f"{key} {raw[key]!r}"
        for key, neutral in NOT_CARRIED.items()
        if key in raw and raw[key] != neutral
    ]


# --------------------------------------------------------------------------- writing


def arch_from_run(config: RunConfig) -> dict[str, Any]:
    """The official arch section of a ponder TRM or HRM run (the model, its halting keys,
    its loss). Whether the official code builds the same model is the caller's check."""
    model, train = config.model, config.train
    losses = {ponder: official for official, ponder in LOSS_TYPES.items()}
    arch: dict[str, Any] = {
        "name": ARCH_NAMES[model.name],
        "loss": {"name": LOSS_HEAD, "loss_type": losses[train.loss]},
        "halt_exploration_prob": train.halt_exploration_prob,
        "halt_max_steps": train.N_sup,
        "hidden_size": model.hidden_size,
        "num_heads": model.num_heads,
        "expansion": model.expansion,
        "puzzle_emb_ndim": _puzzle_ndim(model),
        "pos_encodings": model.pos_encoding,
        "forward_dtype": "float32" if config.precision == "fp32" else "bfloat16",
    }
    if model.name == "hrm":
        keys = ("H_cycles", "L_cycles", "H_layers", "L_layers")
        return {**arch, **{key: getattr(model, key) for key in keys}}
    return {
        **arch,
        "H_cycles": model.T,
        "L_cycles": model.n,
        "H_layers": 0,  # the official TRM ignores it; its one net is L_level
        "L_layers": model.num_layers,
        "mlp_t": model.mixer == "mlp",
        "puzzle_emb_len": model.puzzle_emb_len,
        "no_ACT_continue": train.halting != "hrm",
    }


def _puzzle_ndim(model) -> int:
    """puzzle_emb_ndim: ponder's puzzle_emb_dim, whose 0 means hidden_size (with a table)."""
    if model.puzzle_emb_len == 0:
        return 0
    return model.puzzle_emb_dim or model.hidden_size


def all_config_from_run(config: RunConfig, arch: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The whole all_config.yaml of a run: the keys the official PretrainConfig dumps
    (HRM's or TRM's), filled from the run's config."""
    train, name = config.train, config.model.name
    data = {"data_path": config.data.path}
    if name == "trm":
        data = {"data_paths": [config.data.path], "data_paths_test": [], "evaluators": []}
    out: dict[str, Any] = {
        "arch": arch,
        **data,
        "global_batch_size": train.global_batch_size,
        "epochs": epochs,
        "lr": train.lr,
        "lr_min_ratio": train.lr_min_ratio,
        "lr_warmup_steps": train.warmup_steps,
        "weight_decay": train.weight_decay,
        "beta1": train.betas[0],
        "beta2": train.betas[1],
        "puzzle_emb_lr": train.puzzle_emb_lr,
        "puzzle_emb_weight_decay": train.puzzle_emb_weight_decay,
        "project_name": None,
        "run_name": config.name,
        "checkpoint_path": None,
        "seed": config.seed,
        "checkpoint_every_eval": False,
        "eval_interval": None,
        "eval_save_outputs": [],
    }
    if name == "trm":
        out.update(load_checkpoint=None, min_eval_interval=0, ema=train.ema,
                   ema_rate=train.ema_rate, freeze_weights=False)  # fmt: skip
    return out


def train_notes(config: RunConfig) -> list[str]:
    """The run's training settings all_config.yaml cannot hold, e.g. 'train.grad_clip 1.0
    (the official code: 0.0)'; they do not change the weights, only how training went on."""
    train = config.train
    notes = [
        f"train.{key} {getattr(train, key)!r} (the official code: {value!r})"
        for key, value in OFFICIAL_TRAIN.items()
        if getattr(train, key) != value
    ]
    if train.halting == "none" or (config.model.name == "hrm" and train.halting != "hrm"):
        rule = "q_halt > q_continue" if config.model.name == "hrm" else "its q head"
        notes.append(f"train.halting {train.halting!r} (the official code halts by {rule})")
    return notes


def official_epochs(steps: int, batch: int, total_groups: int, mean_examples: float) -> int:
    """The epochs whose pretrain.py total_steps is about `steps` (at least 1)."""
    return max(1, math.ceil(steps * batch / max(total_groups * mean_examples, 1e-9)))
