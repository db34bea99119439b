"""`compile: true`: torch.compile of the recursion block, or the eager model and a reason.

The block a recursive model applies many times per step (every `Trunk`: TRM's net, HRM's
H and L, a transformer's stack) is compiled in place: its `forward` is replaced on the
instance, so parameter names, checkpoints and DDP see the same module, and a deep copy (the
EMA) runs its own weights. torch.compile is
lazy, so a missing C++ compiler or an unsupported operation surfaces on the first call:
`compile_model` runs one probe there (forward and backward of a real batch) and on any
failure puts the eager forwards back and says why. Later failures (a new shape at an
evaluation) fall back to eager per call, through dynamo's own error suppression.

Measured on the project's 2-core CPU (docs/results.md, "Speed"): the fusion of the small
elementwise kernels (RMSNorm, rotary, SwiGLU, softmax) is what it buys there.
"""

from __future__ import annotations

import types
from collections.abc import Callable

import torch
from torch import nn

from ponder.models.trunk import Trunk


def recursion_blocks(model: nn.Module) -> list[nn.Module]:
    """The model's Trunk modules (the blocks it recurses with); [] for models built of other
    layers (the few-shot sequence models)."""
    return [module for module in model.modules() if isinstance(module, Trunk)]


def compile_model(model: nn.Module, probe: Callable[[], None], warn: Callable[[str], None]) -> bool:
    """Compile the model's recursion blocks in place and run `probe` (which calls the model);
    True when compiled. On failure the model is left eager, `warn` gets one line, and no
    exception escapes."""
    blocks = recursion_blocks(model)
    if not blocks:
        warn(f"compile: {type(model).__name__} has no recursion block to compile; running eager")
        return False
    compiled = {}
    for block in blocks:
        # The class's forward compiled once, bound to each block as an instance attribute:
        # parameter names stay, and a deep copy (the EMA's averaged model) rebinds it to
        # the copy, where a compiled bound method would still run the original's weights.
        kind = type(block)
        compiled.setdefault(kind, torch.compile(kind.forward))
        block.forward = types.MethodType(compiled[kind], block)
    torch._dynamo.config.suppress_errors = False  # the probe must see a failure
    try:
        probe()
    except Exception as err:  # noqa: BLE001 - any compiler failure means: run eager
        uncompile(blocks)
        lines = str(err).strip().splitlines()
        reason = lines[0][:200] if lines else type(err).__name__
        warn(f"compile: torch.compile failed ({reason}); running the eager model")
        return False
    finally:
        torch._dynamo.config.suppress_errors = True  # later: a failing call runs eager
    return True


def uncompile(blocks: list[nn.Module]) -> None:
    """Put the eager forwards back (the class's own method shows through again)."""
    for block in blocks:
        block.__dict__.pop("forward", None)
    torch._dynamo.reset()
