"""Shared building blocks: RMSNorm, SwiGLU, rotary and learned positions, attention, blocks.

Everything is pure PyTorch. Blocks are post-norm as in HRM/TRM: x <- norm(x + f(x)), with an
RMSNorm that has no learned scale. Shapes: B batch, L sequence, D hidden, H heads, Dh = D / H.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def rope_angles(positions: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Rotation angles (L, dim/2) for integer positions (L,) over `dim` channels."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    return positions.float()[:, None] * inv_freq[None, :]


def grid_of(cells: int, template: tuple[int, int]) -> tuple[int, int]:
    """The (H, W) of a grid of `cells` cells shaped like `template`, the grid a model was
    built for: square stays square, a routing city keeps its one header row (H - W fixed).
    This is how a size-agnostic model reads the grid shape from the batch's length."""
    if cells == template[0] * template[1]:
        return template
    extra = template[0] - template[1]  # H - W
    cols = (math.isqrt(extra * extra + 4 * cells) - extra) // 2
    if cols < 1 or cols * (cols + extra) != cells:
        raise ValueError(f"{cells} cells make no grid shaped like {template[0]}x{template[1]}")
    return cols + extra, cols


def rope_tables(head_dim: int, cells: int, grid_shape, prefix: int) -> torch.Tensor:
    """(P + L, Dh/2) rotation angles: 1D from the flat index, or 2D (half of the channels by
    row, half by column); the P prefix tokens unrotated (angle 0)."""
    if grid_shape is None:
        angles = rope_angles(torch.arange(cells), head_dim)  # (L, Dh/2)
    else:
        rows, cols = grid_shape
        assert rows * cols == cells, "grid shape must cover the sequence"
        idx, half = torch.arange(cells), head_dim // 2
        angles = torch.cat([rope_angles(idx // cols, half), rope_angles(idx % cols, half)], -1)
    return torch.cat([angles.new_zeros(prefix, angles.shape[1]), angles])


class RotaryEmbedding(nn.Module):
    """Rotary positions. 1D: angle from the flat index. 2D: half of each head's channels
    rotate with the row, half with the column, so a grid neighbour is the same relative
    rotation wherever it is (1D RoPE sees "below" as an offset of W, learned per width).
    2D tables for grids of other sizes than the one built for are made when first met."""

    def __init__(
        self, head_dim: int, seq_len: int, grid_shape: tuple[int, int] | None, prefix: int = 0
    ):
        super().__init__()
        self.head_dim, self.grid_shape, self.prefix = head_dim, grid_shape, prefix
        angles = rope_tables(head_dim, seq_len, grid_shape, prefix)  # (P + L, Dh/2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)
        self._other: dict[tuple[int, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin (length, Dh/2) for a sequence of `length` tokens, prefix included."""
        if length == self.cos.shape[0]:
            return self.cos, self.sin
        key = (length, device)
        if key not in self._other:
            cells = length - self.prefix
            shape = None if self.grid_shape is None else grid_of(cells, self.grid_shape)
            angles = rope_tables(self.head_dim, cells, shape, self.prefix).to(device)
            self._other[key] = (angles.cos(), angles.sin())
        return self._other[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate x (B, H, L, Dh) pairwise: channel i with channel i + Dh/2."""
        cos, sin = self.tables(x.shape[-2], x.device)  # (L, Dh/2)
        return rotate(x, cos, sin)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary positions: x (..., L, Dh), channel i turned with channel i + Dh/2 by the
    angles whose cos and sin are (L, Dh/2); in fp32, returned in x's dtype."""
    x1, x2 = x.float().chunk(2, dim=-1)
    out = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
    return out.to(x.dtype)


def local_window_mask(grid_shape: tuple[int, int], radius: int, prefix: int = 0) -> torch.Tensor:
    """Boolean (P+L, P+L) mask letting each cell attend to cells within Chebyshev distance
    `radius` on the 2D grid: a locality prior (mazes are solved by local propagation).
    The P prefix (puzzle-embedding) tokens see and are seen by every position."""
    rows, cols = grid_shape
    r = torch.arange(rows * cols) // cols
    c = torch.arange(rows * cols) % cols
    near_rows = (r[:, None] - r[None, :]).abs() <= radius
    near_cols = (c[:, None] - c[None, :]).abs() <= radius
    grid = near_rows & near_cols  # (L, L)
    mask = torch.ones(prefix + rows * cols, prefix + rows * cols, dtype=torch.bool)
    mask[prefix:, prefix:] = grid
    return mask


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


class GridConv(nn.Module):
    """Token mixer as a dense 3x3 convolution over the 2D grid: each cell mixes its 8
    neighbours' features. Same call signature as Attention (rotary and mask unused). Its
    weights do not depend on the grid's size: the shape comes from the sequence length."""

    def __init__(self, hidden: int, grid_shape: tuple[int, int]):
        super().__init__()
        self.grid_shape = grid_shape
        self.conv = nn.Conv2d(hidden, hidden, 3, padding=1, bias=False)
        trunc_normal_(self.conv.weight, std=1.0 / math.sqrt(9 * hidden))

    def forward(self, x: torch.Tensor, rotary=None, mask=None, head_weights=None) -> torch.Tensor:
        b, seq, d = x.shape
        rows, cols = grid_of(seq, self.grid_shape)
        grid = x.transpose(1, 2).reshape(b, d, rows, cols)  # (B, D, H, W)
        return self.conv(grid).reshape(b, d, seq).transpose(1, 2)  # (B, L, D)


class SequenceMLP(nn.Module):
    """Token mixer as TRM's MLP over the sequence axis (`mlp_t`, its best Sudoku model): a
    SwiGLU across the P + L positions, shared by every channel. Same call signature as
    Attention (rotary and mask unused). Its weights fix the sequence length."""

    def __init__(self, length: int, expansion: float, multiple_of: int):
        super().__init__()
        self.length = length
        self.mlp = SwiGLU(length, expansion, multiple_of)

    def forward(self, x: torch.Tensor, rotary=None, mask=None, head_weights=None) -> torch.Tensor:
        if x.shape[1] != self.length:
            got = x.shape[1]
            raise ValueError(f"the MLP mixer is built for {self.length} positions, got {got}")
        return self.mlp(x.transpose(1, 2)).transpose(1, 2)  # (B, D, L) -> mix L -> (B, L, D)


class Block(nn.Module):
    """Post-norm block: x <- norm(x + mix(x)); x <- norm(x + mlp(x)), where mix is
    self-attention, a grid convolution (grid_shape) or an MLP over the sequence
    (mlp_length positions)."""

    def __init__(
        self,
        hidden: int,
        num_heads: int,
        expansion: float,
        multiple_of: int,
        grid_shape: tuple[int, int] | None = None,
        mlp_length: int | None = None,
        cross_heads: int = 0,
    ):
        super().__init__()
        # The mixer keeps the name `attn` so checkpoints of either kind read the same way.
        if mlp_length is not None:
            self.attn = SequenceMLP(mlp_length, expansion, multiple_of)
        elif grid_shape is None:
            self.attn = Attention(hidden, num_heads)
        else:
            self.attn = GridConv(hidden, grid_shape)
        self.cross = CrossAttention(hidden, cross_heads) if cross_heads else None
        self.mlp = SwiGLU(hidden, expansion, multiple_of)

    def forward(
        self,
        x: torch.Tensor,
        rotary: RotaryEmbedding | None,
        mask: torch.Tensor | None,
        head_weights: torch.Tensor | None = None,
        memory: Memory | None = None,
    ) -> torch.Tensor:
        x = rms_norm(x + self.attn(x, rotary, mask, head_weights))
        if self.cross is not None and memory is not None:
            x = rms_norm(x + self.cross(x, memory))  # read the demonstrations' cells
        return rms_norm(x + self.mlp(x))


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
        demo=None,  # ponder.models.conditioning.DemoEncoder
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


class Trunk(nn.Module):
    """A stack of blocks sharing one rotary table and one attention mask: the "net" that a
    recursive model applies many times, or a direct model applies once."""

    def __init__(
        self,
        *,
        hidden: int,
        num_heads: int,
        num_layers: int,
        expansion: float,
        multiple_of: int,
        seq_len: int,
        pos_encoding: str,
        grid_shape: tuple[int, int] | None,
        attn_window: int,
        mixer: str = "attention",
        prefix: int = 0,
        cross_heads: int = 0,
    ):
        super().__init__()
        if mixer == "conv" and prefix:
            raise ValueError("a grid convolution cannot mix puzzle-embedding tokens")
        conv_grid = _require_grid(grid_shape) if mixer == "conv" else None
        mlp_length = prefix + seq_len if mixer == "mlp" else None  # TRM's mlp_t
        self.blocks = nn.ModuleList(
            Block(hidden, num_heads, expansion, multiple_of, conv_grid, mlp_length, cross_heads)
            for _ in range(num_layers)
        )
        head_dim = hidden // num_heads
        self.rotary = None
        if pos_encoding == "rope":
            self.rotary = RotaryEmbedding(head_dim, prefix + seq_len, None)
        elif pos_encoding == "rope2d":
            self.rotary = RotaryEmbedding(head_dim, seq_len, _require_grid(grid_shape), prefix)
        mask = None
        self.window, self.grid_shape, self.prefix = 0, grid_shape, prefix
        if attn_window > 0 and mixer == "attention":
            self.window = attn_window
            mask = local_window_mask(_require_grid(grid_shape), attn_window, prefix)
        self.register_buffer("mask", mask, persistent=False)
        self._other_masks: dict[tuple[int, torch.device], torch.Tensor] = {}

    def forward(
        self,
        x: torch.Tensor,
        head_weights: torch.Tensor | None = None,
        memory: Memory | None = None,
    ) -> torch.Tensor:
        """x (B, L, D) -> (B, L, D); `memory`: demonstration cells to cross-attend to."""
        mask = self._mask(x.shape[1], x.device)
        for block in self.blocks:
            x = block(x, self.rotary, mask, head_weights, memory)
        return x

    def _mask(self, length: int, device: torch.device) -> torch.Tensor | None:
        """The local-attention mask for a sequence of `length` tokens (another grid size's
        is made when first met)."""
        if self.mask is None or length == self.mask.shape[0]:
            return self.mask
        key = (length, device)
        if key not in self._other_masks:
            shape = grid_of(length - self.prefix, self.grid_shape)
            self._other_masks[key] = local_window_mask(shape, self.window, self.prefix).to(device)
        return self._other_masks[key]


def _require_grid(grid_shape: tuple[int, int] | None) -> tuple[int, int]:
    if grid_shape is None:
        raise ValueError("2D positions, local attention and grid convolutions need a grid")
    return grid_shape


class QHead(nn.Module):
    """Halting logits from a pooled state: q_halt ("the answer is right now") and, when
    asked for, q_continue (HRM's Q-learning). Weight 0 and a negative bias at init (HRM/TRM),
    i.e. "do not halt yet" until the model has learned when its answers are right."""

    def __init__(self, hidden: int, bias_init: float, pool: str, with_continue: bool = False):
        super().__init__()
        self.pool = pool
        self.with_continue = with_continue
        self.proj = Linear(hidden, 2 if with_continue else 1, bias=True)
        nn.init.zeros_(self.proj.weight)
        nn.init.constant_(self.proj.bias, bias_init)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """h (B, L, D) -> q_halt (B,), q_continue (B,) or None; in fp32."""
        pooled = h[:, 0] if self.pool == "first" else h.mean(dim=1)  # (B, D)
        q = self.proj(pooled).float()  # (B, 1 or 2)
        return q[:, 0], (q[:, 1] if self.with_continue else None)


class PointerHead(nn.Module):
    """The path-sequence answer: next-cell pointers for K horizons. h (B, L, D) ->
    (B, K, L, L), where row i scores every cell as the one k moves after cell i on the
    route (scaled dot products of a per-horizon query of cell i and a key of each cell)."""

    def __init__(self, hidden: int, horizons: int):
        super().__init__()
        self.horizons = horizons
        self.query = Linear(hidden, horizons * hidden)
        self.key = Linear(hidden, hidden)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, length, d = h.shape
        q = self.query(h).view(b, length, self.horizons, d).transpose(1, 2)  # (B, K, L, D)
        k = self.key(h).unsqueeze(1)  # (B, 1, L, D)
        return q @ k.transpose(-1, -2) / math.sqrt(d)  # (B, K, L, L)


def build_answer_head(config, spec) -> nn.Module:
    """Tokens of the answer grid (B, L, V), or next-cell pointers (B, K, L, L) when the
    objective asks for them (spec.pointer_horizons = K > 0)."""
    if spec.pointer_horizons > 0:
        return PointerHead(config.hidden_size, spec.pointer_horizons)
    return Linear(config.hidden_size, spec.vocab_size)


def build_embedding(config, spec) -> TokenEmbedding:
    learned = config.pos_encoding == "learned"
    puzzle = demo = None
    if config.demo_encoder is not None:
        from ponder.models.conditioning import DemoEncoder  # it builds on these layers

        demo = DemoEncoder(
            config.demo_encoder,
            spec.vocab_size,
            _require_grid(spec.grid_shape),
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
        encoder = GridEncoder(spec.vocab_size, config.hidden_size, _require_grid(spec.grid_shape))
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


def build_trunk(config, spec, num_layers: int) -> Trunk:
    """A block stack shaped by a TrunkConfig, with `num_layers` blocks."""
    return Trunk(
        hidden=config.hidden_size,
        num_heads=config.num_heads,
        num_layers=num_layers,
        expansion=config.expansion,
        multiple_of=config.ffn_multiple_of,
        seq_len=spec.seq_len,
        pos_encoding=config.pos_encoding,
        grid_shape=spec.grid_shape,
        attn_window=config.attn_window,
        mixer=config.mixer,
        prefix=config.puzzle_emb_len,
        cross_heads=memory.num_heads if (memory := getattr(config, "demo_memory", None)) else 0,
    )


def build_io(config, spec) -> tuple[TokenEmbedding, Trunk, nn.Module, QHead]:
    """Embedding, block stack, output head and halting head from a TrunkConfig."""
    d = config.hidden_size
    # Creation order fixes which random numbers each weight's init draws: keep it.
    embed = build_embedding(config, spec)
    trunk = build_trunk(config, spec, config.num_layers)
    head = build_answer_head(config, spec)
    q_head = QHead(d, config.halt_bias_init, config.q_pool, config.q_continue)
    return embed, trunk, head, q_head
