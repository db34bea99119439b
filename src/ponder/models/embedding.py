"""The model's input: token embeddings (and learned positions), and the P prefix tokens
before them, from a puzzle-embedding table or a demonstration encoder; optionally a small
CNN's view of the whole grid added to every token.

Shapes: B batch, L cells, P prefix tokens, D hidden, V vocabulary.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ponder.models.conditioning import DemoEncoder
from ponder.models.feedforward import Linear, trunc_normal_
from ponder.models.grid import require_grid


class PuzzleEmbedding(nn.Module):
    """One zero-initialised vector per puzzle identifier, prepended as `length` tokens
    (HRM: 1, TRM: 16; a vector narrower than length * hidden is zero-padded, as in TRM).

    The table is a buffer, not a parameter: the dense optimizer never sees it and no
    gradient the size of the table (ARC: ~1M rows) is ever made. In a training forward the
    batch's rows are gathered into `rows`, a leaf tensor whose .grad the sparse optimizer
    (ponder.train.sparse_emb) reads after backward, together with `ids`."""

    def __init__(self, num_identifiers: int, dim: int, length: int, hidden: int):
        super().__init__()
        if dim > length * hidden:
            raise ValueError(f"puzzle_emb_dim {dim} exceeds puzzle_emb_len * hidden_size")
        self.length, self.hidden = length, hidden
        self.register_buffer("weight", torch.zeros(num_identifiers, dim))
        self.rows: torch.Tensor | None = None  # (B, dim) leaf of the last training forward
        self.ids: torch.Tensor | None = None  # (B,) identifiers of those rows

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B,) -> (B, length, hidden)."""
        rows = self.weight[ids]  # (B, dim)
        if self.training and torch.is_grad_enabled():
            rows = rows.detach().requires_grad_(True)
            self.rows, self.ids = rows, ids
        pad = self.length * self.hidden - rows.shape[-1]
        return F.pad(rows, (0, pad)).view(-1, self.length, self.hidden)


class GridEncoder(nn.Module):
    """A small CNN over the whole puzzle whose pooled output conditions every token (the
    "maze encoder" users of an earlier prototype asked for): one-hot grid (B, V, H, W) ->
    two 3x3 convolutions -> 4x4 average pool -> (B, D). The projection starts at zero, so
    switching it on leaves a fresh model's function unchanged."""

    def __init__(self, vocab_size: int, hidden: int, grid_shape: tuple[int, int]):
        super().__init__()
        self.vocab_size, self.grid_shape = vocab_size, grid_shape
        self.convs = nn.Sequential(
            nn.Conv2d(vocab_size, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
        )
        self.proj = Linear(32 * 4 * 4, hidden)
        nn.init.zeros_(self.proj.weight)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) -> (B, D)."""
        rows, cols = self.grid_shape
        onehot = F.one_hot(tokens, self.vocab_size).float()  # (B, L, V)
        grid = onehot.transpose(1, 2).reshape(-1, self.vocab_size, rows, cols)
        return self.proj(self.convs(grid).flatten(1))


class TokenEmbedding(nn.Module):
    """Token (and optionally learned position) embedding, init std 1/sqrt(D) and scaled by
    sqrt(D) as in HRM, so inputs enter the post-norm stack at unit scale. With a puzzle
    embedding or a demonstration encoder its P prefix tokens come first: the output is
    (B, P + L, D). `last_stats` keeps the prefix's statistics of the last call (norms; the
    encoder's latent and KL), which the model hands on as outputs.stats, and `last_aux` its
    weighted loss terms (the KL), handed on as outputs.aux_losses."""

    def __init__(
        self,
        vocab_size: int,
        hidden: int,
        seq_len: int,
        learned_positions: bool,
        puzzle: PuzzleEmbedding | None = None,
        encoder: GridEncoder | None = None,
        demo: DemoEncoder | None = None,
        prefix: int = 0,
    ):
        super().__init__()
        self.scale = math.sqrt(hidden)
        self.tokens = nn.Embedding(vocab_size, hidden)
        trunc_normal_(self.tokens.weight, std=1.0 / self.scale)
        self.prefix = prefix
        self.positions = None
        if learned_positions:
            self.positions = nn.Parameter(torch.empty(self.prefix + seq_len, hidden))
            trunc_normal_(self.positions, std=1.0 / self.scale)
        self.puzzle = puzzle
        self.encoder = encoder
        self.demo = demo
        self.last_stats: dict[str, torch.Tensor] = {}
        self.last_aux: dict[str, torch.Tensor] = {}  # weighted loss terms (an LPN's KL)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.tokens(batch["inputs"])  # (B, L, D)
        if self.encoder is not None:
            x = x + self.encoder(batch["inputs"]).unsqueeze(1).to(x.dtype)  # every token
        prefix = self._prefix(batch)
        if prefix is not None:
            x = torch.cat([prefix.to(x.dtype), x], dim=1)  # (B, P + L, D)
        if self.positions is not None:
            # 1/sqrt(2) keeps the sum of two unit-scale embeddings at unit scale.
            x = (x + self.positions) * (1 / math.sqrt(2))
        return self.scale * x

    def _prefix(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """(B, P, D) from the puzzle table or the demonstrations (or a given latent: the
        test-time latent search passes batch["demo_latent"] (B, Z)); None without either."""
        self.last_stats, self.last_aux = {}, {}
        if self.puzzle is not None:
            prefix = self.puzzle(batch["puzzle_identifiers"])
        elif self.demo is not None:
            if "demo_latent" in batch:
                prefix = self.demo.to_prefix(batch["demo_latent"])
            else:
                prefix, encoding = self.demo(batch)
                self.last_stats["encoder_latent"] = encoding.latent
                if encoding.kl is not None:
                    self.last_stats["kl"] = encoding.kl
                    self.last_aux["kl_loss"] = self.demo.kl_loss(encoding)
        else:
            return None
        self.last_stats["prefix_norm"] = prefix.detach().float().norm(dim=-1).mean()
        return prefix


def build_embedding(config, spec) -> TokenEmbedding:
    learned = config.pos_encoding == "learned"
    puzzle = demo = None
    if config.demo_encoder is not None:
        demo = DemoEncoder(
            config.demo_encoder,
            spec.vocab_size,
            require_grid(spec.grid_shape),
            spec.num_puzzle_identifiers,
            config.hidden_size,
            config.puzzle_emb_len,
        )
    elif config.puzzle_emb_len > 0:
        dim = config.puzzle_emb_dim or config.hidden_size
        puzzle = PuzzleEmbedding(
            spec.num_puzzle_identifiers, dim, config.puzzle_emb_len, config.hidden_size
        )
    encoder = None
    if config.grid_encoder:
        encoder = GridEncoder(spec.vocab_size, config.hidden_size, require_grid(spec.grid_shape))
    return TokenEmbedding(
        spec.vocab_size,
        config.hidden_size,
        spec.seq_len,
        learned,
        puzzle,
        encoder,
        demo,
        prefix=config.puzzle_emb_len,
    )
