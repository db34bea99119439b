"""Parameter parity: resize a candidate model until its parameter count is within a
tolerance of a reference model's, so comparisons are at equal size.

- hold="depth" (default): keep the candidate's depth, search its width (hidden size, with
  the number of heads following a fixed head size, and the SwiGLU size following the width).
- hold="width": keep its width, search its depth (num_layers; for HRM, H_layers = L_layers).

Counts are exact: each candidate is built (on the meta device) and its parameters counted
(the puzzle-embedding table is a buffer, so it is not counted, as in the papers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ponder.errors import UserError
from ponder.models import DataSpec, build_model, count_parameters

Hold = Literal["depth", "width"]


@dataclass
class ParityResult:
    reference_params: int
    candidate_params: int
    candidate: object  # the resized model config
    changed: dict  # the keys that were changed, with their new values

    @property
    def relative_gap(self) -> float:
        return self.candidate_params / self.reference_params - 1.0


def count(config, spec: DataSpec) -> int:
    """Parameters of the model `config` builds, counted on the meta device (no memory,
    no initialisation: a few milliseconds even for a paper-size model)."""
    with torch.device("meta"):
        return count_parameters(build_model(config, spec))


def match_parameters(
    reference,
    candidate,
    spec: DataSpec,
    *,
    hold: Hold = "depth",
    tolerance: float = 0.10,
    accept_closest: bool = False,
) -> ParityResult:
    """Resize `candidate` (a model config) to the parameter count of `reference`. A search
    that cannot get within `tolerance` raises a UserError naming the closest candidate,
    unless `accept_closest`."""
    target = count(reference, spec)
    options = _width_options(candidate) if hold == "depth" else _depth_options(candidate)
    best = None
    for changed in options:
        resized = candidate.model_copy(update=changed)
        params = count(resized, spec)
        gap = abs(params / target - 1.0)
        if best is None or gap < best[0]:
            best = (gap, ParityResult(target, params, resized, changed))
        if params > target * (1 + tolerance):
            break  # counts grow with the option: nothing further can be closer
    gap, result = best
    if gap > tolerance and not accept_closest:
        raise UserError(
            f"no {candidate.name} within {100 * tolerance:.0f}% of {target:,} parameters "
            f"(holding {hold}): the closest is {result.changed} with "
            f"{result.candidate_params:,} ({100 * result.relative_gap:+.1f}%); "
            "accept it with --accept-closest"
        )
    return result


def _width_options(config):
    """Widths in increasing order; heads keep the candidate's head size (at least 1 head)."""
    head_size = max(1, config.hidden_size // config.num_heads)
    step = 8 if head_size % 8 else head_size
    for hidden in range(step, 8193, step):
        heads = max(1, hidden // head_size)
        if hidden % heads == 0:
            yield {"hidden_size": hidden, "num_heads": heads}


def _depth_options(config):
    keys = ("H_layers", "L_layers") if config.name == "hrm" else ("num_layers",)
    for depth in range(1, 129):
        yield dict.fromkeys(keys, depth)
