"""Per-token losses: stablemax (HRM/TRM's alternative to softmax) and the token
cross-entropy every grid and few-shot loss is built on. Below the segment losses
(ponder.objectives.losses) and the route aids, which both use them."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def stablemax_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """log of stablemax (Prieto et al., used by HRM/TRM): s(x) = x + 1 for x >= 0 and
    1 / (1 - x) otherwise, normalised over the vocabulary. Computed in fp32."""
    x = logits.float()
    s = torch.where(x >= 0, x + 1, 1 / (1 - x))
    return torch.log(s / s.sum(dim=-1, keepdim=True))


def token_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, kind: str, ignore: int, smoothing: float = 0.0
):
    """Per-token loss (B, L) with ignored labels zeroed, and the mask of counted tokens.
    With smoothing eps: (1 - eps) * NLL + eps * mean NLL over the vocabulary."""
    mask = labels != ignore  # (B, L)
    safe = torch.where(mask, labels, 0)
    if kind == "stablemax":
        logp = stablemax_log_probs(logits)
    else:
        logp = F.log_softmax(logits.float(), dim=-1)
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (B, L)
    if smoothing > 0:
        nll = (1 - smoothing) * nll - smoothing * logp.mean(-1)
    return nll * mask, mask
