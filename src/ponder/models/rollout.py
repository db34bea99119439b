"""One rollout: a fresh carry, then N supervision segments of a model on one batch.

Training's evaluations, `ponder eval`, `ponder solve`, few-shot voting and the test-time
latent search all run a model this way; only what they keep differs:
- the last segment's outputs (always);
- `read(outputs)` after the last segment, and at the segment where the halting rule first
  says stop (the answer the model would have given had it halted there), with that segment;
- `grad_last`: the earlier segments run without gradient and the last one with it, so a
  caller inside `torch.enable_grad()` can backpropagate through one segment (latent search);
- `snapshots`: `read(outputs)` after each of these segments (exact-by-depth curves);
- `until_halt`: stop as soon as every row's rule has said halt (`--segments auto`: the
  answers that count are then those at each row's halting segment, `at_halt`).
Evaluation always runs all N segments (the papers evaluate at the limit) and reports what
the halting rule would have done.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import torch
from torch import nn

from ponder.models.base import ModelOutputs
from ponder.models.halting import HaltRule, halt_signal


@dataclass
class Rollout:
    outputs: ModelOutputs  # the last segment's outputs
    answer: torch.Tensor | None  # read(outputs) after the last segment (B, ...); None: no read
    at_halt: torch.Tensor | None  # read(...) at the segment the rule first says halt (B, ...)
    halt_step: torch.Tensor  # (B,) 1-based segment of the first "halt" (segments if never)
    snapshots: dict[int, torch.Tensor]  # segment -> read(outputs) after it


def rollout(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    segments: int,
    *,
    rule: HaltRule = "trm",
    read: Callable[[ModelOutputs], torch.Tensor] | None = None,
    grad_last: bool = False,
    snapshots: Collection[int] = (),
    until_halt: bool = False,
) -> Rollout:
    """Run `segments` segments from a fresh carry on `batch` (inputs (B, L), ...)."""
    b = batch["inputs"].shape[0]
    device = batch["inputs"].device
    carry = model.init_carry(b, device, batch["inputs"].shape[1])
    halt_step = torch.full((b,), segments, dtype=torch.long, device=device)
    answer = at_halt = None
    kept: dict[int, torch.Tensor] = {}
    for segment in range(1, segments + 1):
        with torch.set_grad_enabled(
            torch.is_grad_enabled() and _tracks(segment, segments, grad_last)
        ):
            carry, out = model(carry, batch)
        # A rule that says "halt" at the last segment changes nothing: it halts there anyway.
        newly = halt_signal(out, rule) & (halt_step == segments) & (segment < segments)
        halt_step = torch.where(newly, segment, halt_step)
        if read is not None:
            answer = read(out)  # (B, ...)
            not_yet = (halt_step >= segment).view(-1, *([1] * (answer.dim() - 1)))
            at_halt = answer if at_halt is None else torch.where(not_yet, answer, at_halt)
            if segment in snapshots:
                kept[segment] = answer
        if until_halt and bool((halt_step < segments).all()):
            break  # every row has halted: its answer is kept in at_halt
    return Rollout(out, answer, at_halt, halt_step, kept)


def _tracks(segment: int, segments: int, grad_last: bool) -> bool:
    """Whether this segment records gradients (when the caller's context does)."""
    return segment == segments or not grad_last
