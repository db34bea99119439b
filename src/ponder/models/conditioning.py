"""Demonstration encoders: task conditioning computed from a task's demonstration pairs.

TRM/HRM condition on a task through a learned table (one vector per puzzle id), so they know
nothing of a task they never trained on. A DemoEncoder reads the demonstration pairs
(input grid -> output grid) instead and produces a task latent (B, Z), which `to_prefix`
turns into the same P prefix tokens (B, P, D) the table would have given.

Kinds (the encoder-debug plan's E1/E7/E2/E3 and an oracle diagnostic):
  standard         per-pair transformer over the input stacked on the output, a (2C, C) grid
                   with 2D RoPE; mean over tokens; masked mean over pairs.
  attention        the same, with learned-query attention pooling over tokens and over pairs.
  lpn              a CLS token per pair, then a set transformer over the pairs (no positions,
                   so permutation-equivariant), then a masked mean (LPN; run it with 4 layers).
  lpn_variational  lpn with a Gaussian (mu, logvar) per pair, sampled in training, mu in eval;
                   kl = mean over valid pairs of KL(N(mu, sigma) || N(0, 1)), weight kl_weight.
  oracle           a fixed random code per puzzle identifier (never trained, demos ignored):
                   "can the TRM use a perfect task code?".

Shapes: B batch, K demonstration slots, L = C*C tokens per grid, S = 2L tokens per pair,
N valid pairs in the batch, H encoder hidden, Z latent, P prefix tokens, D model hidden.
Masked slots (demo_mask False: empty, the example's own pair, or beyond num_demos) are never
encoded: the valid pairs are gathered into (N, S) first, so nothing about them can leak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ponder.models.base import DemoEncoderConfig
from ponder.models.feedforward import Linear, rms_norm, trunc_normal_
from ponder.models.rotary import RotaryEmbedding
from ponder.models.trunk import Block

PAD = 0  # the canvas padding token (ponder.tasks.fewshot.PAD)
ORACLE_SEED = 0  # the oracle's codes are the same in every run, whatever the global seed


@dataclass
class DemoEncoding:
    latent: torch.Tensor  # (B, Z) the task vector
    pair_latents: torch.Tensor  # (B, K, Z) per pair before pooling; zeros at masked slots
    kl: torch.Tensor | None = None  # (B,) lpn_variational only
    mu: torch.Tensor | None = None  # (B, K, Z) lpn_variational only; zeros at masked slots
    logvar: torch.Tensor | None = None  # (B, K, Z) likewise


class AttentionPool(nn.Module):
    """A learned query attends over x (..., M, F) where keep (..., M) is True -> (..., F)."""

    def __init__(self, features: int):
        super().__init__()
        self.key = Linear(features, features)
        self.query = nn.Parameter(trunc_normal_(torch.empty(features), std=1.0))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        scores = self.key(x) @ self.query.to(x.dtype) / math.sqrt(x.shape[-1])  # (..., M)
        weights = scores.float().masked_fill(~keep, float("-inf")).softmax(-1).to(x.dtype)
        return (weights.unsqueeze(-1) * x).sum(-2)


def masked_mean(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of x (..., M, F) over the M entries where keep (..., M) is True -> (..., F)."""
    w = keep.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(-2) / w.sum(-2).clamp(min=1)


def first_valid(mask: torch.Tensor, n: int) -> torch.Tensor:
    """Keep only the first n True slots of each row of mask (B, K); n = 0 keeps all."""
    return mask & (mask.cumsum(-1) <= n) if n > 0 else mask


def _scatter_pairs(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Values (N, F) of the valid pairs -> (B, K, F), zeros at masked slots."""
    out = values.new_zeros(*mask.shape, values.shape[-1])
    out[mask] = values
    return out


class PairEncoder(nn.Module):
    """One demonstration pair (S tokens) -> one vector (N, H): a post-norm transformer over
    the (2C, C) grid of the input stacked on the output; 2D RoPE tells the two apart."""

    def __init__(self, config: DemoEncoderConfig, vocab_size: int, grid_shape: tuple[int, int]):
        super().__init__()
        h, (rows, cols) = config.hidden_size, grid_shape
        self.scale = math.sqrt(h)
        self.tokens = nn.Embedding(vocab_size, h)
        trunc_normal_(self.tokens.weight, std=1.0 / self.scale)  # x sqrt(H): unit scale
        self.cls = None
        if config.kind in ("lpn", "lpn_variational"):  # an unrotated prefix token read out
            self.cls = nn.Parameter(trunc_normal_(torch.empty(1, 1, h), std=1.0 / self.scale))
        prefix = 0 if self.cls is None else 1
        self.rotary = RotaryEmbedding(
            h // config.num_heads, 2 * rows * cols, (2 * rows, cols), prefix
        )
        self.blocks = nn.ModuleList(
            Block(h, config.num_heads, config.expansion, config.ffn_multiple_of)
            for _ in range(config.num_layers)
        )
        self.pool = AttentionPool(h) if config.kind == "attention" else None

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        """pairs (N, S) -> (N, H)."""
        # Padding carries nothing; on a 30x30 canvas it is most of a pair, and attending to
        # or averaging over it would make every pair look alike. A pair with no content at
        # all (never a real one) falls back to using every token, so softmax stays finite.
        pairs = pairs.where(pairs >= 0, PAD)  # an ignore label (< 0) is padding here
        keep = pairs != PAD
        keep = keep | ~keep.any(-1, keepdim=True)  # (N, S)
        x = self.scale * self.tokens(pairs)  # (N, S, H)
        if self.cls is not None:
            x = torch.cat([self.scale * self.cls.expand(len(x), -1, -1).to(x.dtype), x], dim=1)
            keep = torch.cat([keep.new_ones(len(x), 1), keep], dim=1)  # (N, 1 + S)
        attn_mask = keep[:, None, None, :]  # (N, 1, 1, S') keys each query may attend to
        for block in self.blocks:
            x = block(x, self.rotary, attn_mask)
        if self.cls is not None:
            return x[:, 0]
        if self.pool is not None:
            return self.pool(x, keep)
        return masked_mean(x, keep)


class SetEncoder(nn.Module):
    """Self-attention over a row's valid pair vectors (B, K, H), masked, without positions:
    permuting the pairs permutes the output (the LPN kinds' aggregation)."""

    def __init__(self, config: DemoEncoderConfig):
        super().__init__()
        self.blocks = nn.ModuleList(
            Block(config.hidden_size, config.num_heads, config.expansion, config.ffn_multiple_of)
            for _ in range(config.set_layers)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attn_mask = mask[:, None, None, :]  # (B, 1, 1, K); every row has a valid pair
        for block in self.blocks:
            x = block(x, None, attn_mask)
        return x


class DemoEncoder(nn.Module):
    """Demonstration pairs -> task latent (B, Z) -> P prefix tokens (B, P, D)."""

    def __init__(
        self,
        config: DemoEncoderConfig,
        vocab_size: int,
        grid_shape: tuple[int, int],
        num_identifiers: int,
        out_hidden: int,
        prefix_len: int,
    ):
        super().__init__()
        self.config = config
        self.latent_dim = z = config.latent_dim or config.hidden_size
        self.prefix_len, self.out_hidden = prefix_len, out_hidden
        self.variational = config.kind == "lpn_variational"
        if config.kind == "oracle":
            gen = torch.Generator().manual_seed(ORACLE_SEED)
            self.register_buffer("codes", torch.randn(num_identifiers, z, generator=gen))
        else:
            self.pair_encoder = PairEncoder(config, vocab_size, grid_shape)
            self.set_encoder = SetEncoder(config) if config.kind.startswith("lpn") else None
            self.pair_head = Linear(config.hidden_size, 2 * z if self.variational else z)
            self.pair_pool = AttentionPool(z) if config.kind == "attention" else None
        self.prefix_proj = Linear(z, prefix_len * out_hidden)
        if config.freeze:
            for p in self.encoder_parameters():
                p.requires_grad_(False)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the prefix projection (the ones `freeze` freezes)."""
        return [p for name, p in self.named_parameters() if not name.startswith("prefix_proj.")]

    def encode(
        self,
        demo_inputs: torch.Tensor,
        demo_labels: torch.Tensor,
        demo_mask: torch.Tensor,
        puzzle_identifiers: torch.Tensor,
    ) -> DemoEncoding:
        """demo_inputs, demo_labels (B, K, L); demo_mask (B, K); puzzle_identifiers (B,)."""
        mask = first_valid(demo_mask, self.config.num_demos)  # (B, K)
        if self.config.kind == "oracle":
            latent = self.codes[puzzle_identifiers]  # (B, Z)
            pairs = latent.unsqueeze(1) * mask.unsqueeze(-1).to(latent.dtype)
            return DemoEncoding(latent=latent, pair_latents=pairs)
        tokens = torch.cat([demo_inputs, demo_labels], dim=-1)  # (B, K, S): input rows first
        vectors = _scatter_pairs(self.pair_encoder(tokens[mask]), mask)  # (B, K, H)
        if self.set_encoder is not None:
            vectors = self.set_encoder(vectors, mask)
        heads = self.pair_head(vectors) * mask.unsqueeze(-1).to(vectors.dtype)  # zero masked
        if self.variational:
            return self._variational(heads, mask)
        if self.pair_pool is not None:
            return DemoEncoding(latent=self.pair_pool(heads, mask), pair_latents=heads)
        return DemoEncoding(latent=masked_mean(heads, mask), pair_latents=heads)

    def _variational(self, heads: torch.Tensor, mask: torch.Tensor) -> DemoEncoding:
        """heads (B, K, 2Z) -> per-pair Gaussians; sample in training, mu in eval."""
        mu, logvar = heads.float().chunk(2, dim=-1)  # (B, K, Z) each, fp32 for exp
        z = mu
        if self.training:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        kl_pair = 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(-1)  # (B, K)
        kl = masked_mean(kl_pair.unsqueeze(-1), mask).squeeze(-1)  # (B,)
        keep = mask.unsqueeze(-1).to(z.dtype)
        z = (z * keep).to(heads.dtype)
        latent = masked_mean(z, mask)
        return DemoEncoding(latent=latent, pair_latents=z, kl=kl, mu=mu, logvar=logvar)

    def kl_loss(self, encoding: DemoEncoding) -> torch.Tensor:
        """The weighted KL term to add to the loss (0 for the non-variational kinds)."""
        if encoding.kl is None:
            return encoding.latent.new_zeros(())
        return self.config.kl_weight * encoding.kl.mean()

    def to_prefix(self, latent: torch.Tensor) -> torch.Tensor:
        """latent (B, Z) -> (B, P, D), each token with entries of rms 1/sqrt(D) like a fresh
        token embedding (TokenEmbedding scales by sqrt(D) afterwards). Differentiable in the
        latent, so test-time search can take gradient steps on it."""
        tokens = self.prefix_proj(latent).view(-1, self.prefix_len, self.out_hidden)
        return rms_norm(tokens) / math.sqrt(self.out_hidden)

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, DemoEncoding]:
        encoding = self.encode(
            batch["demo_inputs"],
            batch["demo_labels"],
            batch["demo_mask"],
            batch["puzzle_identifiers"],
        )
        return self.to_prefix(encoding.latent), encoding


def collapse_stats(latent: torch.Tensor, puzzle_identifiers: torch.Tensor) -> dict[str, float]:
    """Does the encoder tell tasks apart? latent (B, Z), puzzle_identifiers (B,).
    Rows of one identifier are averaged first, so repeats of a task count once.
    encoder_spread: mean over dims of the std across distinct tasks (0 with < 2 tasks);
    encoder_norm: mean L2 norm of the rows; encoder_cosine: mean pairwise cosine between
    distinct tasks (near 1: collapsed; 1 with < 2 tasks, as nothing is told apart)."""
    latent = latent.detach().float()
    ids, index = torch.unique(puzzle_identifiers, return_inverse=True)
    sums = latent.new_zeros(len(ids), latent.shape[-1]).index_add_(0, index, latent)
    counts = torch.bincount(index, minlength=len(ids)).clamp(min=1).unsqueeze(-1)
    tasks = sums / counts  # (T, Z)
    stats = {"encoder_norm": latent.norm(dim=-1).mean().item()}
    if len(tasks) < 2:
        return stats | {"encoder_spread": 0.0, "encoder_cosine": 1.0}
    unit = nn.functional.normalize(tasks, dim=-1)
    cos = unit @ unit.T  # (T, T)
    off_diagonal = ~torch.eye(len(tasks), dtype=torch.bool)
    stats["encoder_spread"] = tasks.std(dim=0).mean().item()
    stats["encoder_cosine"] = cos[off_diagonal].mean().item()
    return stats


def prefix_norm(prefix: torch.Tensor) -> float:
    """Mean L2 norm of the prefix tokens (B, P, D), to compare with puzzle-table rows."""
    return prefix.detach().float().norm(dim=-1).mean().item()
