"""Resuming a run: a checkpoint's JSON state checked key by key, and the refusal to resume
a run whose config.yaml changed since the checkpoint was written."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from ponder.config import RunConfig, config_differences
from ponder.config_migration import migrate_moved_keys
from ponder.errors import UserError
from ponder.train import checkpoint as ckpt


class _ResumeState(BaseModel):
    """The JSON part of a checkpoint that resuming reads, checked before any of it is used
    (a hand-edited or damaged file must not end in a KeyError or a ValueError)."""

    model_config = ConfigDict(extra="allow")
    step: StrictInt = Field(ge=0)
    best: float | None = None
    world_size: StrictInt = Field(1, gt=0)
    optim: dict
    rng: dict
    stop_rules: dict = {}
    top_checkpoints: list[tuple[float, StrictInt]] = []
    loader: dict = {}
    data_spec: dict = {}
    config: dict | None = None  # what the run was trained with (None in old checkpoints)
    precision: dict = {}  # {"name": "bf16", "device": "cpu"}: kept by a resumed auto run


def load_resumable(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """A checkpoint's tensors and its checked JSON state, every key of _ResumeState present."""
    tensors, state = ckpt.load_checkpoint(path)
    try:
        checked = _ResumeState.model_validate(state)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise UserError(
            f"checkpoint {path} cannot be resumed: '{key}': {first['msg'].lower()}"
        ) from None
    return tensors, checked.model_dump()


def check_resume_config(state: dict, config: RunConfig, path: Path) -> None:
    """Refuse to resume a run whose config.yaml was edited since its checkpoint: a changed
    architecture would not load, and a changed train.lr would quietly train on at another
    rate. Where the run lives and on what device may change. A step past train.steps is
    one no run of this config reached: the checkpoint was damaged or edited."""
    if state["step"] > config.train.steps:
        raise UserError(
            f"checkpoint {path} cannot be resumed: its step {state['step']} is past "
            f"train.steps ({config.train.steps})"
        )
    saved = state.get("config")
    if saved is None:  # written before checkpoints held their config: the weights are checked
        return
    saved = copy.deepcopy(saved)
    migrate_moved_keys(saved)  # a checkpoint written before keys moved names them the old way
    diffs = config_differences(saved, config.to_dict(), common_only=True)
    if diffs:
        shown = "; ".join(
            f"{key} ({old!r} in the checkpoint, {new!r} now)" for key, old, new in diffs[:3]
        )
        more = f" and {len(diffs) - 3} more" if len(diffs) > 3 else ""
        raise UserError(
            f"cannot resume {config.resolved_run_dir()}: its config.yaml was changed since "
            f"{path.name} was written, at {shown}{more}; undo the change or start a new run"
        )
