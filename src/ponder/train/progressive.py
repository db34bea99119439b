"""DeepThinking's progressive loss as published (Bansal et al. 2022, arXiv 2202.05826), in
supervision segments: train.progressive_alpha.

Each optimizer step starts every row afresh and computes two losses over N = train.N_sup
segments, with gradient through every segment of each branch:

    full          the answer after N segments from the start
    progressive   n ~ U{0..N-1} segments without gradient, the state detached, then
                  k ~ U{1..N-n} segments with gradient; the answer after those k

    loss = (1 - alpha) * full + alpha * progressive

n and k are drawn once per batch, as the published trainer does. Each answer is trained
towards objective.targets_at(batch, its depth): the labels, or with grid.hint an exact
rule's state after that many segments (ponder.tasks.maze_hints). train.progressive_depth D
(> N) draws n ~ U{0..D-1} and k ~ U{1..min(N, D-n)} instead: the model is also trained from
states deeper than the training depth, where a model judged on larger grids runs. The
progressive branch teaches the model to go on from states it reached itself, so that iterating past the
training depth keeps improving the answer rather than breaking it. A branch whose weight
is 0 is not computed. With a DeepThinking model of `iterations: 1`, a segment is one
iteration, and N_sup is the published max_iters.

train.stability_weight w > 0 adds a stability term to the progressive branch: one more
segment with gradient from the state s_k its k segments reached, and

    stability = w x mean over rows of [answer after k exact] x ||s_k+1 - s_k|| / ||s||

(relative to the larger of the two norms, ponder.models.halting.relative_change): a row
whose answer is right is pushed towards a fixed point, so that iterating on does not move
it (a trace of the detached DT preset showed failures drifting 8-10% per segment past the
training depth, part 12).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ponder.models.base import ModelOutputs, carry_detach
from ponder.models.halting import carry_state, relative_change
from ponder.objectives.base import Objective


@dataclass
class ProgressiveResult:
    loss: torch.Tensor  # scalar: the weighted sum of the two branches
    outputs: ModelOutputs  # of the full branch (of the progressive one when alpha is 1)
    parts: dict[str, torch.Tensor]  # the objective's named parts, and each branch's loss
    correct: torch.Tensor  # (B,) bool: the logged answer matches its label


def draw_depths(segments: int, deepest: int | None = None) -> tuple[int, int]:
    """(n, k): n ~ U{0..deepest-1} segments without gradient, then k ~ U{1..min(segments,
    deepest-n)} with it. deepest None (or = segments) is the published draw, k <= segments - n;
    deeper starts train the model on states past the training depth (train.progressive_depth)."""
    deepest = deepest or segments
    n = int(torch.randint(0, deepest, ()).item())
    k = int(torch.randint(1, min(segments, deepest - n) + 1, ()).item())
    return n, k


def run_segments(net: nn.Module, carry, data: dict, count: int):
    """`count` model calls from `carry`: (carry, outputs of the last call)."""
    out = None
    for _ in range(count):
        carry, out = net(carry, data)
    return carry, out


def progressive_loss(
    net: nn.Module,
    fresh_carry: Callable[[], object],
    objective: Objective,
    data: dict[str, torch.Tensor],
    segments: int,
    alpha: float,
    deepest: int | None = None,
    stability: float = 0.0,
) -> ProgressiveResult:
    """Both branches on the same batch `data` (inputs and labels (B, L)); `fresh_carry()`
    gives the carry a row starts from; `deepest` bounds n + k (None: segments, as
    published); `stability` weighs the stability term (needs alpha > 0). Call inside the
    run's autocast."""
    terms, logged = [], None
    if alpha < 1:
        _, full = run_segments(net, fresh_carry(), data, segments)
        loss, parts, correct = objective.loss(full, objective.targets_at(data, segments), None)
        terms.append((1 - alpha) * loss)
        logged = (full, parts, correct)
        parts["loss_full"] = loss.detach()
    if alpha > 0:
        n, k = draw_depths(segments, deepest)
        with torch.no_grad():
            carry, _ = run_segments(net, fresh_carry(), data, n)
        carry, out = run_segments(net, carry_detach(carry), data, k)
        loss, parts, correct = objective.loss(out, objective.targets_at(data, n + k), None)
        terms.append(alpha * loss)
        if logged is None:
            logged = (out, parts, correct)
        logged[1]["loss_progressive"] = loss.detach()
        if stability > 0:
            term = stability_term(net, carry, data, correct)
            terms.append(stability * term)
            logged[1]["loss_stability"] = term.detach()
    out, parts, correct = logged
    return ProgressiveResult(sum(terms), out, parts, correct)


def stability_term(net: nn.Module, carry, data: dict, correct: torch.Tensor) -> torch.Tensor:
    """Scalar: the mean over the B rows of the state's relative change over one more
    segment from `carry`, counted on rows whose answer is exact (`correct`, (B,) bool, no
    gradient) and 0 elsewhere; gradient flows through both states."""
    after, _ = net(carry, data)
    change = relative_change(carry_state(carry), carry_state(after))  # (B,)
    return (change * correct.detach().float()).mean()
