"""MLM-U (arXiv 2412.05117): train on inputs that show part of the answer's route.

Each fresh training example draws a masked fraction r ~ U(0, 1) and shows each of its
solution's route cells in the input with probability 1 - r; the rest stay masked (as in a
plain puzzle). The target is still the whole answer, so the model learns to complete any
fraction of a route, from all of it to none (r = 1 is the puzzle as evaluated). Which cells
may be shown, and as what, is the task's fact (RouteLayout.reveal: for mazes, OPEN cells
whose label is PATH, shown as PATH); walls, start and goal are never touched.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def reveal_route_cells(
    inputs: torch.Tensor, labels: torch.Tensor, hidden: int, shown: int
) -> torch.Tensor:
    """inputs, labels (B, L) puzzle and solution tokens -> inputs with a random fraction of
    each row's route cells (input `hidden`, label `shown`) shown as `shown`."""
    b = inputs.shape[0]
    route = (labels == shown) & (inputs == hidden)  # (B, L) cells the answer adds
    keep = 1 - torch.rand(b, 1, device=inputs.device)  # (B, 1): 1 - r, r ~ U(0, 1)
    reveal = route & (torch.rand(inputs.shape, device=inputs.device) < keep)
    return torch.where(reveal, shown, inputs)


def mlm_u_transform(hidden: int, shown: int) -> Callable[[dict], dict]:
    """The engine's batch transform for fresh training examples."""

    def transform(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            **batch,
            "inputs": reveal_route_cells(batch["inputs"], batch["labels"], hidden, shown),
        }

    return transform
