"""Where and how a run executes: device, precision, distributed ranks, determinism."""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ponder.errors import UserError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    dtype: torch.dtype  # autocast dtype; float32 means no autocast
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)


def pick_device(choice: str) -> torch.device:
    """CUDA, then MPS, then CPU; an explicit choice must be available."""
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError("device 'cuda' was requested but CUDA is not available")
    if choice == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' was requested but MPS is not available")
    if choice == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(choice)


def cpu_has_fast_bf16() -> bool:
    """bf16 is only fast on CPUs with AMX or AVX512-BF16; elsewhere it is emulated and can
    be 100x slower than fp32 (measured on this project's CI machines)."""
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    avx = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    return bool(amx or avx)


def pick_dtype(choice: str, device: torch.device) -> torch.dtype:
    if choice == "fp32":
        return torch.float32
    if choice == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UserError(
                f"precision 'bf16' is not supported by {torch.cuda.get_device_name(device)}; "
                "use fp16 or fp32"
            )
        return torch.bfloat16
    if choice == "fp16":
        if device.type == "cpu":
            raise UserError("precision 'fp16' is not supported on the CPU; use bf16 or fp32")
        return torch.float16
    # auto, before the model exists: bf16 where the hardware makes it fast, else fp32.
    # Training settles it by measurement (ponder.train.precision).
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size == 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def make_runtime(device: str, precision: str, flush_denormal: bool = False) -> Runtime:
    """The device, dtype and ranks of a run; call it before any parallel torch op, so that
    `flush_denormal` (subnormals as zero) reaches the CPU thread pool, which copies the
    floating-point mode of the thread that starts it."""
    if flush_denormal:
        torch.set_flush_denormal(True)
    dev = pick_device(device)
    rank, world = init_distributed(dev)
    return Runtime(device=dev, dtype=pick_dtype(precision, dev), rank=rank, world_size=world)


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed torch and python RNGs (numpy randomness is always passed in as a Generator)."""
    random.seed(seed)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # only for third-party code; ponder never reads it
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
