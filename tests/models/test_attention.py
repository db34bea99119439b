"""Attention as two matmuls (short bf16 sequences on a CPU) equals SDPA's."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ponder.models import attention
from ponder.models.attention import attend, matmul_attention
from ponder.models.grid import local_window_mask


@pytest.mark.parametrize("masked", [False, True])
def test_matmul_attention_equals_sdpa(masked):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 16, 8) for _ in range(3))
    mask = local_window_mask((4, 4), 1) if masked else None
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(matmul_attention(q, k, v, mask), expected, rtol=1e-5, atol=1e-6)


def test_attend_takes_matmuls_only_for_short_bf16_cpu_sequences(monkeypatch):
    used = []
    monkeypatch.setattr(attention, "matmul_attention", lambda *a: used.append("matmul") or a[0])
    q = torch.randn(1, 1, 8, 4)
    attend(q, q, q, None)
    attend(q.bfloat16(), q.bfloat16(), q.bfloat16(), None)
    assert used == ["matmul"]
    long = torch.randn(1, 1, attention.CPU_BF16_MATMUL_ATTENTION_MAX_LEN + 1, 4).bfloat16()
    attend(long, long, long, None)
    assert used == ["matmul"]  # the fused kernel for long sequences


def test_bf16_matmul_attention_is_close_to_fp32():
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 2, 32, 16) for _ in range(3))
    low = attend(q.bfloat16(), k.bfloat16(), v.bfloat16(), None).float()
    torch.testing.assert_close(low, F.scaled_dot_product_attention(q, k, v), rtol=0.05, atol=0.03)
