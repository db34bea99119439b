"""The block stack a recursive model applies many times (or a direct model once): the
post-norm Block, x <- norm(x + mix(x)); x <- norm(x + mlp(x)), as in HRM/TRM, and the
Trunk of blocks sharing one rotary table and one attention mask.

Shapes: B batch, L sequence (prefix included), D hidden.
"""

from __future__ import annotations

import torch
from torch import nn

from ponder.models.attention import Attention, CrossAttention, Memory
from ponder.models.feedforward import SwiGLU, rms_norm
from ponder.models.grid import grid_of, local_window_mask, require_grid
from ponder.models.mixers import GridConv, SequenceMLP
from ponder.models.rotary import RotaryEmbedding


class Block(nn.Module):
    """Post-norm block: x <- norm(x + mix(x)); x <- norm(x + mlp(x)), where mix is
    self-attention, a grid convolution (grid_shape) or an MLP over the sequence
    (mlp_length positions). With `mix_norm_over_sequence` the first norm runs over the
    positions of each channel instead of the channels of each position (official TRM's
    mlp_t)."""

    def __init__(
        self,
        hidden: int,
        num_heads: int,
        expansion: float,
        multiple_of: int,
        grid_shape: tuple[int, int] | None = None,
        mlp_length: int | None = None,
        cross_heads: int = 0,
        mix_norm_over_sequence: bool = False,
    ):
        super().__init__()
        self.mix_norm_over_sequence = mix_norm_over_sequence
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
        x = x + self.attn(x, rotary, mask, head_weights)  # (B, L, D)
        if self.mix_norm_over_sequence:
            x = rms_norm(x.transpose(1, 2)).transpose(1, 2)  # each channel over its L
        else:
            x = rms_norm(x)
        if self.cross is not None and memory is not None:
            x = rms_norm(x + self.cross(x, memory))  # read the demonstrations' cells
        return rms_norm(x + self.mlp(x))


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
        mlp_mixer_norm: str = "hidden",
    ):
        super().__init__()
        if mixer == "conv" and prefix:
            raise ValueError("a grid convolution cannot mix puzzle-embedding tokens")
        conv_grid = require_grid(grid_shape) if mixer == "conv" else None
        mlp_length = prefix + seq_len if mixer == "mlp" else None  # TRM's mlp_t
        over_sequence = mixer == "mlp" and mlp_mixer_norm == "sequence"
        shape = (hidden, num_heads, expansion, multiple_of, conv_grid, mlp_length, cross_heads)
        self.blocks = nn.ModuleList(
            Block(*shape, mix_norm_over_sequence=over_sequence) for _ in range(num_layers)
        )
        head_dim = hidden // num_heads
        self.rotary = None
        if pos_encoding == "rope":
            self.rotary = RotaryEmbedding(head_dim, prefix + seq_len, None)
        elif pos_encoding == "rope2d":
            self.rotary = RotaryEmbedding(head_dim, seq_len, require_grid(grid_shape), prefix)
        mask = None
        self.window, self.grid_shape, self.prefix = 0, grid_shape, prefix
        if attn_window > 0 and mixer == "attention":
            self.window = attn_window
            mask = local_window_mask(require_grid(grid_shape), attn_window, prefix)
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
        mlp_mixer_norm=config.mlp_mixer_norm,
    )
