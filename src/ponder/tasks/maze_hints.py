"""Algorithm hints for mazes: the state of an exact local rule after t rounds, as
supervision for the intermediate iterations of a recurrent model (grid.hint; issue 24's
CLRS-style hints). Extra supervision from the oracle: a run trained with it is reported as
such, never as the plain recipe.

Dead-end filling: every round, each passable cell other than S and G with at most one
passable 4-neighbour left is filled. In a perfect maze the cells never filled are exactly
the route (the tree's only S-G path); in a maze with loops, the loops stay too. One round
reads only a cell's 4-neighbours, so a 3x3 convolution recurrence can do one round per
iteration at any size.

The hint after t rounds is the answer with every open cell not yet filled marked as route:
it starts as "every open cell may be route" and shrinks to the answer, and from the round
where the fill stops it is the answer itself (loop cells, never filled, keep their label).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ponder.errors import UserError
from ponder.tasks.maze import GOAL, OPEN, PATH, START

HINTS = ("dead_end_fill",)
_PASSABLE = (OPEN, START, GOAL, PATH)


def fill_rounds(grids: torch.Tensor) -> torch.Tensor:
    """(B, H, W) int64: the round (1, 2, ...) at which dead-end filling fills each cell of
    the maze token grids `grids` (B, H, W); 0 for a cell never filled (walls, S, G, the
    route, loops)."""
    alive = torch.isin(grids, torch.tensor(_PASSABLE, device=grids.device))  # (B, H, W)
    fixed = (grids == START) | (grids == GOAL)
    rounds = torch.zeros(grids.shape, dtype=torch.int64, device=grids.device)
    done = 0
    while True:
        padded = F.pad(alive.float(), (1, 1, 1, 1))  # (B, H+2, W+2): outside is wall
        neighbours = (
            padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
        )
        dead = alive & ~fixed & (neighbours <= 1)
        if not dead.any():
            return rounds
        done += 1
        rounds[dead] = done
        alive &= ~dead


def hint_labels(labels: torch.Tensor, rounds: torch.Tensor, rounds_done: int) -> torch.Tensor:
    """(B, L) the dead-end-fill hint after `rounds_done` rounds: `labels` (B, L) with every
    cell that the fill reaches later than that marked PATH; `rounds` (B, L) is fill_rounds
    of the puzzles, flattened as the labels are."""
    pending = rounds > rounds_done  # (B, L): an open cell not filled yet
    return torch.where(pending, torch.full_like(labels, PATH), labels)


def hint_rounds(hint: str, inputs: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(B, L): the round at which `hint`'s rule settles each cell of the puzzles `inputs`
    (B, L) on grids of `shape` (0: never)."""
    if hint not in HINTS:
        raise UserError(f"task maze has no hint {hint!r} (it has: {', '.join(HINTS)})")
    return fill_rounds(inputs.view(-1, *shape)).view(inputs.shape)
