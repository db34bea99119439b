"""Parameter parity: resize a candidate model until its parameter count is within a
tolerance of a reference model's, so comparisons are at equal size.

- hold="depth" (default): keep the candidate's depth and heads, search its width (hidden
  size, then the SwiGLU expansion to fine-tune d_ff).
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
    groups = _width_options(candidate) if hold == "depth" else _depth_options(candidate)
    best = None
    for group in groups:  # groups grow in size; each holds a few nearby variants
        sizes = []
        for changed in group:
            resized = candidate.model_copy(update=changed)
            params = count(resized, spec)
            sizes.append(params)
            gap = abs(params / target - 1.0)
            if best is None or gap < best[0]:
                best = (gap, ParityResult(target, params, resized, changed))
        if min(sizes) > target * (1 + tolerance):
            break  # every larger group is larger still
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
    """Per hidden size (multiples of 4 x heads, so rotary halves stay even; heads fixed),
    the SwiGLU expansions 2..6 in quarter steps: d_ff fine-tunes what d_model leaves."""
    step = 4 * config.num_heads
    expansions = [2 + 0.25 * i for i in range(17)]
    for hidden in range(step, 8193, step):
        yield [{"hidden_size": hidden, "expansion": e} for e in expansions]


def _depth_options(config):
    keys = ("H_layers", "L_layers") if config.name == "hrm" else ("num_layers",)
    for depth in range(1, 129):
        yield [dict.fromkeys(keys, depth)]
