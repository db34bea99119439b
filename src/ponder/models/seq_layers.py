"""Layers shared by the few-shot sequence models (seq_decoder, seq_encdec, seq_champion).

The models read a variable number K of demonstration pairs, so their sequences have no fixed
length: rotary tables are built per call from explicit positions (1D indices or 2D
(row, col) cells) instead of the fixed-length rotary.RotaryEmbedding. Masks are bool, True
where a query may attend, broadcast by SDPA to (B, H, Lq, Lk).
Shapes: B batch, K demo slots, L cells per grid, T sequence, D hidden, H heads, Dh = D / H.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ponder.models.attention import Attention
from ponder.models.feedforward import Linear, SwiGLU, rms_norm, trunc_normal_
from ponder.models.rotary import rope_angles


class Rotary:
    """A rotary table for explicit positions; called like rotary.RotaryEmbedding on
    (B, H, T, Dh), rotating channel i with channel i + Dh/2."""

    def __init__(self, positions: torch.Tensor, head_dim: int, device: torch.device | str):
        if head_dim % (4 if positions.dim() == 2 else 2):
            raise ValueError(f"head dim {head_dim} does not split into rotary pairs")
        if positions.dim() == 1:
            angles = rope_angles(positions, head_dim)  # (T, Dh/2)
        else:
            # Half the channels turn with the row, half with the column (as layers' 2D RoPE).
            half = head_dim // 2
            rows, cols = rope_angles(positions[:, 0], half), rope_angles(positions[:, 1], half)
            angles = torch.cat([rows, cols], dim=-1)  # (T, Dh/2)
        self.cos, self.sin = angles.cos().to(device), angles.sin().to(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.float().chunk(2, dim=-1)  # (B, H, T, Dh/2) each
        out = torch.cat([x1 * self.cos - x2 * self.sin, x2 * self.cos + x1 * self.sin], dim=-1)
        return out.to(x.dtype)


def grid_positions(rows: int, cols: int) -> torch.Tensor:
    """(rows * cols, 2) integer (row, col) of each cell in row-major order."""
    idx = torch.arange(rows * cols)
    return torch.stack([idx // cols, idx % cols], dim=-1)


def embedding_table(rows: int, hidden: int) -> nn.Embedding:
    """A table at std 1/sqrt(D), so that sqrt(D) * entry has unit scale (as TokenEmbedding)."""
    table = nn.Embedding(rows, hidden)
    trunc_normal_(table.weight, std=1.0 / math.sqrt(hidden))
    return table


def unit_sum(*parts: torch.Tensor) -> torch.Tensor:
    """sqrt(D) * (sum of n table entries) / sqrt(n): n independent embeddings at unit scale."""
    hidden = parts[0].shape[-1]
    return sum(parts) * math.sqrt(hidden / len(parts))


def slot_key_mask(demo_mask: torch.Tensor, tokens_per_slot: int) -> torch.Tensor:
    """demo_mask (B, K) -> (B, K * tokens_per_slot): True on the tokens of usable slots."""
    return demo_mask.repeat_interleave(tokens_per_slot, dim=1)


def causal_mask(key_valid: torch.Tensor) -> torch.Tensor:
    """key_valid (B, T) -> (B, 1, T, T): each token sees valid earlier tokens and itself.
    The diagonal keeps rows of hidden tokens from having no key at all (NaN in SDPA); no
    valid token ever sees a hidden one, so what they compute never reaches the output."""
    t = key_valid.shape[1]
    lower = torch.ones(t, t, dtype=torch.bool, device=key_valid.device).tril()
    eye = torch.eye(t, dtype=torch.bool, device=key_valid.device)
    return ((lower & key_valid[:, None, :]) | eye).unsqueeze(1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, K, D) over the slots where mask (B, K) is True -> (B, D); hidden slots
    are selected away (not multiplied by 0), so whatever they hold cannot leak in."""
    x = torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x))
    return x.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp(min=1).to(x.dtype)


class CrossAttention(nn.Module):
    """Multi-head attention of queries x (B, Lq, D) over a memory (B, Lk, D) through SDPA,
    each side with its own optional rotary table (positions may differ, e.g. 2D cells)."""

    def __init__(self, hidden: int, num_heads: int):
        super().__init__()
        if hidden % num_heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.q = Linear(hidden, hidden)
        self.kv = Linear(hidden, 2 * hidden)
        self.out = Linear(hidden, hidden)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        mask: torch.Tensor | None,
        rope_q: Rotary | None = None,
        rope_k: Rotary | None = None,
    ) -> torch.Tensor:
        b, lq, d = x.shape
        dh = d // self.num_heads
        q = self.q(x).view(b, lq, self.num_heads, dh).transpose(1, 2)  # (B, H, Lq, Dh)
        kv = self.kv(memory).view(b, memory.shape[1], 2, self.num_heads, dh)
        k, v = kv.permute(2, 0, 3, 1, 4)  # each (B, H, Lk, Dh)
        if rope_q is not None:
            q = rope_q(q)
        if rope_k is not None:
            k = rope_k(k)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, Lq, Dh)
        return self.out(y.transpose(1, 2).reshape(b, lq, d))


class DecoderBlock(nn.Module):
    """Post-norm decoder block (as trunk.Block): x <- norm(x + self_attn(x));
    x <- norm(x + cross_attn(x, memory)); x <- norm(x + mlp(x))."""

    def __init__(self, hidden: int, num_heads: int, expansion: float, multiple_of: int):
        super().__init__()
        self.attn = Attention(hidden, num_heads)
        self.cross = CrossAttention(hidden, num_heads)
        self.mlp = SwiGLU(hidden, expansion, multiple_of)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None,
        rope_self: Rotary | None = None,
        rope_k: Rotary | None = None,
    ) -> torch.Tensor:
        """x (B, Lq, D), memory (B, Lk, D), memory_mask (B, 1, 1, Lk); the queries' rotary
        table serves both the self-attention and the cross-attention queries."""
        x = rms_norm(x + self.attn(x, rope_self, None))
        rope_q = rope_self if rope_k is not None else None
        x = rms_norm(x + self.cross(x, memory, memory_mask, rope_q, rope_k))
        return rms_norm(x + self.mlp(x))
