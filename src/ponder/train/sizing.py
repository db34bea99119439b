"""Will a run fit? Its training memory, estimated on the meta device (shapes only, no
memory allocated) before the real model is built, so that `model.hidden_size: 1000000` or
`train.global_batch_size: 1000000000` is refused in one line instead of failing in the
allocator, being killed for memory, or swapping for an hour."""

from __future__ import annotations

import dataclasses
import math
import os

import torch
from torch import nn

from ponder.config import RunConfig
from ponder.errors import UserError
from ponder.models import DataSpec, build_model, count_parameters

# Bytes each parameter needs while training in fp32: the weight, its gradient and AdamW's
# two moments; the EMA keeps a fifth copy.
BYTES_PER_PARAMETER = 16
EMA_BYTES_PER_PARAMETER = 4
# Per example of a device's batch, every figure a lower bound, so that a run refused can
# never have fitted: the engine holds each row's carry and makes the next one (2 carries);
# the backward pass keeps at least this many fp32 hidden states [L, hidden_size] per
# example (one TRM or transformer layer alone keeps about ten); the logits [L, V] and their
# gradient in fp32; inputs and labels as int64, in the batch and in the engine's rows.
CARRY_COPIES = 2
ACTIVATION_STATES = 8
LOGIT_COPIES = 2
TOKEN_ARRAYS = 4
FP32, INT64 = 4, 8


def check_model_fits(
    config: RunConfig, spec: DataSpec, device: torch.device, world_size: int = 1
) -> None:
    """UserError when the model of `config`, with its share of train.global_batch_size
    (split over `world_size` ranks), cannot train on `device` even by the lower bounds
    above."""
    with torch.device("meta"):
        model = build_model(config.model, spec)
    have = device_memory(device)
    if have is None:
        return
    model_bytes = training_bytes(model, ema=config.train.ema)
    where = f"the {_gib(have)} of this {device.type} device"
    if model_bytes > have:
        raise UserError(
            f"model {config.model.name} has {count_parameters(model):,} parameters and needs "
            f"at least {_gib(model_bytes)} to train, more than {where}; make "
            "model.hidden_size or the number of layers smaller"
        )
    per_example = example_bytes(model, config, spec)
    rows = math.ceil(config.train.global_batch_size / world_size)
    if model_bytes + rows * per_example > have:
        raise UserError(
            f"train.global_batch_size {config.train.global_batch_size} needs at least "
            f"{_gib(model_bytes + rows * per_example)} to train ({_kib(per_example)} per "
            f"example for its inputs, carry and activations, {rows:,} examples per device), "
            f"more than {where}; make train.global_batch_size smaller"
        )


def training_bytes(model: nn.Module, *, ema: bool) -> int:
    per_parameter = BYTES_PER_PARAMETER + (EMA_BYTES_PER_PARAMETER if ema else 0)
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return count_parameters(model) * per_parameter + buffers


def example_bytes(model: nn.Module, config: RunConfig, spec: DataSpec) -> int:
    """The least memory one example of a training batch takes (see CARRY_COPIES...)."""
    length = spec.seq_len
    carry = model.init_carry(1, "meta", length)  # the model's own carry, on the meta device
    carry_bytes = sum(
        t.numel() * t.element_size()
        for t in (getattr(carry, f.name) for f in dataclasses.fields(carry))
    )
    width = getattr(config.model, "hidden_size", None) or config.model.width  # dt: width
    hidden = ACTIVATION_STATES * length * width * FP32
    logits = LOGIT_COPIES * length * spec.vocab_size * FP32
    return CARRY_COPIES * carry_bytes + hidden + logits + TOKEN_ARRAYS * length * INT64


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


def _kib(n_bytes: int) -> str:
    return f"{n_bytes / 2**10:,.1f} KiB"
