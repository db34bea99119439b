"""Will a model fit? Its training memory, estimated on the meta device (shapes only, no
memory allocated) before the real model is built, so that `model.hidden_size: 1000000`
is refused in one line instead of failing in the allocator, or swapping for an hour."""

from __future__ import annotations

import os

import torch
from torch import nn

from ponder.config import RunConfig
from ponder.errors import UserError
from ponder.models import DataSpec, build_model, count_parameters

# Bytes each parameter needs while training in fp32: the weight, its gradient and AdamW's
# two moments; the EMA keeps a fifth copy. Activations come on top: this is a lower bound,
# so a model it refuses can never have fitted.
BYTES_PER_PARAMETER = 16
EMA_BYTES_PER_PARAMETER = 4


def check_model_fits(config: RunConfig, spec: DataSpec, device: torch.device) -> None:
    """UserError when the model of `config` cannot train on `device` even before its
    activations are counted."""
    with torch.device("meta"):
        model = build_model(config.model, spec)
    need = training_bytes(model, ema=config.train.ema)
    have = device_memory(device)
    if have is not None and need > have:
        raise UserError(
            f"model {config.model.name} has {count_parameters(model):,} parameters and needs "
            f"at least {_gib(need)} to train, more than the {_gib(have)} of this {device.type} "
            "device; make model.hidden_size or the number of layers smaller"
        )


def training_bytes(model: nn.Module, *, ema: bool) -> int:
    per_parameter = BYTES_PER_PARAMETER + (EMA_BYTES_PER_PARAMETER if ema else 0)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return count_parameters(model) * per_parameter + buffers


def device_memory(device: torch.device) -> int | None:
    """Total memory of the device in bytes (a CPU or MPS device: the machine's RAM), or
    None where the platform does not say."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):  # no sysconf (Windows) or no such name
        return None


def _gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:,.1f} GiB"
