"""Attention: softmax attention (SDPA, or two matmuls for short bf16 sequences on a CPU),
non-causal multi-head self-attention, and cross-attention to a memory of tokens.

Shapes: B batch, L sequence, D hidden, H heads, Dh = D / H, M memory tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ponder.models.feedforward import Linear
from ponder.models.rotary import RotaryEmbedding, rotate

# At or below this many tokens, bf16 attention on a CPU runs as plain matmuls: PyTorch's
# fused CPU kernel is 4.5x slower there in bf16 (measured fwd+bwd at B 64, H 8, L 81, Dh 32:
# 99 ms fused, 22 ms as matmuls); from about 400 tokens on the fused kernel wins.
CPU_BF16_MATMUL_ATTENTION_MAX_LEN = 256


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """Softmax attention of q, k, v (B, H, L, Dh) with an optional boolean (L, L) mask
    (True: may attend) -> (B, H, L, Dh). SDPA, except for short bf16 sequences on a CPU."""
    short = q.shape[-2] <= CPU_BF16_MATMUL_ATTENTION_MAX_LEN
    if q.device.type == "cpu" and q.dtype == torch.bfloat16 and short:
        return matmul_attention(q, k, v, mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def matmul_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    """The same attention as SDPA's, written as two matmuls; the softmax in fp32."""
    scores = (q @ k.transpose(-1, -2)).float() * q.shape[-1] ** -0.5  # (B, H, L, L)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1).to(v.dtype) @ v


class Attention(nn.Module):
    """Non-causal multi-head self-attention through SDPA (fused kernels where available)."""

    def __init__(self, hidden: int, num_heads: int):
        super().__init__()
        if hidden % num_heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = Linear(hidden, 3 * hidden)
        self.out = Linear(hidden, hidden)

    def forward(
        self,
        x: torch.Tensor,
        rotary: RotaryEmbedding | None,
        mask: torch.Tensor | None,
        head_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, L, D); head_weights (B, L, H) summing to 1 per token mix the heads (PoH):
        head h's output is scaled by H * weight, so uniform weights give plain attention."""
        b, seq, d = x.shape
        qkv = self.qkv(x).view(b, seq, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, L, Dh)
        if rotary is not None:
            q, k = rotary(q), rotary(k)
        y = attend(q, k, v, mask)  # (B, H, L, Dh)
        if head_weights is not None:
            scale = self.num_heads * head_weights.transpose(1, 2).unsqueeze(-1)  # (B, H, L, 1)
            y = y * scale.to(y.dtype)
        return self.out(y.transpose(1, 2).reshape(b, seq, d))


@dataclass
class Memory:
    """Tokens a block's cross-attention reads (ponder.models.demo_memory builds them):
    tokens (B, M, D), keep (B, M) True where a token may be attended to; rotary tables of
    the queries (Lq, Dh/2) and of the memory tokens (M, Dh/2), so the attention sees 2D
    offsets between a query cell and a memory cell."""

    tokens: torch.Tensor
    keep: torch.Tensor
    query_cos: torch.Tensor
    query_sin: torch.Tensor
    key_cos: torch.Tensor
    key_sin: torch.Tensor


class CrossAttention(nn.Module):
    """Each query token attends to the memory tokens it may keep; rotary positions on both
    sides. The output projection starts at zero, so adding it leaves a fresh block's
    function unchanged."""

    def __init__(self, hidden: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.query = Linear(hidden, hidden)
        self.key_value = Linear(hidden, 2 * hidden)
        self.out = Linear(hidden, hidden)
        nn.init.zeros_(self.out.weight)

    def forward(self, x: torch.Tensor, memory: Memory) -> torch.Tensor:
        """x (B, Lq, D) -> (B, Lq, D)."""
        b, length, d = x.shape
        heads, m = self.num_heads, memory.tokens.shape[1]
        q = self.query(x).view(b, length, heads, d // heads).transpose(1, 2)  # (B, H, Lq, Dh)
        kv = self.key_value(memory.tokens.to(x.dtype)).view(b, m, 2, heads, d // heads)
        k, v = kv.permute(2, 0, 3, 1, 4)  # each (B, H, M, Dh)
        q = rotate(q, memory.query_cos, memory.query_sin)
        k = rotate(k, memory.key_cos, memory.key_sin)
        y = attend(q, k, v, memory.keep[:, None, None, :])  # (B, H, Lq, Dh)
        return self.out(y.transpose(1, 2).reshape(b, length, d))
