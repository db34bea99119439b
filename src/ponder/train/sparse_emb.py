"""The puzzle-embedding optimizer: updates only the table rows a batch used.

A puzzle-embedding table can have ~1M rows (ARC) while a batch touches a few hundred, so it
is kept out of the dense optimizer (it is a buffer, see models.embedding.PuzzleEmbedding) and
updated here from the gradient of the gathered rows alone:

- "signsgd" (HRM/TRM): w <- w * (1 - lr * wd) - lr * sign(g), decoupled weight decay.
- "adamw": lazy AdamW; moments and step counts are kept per row and advance only for the
  rows in the batch.

Under DDP every rank gathers the others' (ids, row gradients), so all ranks apply the same
update and the tables stay identical without broadcasting them. Gradients are averaged
over ranks, as DDP averages the dense ones, so a 2-rank run equals a 1-rank run.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from ponder.models.embedding import PuzzleEmbedding


class SparseEmbeddingOptimizer:
    def __init__(
        self,
        model: nn.Module,
        *,
        kind: str = "signsgd",
        lr: float = 1e-4,
        weight_decay: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
    ):
        self.tables = [m for m in model.modules() if isinstance(m, PuzzleEmbedding)]
        self.kind, self.lr, self.weight_decay = kind, lr, weight_decay
        self.betas, self.eps = betas, eps
        self.state: dict[str, torch.Tensor] = {}
        if kind == "adamw":
            for i, table in enumerate(self.tables):
                w = table.weight
                self.state[f"{i}.exp_avg"] = torch.zeros_like(w)
                self.state[f"{i}.exp_avg_sq"] = torch.zeros_like(w)
                self.state[f"{i}.steps"] = torch.zeros(w.shape[0], device=w.device)

    def zero_grad(self) -> None:
        """Forget the last forward's rows (a skipped step must not apply them later)."""
        for table in self.tables:
            table.rows = table.ids = None

    @torch.no_grad()
    def step(self) -> None:
        for i, table in enumerate(self.tables):
            if table.rows is None or table.rows.grad is None:
                continue
            ids, grad = _gather_ranks(table.ids, table.rows.grad.float())
            unique, inverse = ids.unique(return_inverse=True)
            # Rows used several times in the batch get the sum of their gradients. (U, dim)
            summed = torch.zeros(len(unique), grad.shape[1], device=grad.device)
            summed.index_add_(0, inverse, grad)
            if self.kind == "signsgd":
                self._signsgd(table.weight, unique, summed)
            else:
                self._adamw(i, table.weight, unique, summed)
        self.zero_grad()

    def _signsgd(self, weight: torch.Tensor, ids: torch.Tensor, grad: torch.Tensor) -> None:
        rows = weight[ids] * (1 - self.lr * self.weight_decay) - self.lr * grad.sign()
        weight[ids] = rows.to(weight.dtype)

    def _adamw(self, i: int, weight: torch.Tensor, ids: torch.Tensor, grad: torch.Tensor) -> None:
        b1, b2 = self.betas
        m, v = self.state[f"{i}.exp_avg"], self.state[f"{i}.exp_avg_sq"]
        steps = self.state[f"{i}.steps"]
        steps[ids] += 1
        m[ids] = b1 * m[ids] + (1 - b1) * grad
        v[ids] = b2 * v[ids] + (1 - b2) * grad * grad
        t = steps[ids].unsqueeze(-1)  # (U, 1) per-row step counts for bias correction
        m_hat, v_hat = m[ids] / (1 - b1**t), v[ids] / (1 - b2**t)
        rows = weight[ids] * (1 - self.lr * self.weight_decay)
        weight[ids] = (rows - self.lr * m_hat / (v_hat.sqrt() + self.eps)).to(weight.dtype)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.state)

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        for key, value in tensors.items():
            if key not in self.state:
                raise KeyError(f"unexpected puzzle-embedding optimizer state {key}")
            self.state[key].copy_(value)


def _gather_ranks(ids: torch.Tensor, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every rank's (ids (B,), grads (B, dim)) concatenated, grads divided by the world size
    (the mean over ranks, matching DDP). Ranks hold equal batch sizes."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return ids, grad
    world = dist.get_world_size()
    all_ids = [torch.empty_like(ids) for _ in range(world)]
    all_grads = [torch.empty_like(grad) for _ in range(world)]
    dist.all_gather(all_ids, ids.contiguous())
    dist.all_gather(all_grads, grad.contiguous())
    return torch.cat(all_ids), torch.cat(all_grads) / world
