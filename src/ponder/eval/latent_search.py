"""Test-time latent search (LPN, arXiv 2411.08706): before answering a query, take a few
gradient steps on its task vector so that the model, given that vector, reproduces the
task's demonstrations. Only the latent moves; the weights stay fixed."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ponder.models.rollout import rollout


def search_latents(
    model: nn.Module, batch: dict, n_sup: int, steps: int, lr: float
) -> torch.Tensor:
    """The refined task vectors (B, Z) for `batch` (a few-shot batch with demonstrations).

    Each row's demonstrations become queries (B * K rows, masked slots weighted 0); the
    loss is the cross-entropy of their answers after n_sup segments (earlier segments
    without gradient), averaged over the visible demonstrations."""
    demo = model.embed.demo
    with torch.no_grad():
        latent = demo.encode(
            batch["demo_inputs"],
            batch["demo_labels"],
            batch["demo_mask"],
            batch["puzzle_identifiers"],
        ).latent.float()
    latent = latent.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=lr)
    queries, weights = _demo_queries(batch)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = _demo_loss(model, queries, weights, latent, n_sup)
        loss.backward()
        optimizer.step()
    return latent.detach()


def _demo_queries(batch: dict) -> tuple[dict, torch.Tensor]:
    """Demonstrations as a batch of queries: inputs/labels (B*K, L); weights (B*K,)."""
    b, k, length = batch["demo_inputs"].shape
    queries = {
        "inputs": batch["demo_inputs"].reshape(b * k, length),
        "labels": batch["demo_labels"].reshape(b * k, length),
        "puzzle_identifiers": batch["puzzle_identifiers"].repeat_interleave(k),
    }
    return queries, batch["demo_mask"].reshape(b * k).float()


def _demo_loss(model, queries: dict, weights: torch.Tensor, latent, n_sup: int):
    k = weights.shape[0] // latent.shape[0]
    rows = {**queries, "demo_latent": latent.repeat_interleave(k, dim=0)}
    out = rollout(model, rows, n_sup, grad_last=True).outputs  # gradient: last segment only
    per_row = answer_loss_per_row(out.logits, rows["labels"])  # (B*K,)
    return (per_row * weights).sum() / weights.sum().clamp(min=1)


def answer_loss_per_row(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over each row's answer grid: logits (B, L, V), labels (B, L) ->
    (B,). Padding (token 0) is not part of the answer and not counted."""
    cells = (labels != 0).float()  # (B, L)
    ce = F.cross_entropy(logits.float().transpose(1, 2), labels, reduction="none")  # (B, L)
    return (ce * cells).sum(-1) / cells.sum(-1).clamp(min=1)
