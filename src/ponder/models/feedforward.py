"""The per-token layers every block is made of: RMSNorm without a learned scale, the
HRM/TRM weight init, a Linear with that init, and SwiGLU.

Pure PyTorch. Shapes: B batch, L sequence, D hidden.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def rms_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm without a learned scale, computed in fp32 for stability under bf16 autocast."""
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return x.to(dtype)


def trunc_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """Truncated normal at two standard deviations (the init HRM/TRM use for every weight)."""
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2 * std, b=2 * std)


class Linear(nn.Linear):
    """Linear layer with LeCun-normal init (std 1/sqrt(fan_in)) and no bias by default."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__(in_features, out_features, bias=bias)
        trunc_normal_(self.weight, std=1.0 / math.sqrt(in_features))
        if bias:
            nn.init.zeros_(self.bias)


def swiglu_inner_size(hidden: int, expansion: float, multiple_of: int) -> int:
    """Inner width of SwiGLU: 2/3 of expansion * hidden (so parameters match a plain MLP),
    rounded up to a multiple (HRM: 512 * 4 * 2/3 -> 1536 with multiple 256)."""
    inner = round(expansion * hidden * 2 / 3)
    return -(-inner // multiple_of) * multiple_of


class SwiGLU(nn.Module):
    def __init__(self, hidden: int, expansion: float, multiple_of: int = 256):
        super().__init__()
        inner = swiglu_inner_size(hidden, expansion, multiple_of)
        self.gate_up = Linear(hidden, 2 * inner)
        self.down = Linear(inner, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)  # (B, L, inner) each
        return self.down(F.silu(gate) * up)
