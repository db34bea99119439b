"""MLM-U for mazes (arXiv 2412.05117): train on inputs that show part of the answer.

Each fresh training example draws a masked fraction r ~ U(0, 1) and shows each of its
solution's path cells in the input with probability 1 - r (as PATH tokens); the rest stay
masked (OPEN, as in a plain puzzle). The target is still the whole answer, so the model
learns to complete any fraction of a route, from all of it to none (r = 1 is the puzzle as
evaluated). Walls, start and goal are never touched: the maze stays visible.
"""

from __future__ import annotations

import torch

from ponder.tasks.maze import OPEN, PATH


def reveal_path_cells(inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """inputs, labels (B, L) puzzle and solution tokens -> inputs with a random fraction of
    each row's path cells revealed."""
    b = inputs.shape[0]
    path = (labels == PATH) & (inputs == OPEN)  # (B, L) cells the answer adds
    shown = 1 - torch.rand(b, 1, device=inputs.device)  # (B, 1): 1 - r, r ~ U(0, 1)
    reveal = path & (torch.rand(inputs.shape, device=inputs.device) < shown)
    return torch.where(reveal, PATH, inputs)


def mlm_u_transform(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {**batch, "inputs": reveal_path_cells(batch["inputs"], batch["labels"])}
