"""Decoder-only few-shot model: one causal transformer stack over the flat sequence

    [demo 1 input, demo 1 output, ..., demo K input, demo K output, query input, L output slots]

with 1D RoPE over the whole sequence. Grid tokens are token + role embeddings (roles:
demo input, demo output, query input, output slot); an output slot is a learned embedding
of its cell plus the output-slot role. The answer is NOT generated autoregressively: the
whole output canvas is predicted in one pass, one logit vector per output slot (L slots),
trained by plain cross-entropy. The causal mask is combined with a key-padding mask that
hides the tokens of unusable demo slots (demo_mask False), so their content never matters.
One segment, empty carry (as transformer.Transformer); `labels` is never read.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ponder.models.base import DataSpec, FrozenConfig, ModelOutputs
from ponder.models.feedforward import Linear
from ponder.models.heads import QHead
from ponder.models.seq_layers import Rotary, causal_mask, embedding_table, slot_key_mask, unit_sum
from ponder.models.transformer import EmptyCarry
from ponder.models.trunk import Block


class SeqDecoderConfig(FrozenConfig):
    """Used by the decoder-only few-shot model (ponder.models.seq_decoder): one causal
    stack over the demonstrations, the query and the output slots."""

    name: Literal["seq_decoder"] = "seq_decoder"
    """The model: ponder.models picks the class by this name (a model section must give it)."""
    q_continue: Literal[False] = False
    """Always false: these models answer in one segment, so they have no Q-learning
    continue head (the engine reads this key of every model)."""
    demo_encoder: None = None
    """Always null: the demonstrations are part of the model's own input sequence."""
    hidden_size: int = Field(64, gt=0)
    """Width D of every token's state."""
    num_heads: int = Field(4, gt=0)
    """Attention heads per block; hidden_size / num_heads must be even (1D RoPE)."""
    num_layers: int = Field(4, gt=0)
    """Blocks in the one stack: as deep as seq_encdec's encoder + decoder."""
    expansion: float = Field(4.0, gt=0)
    """SwiGLU inner = 2/3 * expansion * hidden, rounded up."""
    ffn_multiple_of: int = Field(16, gt=0)
    """The SwiGLU inner width is rounded up to a multiple of this."""
    halt_bias_init: float = -5.0
    """Initial bias of the halting head: negative, so early training does not halt at once."""


# Role embedding rows.
DEMO_IN, DEMO_OUT, QUERY_IN, OUT_SLOT = range(4)


class SeqDecoder(nn.Module):
    def __init__(self, config: SeqDecoderConfig, spec: DataSpec):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.seq_len = spec.seq_len
        self.head_dim = d // config.num_heads
        self.tokens = embedding_table(spec.vocab_size, d)
        self.roles = embedding_table(4, d)
        self.slots = embedding_table(spec.seq_len, d)  # one learned query per output cell
        self.blocks = nn.ModuleList(
            Block(d, config.num_heads, config.expansion, config.ffn_multiple_of)
            for _ in range(config.num_layers)
        )
        self.lm_head = Linear(d, spec.vocab_size)
        # With one segment q_halt only reports confidence; it reads the mean output slot.
        self.q_head = QHead(d, config.halt_bias_init, pool="mean")

    def init_carry(
        self, batch_size: int, device: torch.device | str, seq_len: int | None = None
    ) -> EmptyCarry:
        return EmptyCarry()

    def _embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The flat sequence (B, T, D), T = (2K + 2) * L, at unit scale."""
        demos = torch.stack([batch["demo_inputs"], batch["demo_labels"]], dim=2)  # (B, K, 2, L)
        roles = self.roles.weight  # (4, D)
        x_demo = unit_sum(self.tokens(demos), roles[DEMO_IN : DEMO_OUT + 1, None])
        x_query = unit_sum(self.tokens(batch["inputs"]), roles[QUERY_IN])  # (B, L, D)
        x_slots = unit_sum(self.slots.weight, roles[OUT_SLOT])  # (L, D)
        b = x_query.shape[0]
        x_slots = x_slots.expand(b, -1, -1)
        return torch.cat([x_demo.flatten(1, 3), x_query, x_slots], dim=1)

    def _mask(self, demo_mask: torch.Tensor) -> torch.Tensor:
        """(B, 1, T, T): causal, and no token sees a hidden demo slot's tokens."""
        b = demo_mask.shape[0]
        demo_valid = slot_key_mask(demo_mask, 2 * self.seq_len)  # (B, 2KL)
        rest = demo_mask.new_ones(b, 2 * self.seq_len)  # query input and output slots
        return causal_mask(torch.cat([demo_valid, rest], dim=1))

    def forward(
        self, carry: EmptyCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[EmptyCarry, ModelOutputs]:
        x = self._embed(batch)  # (B, T, D)
        rotary = Rotary(torch.arange(x.shape[1]), self.head_dim, x.device)
        mask = self._mask(batch["demo_mask"])
        for block in self.blocks:
            x = block(x, rotary, mask)
        h = x[:, -self.seq_len :]  # (B, L, D) the output slots
        q_halt, _ = self.q_head(h)
        return carry, ModelOutputs(logits=self.lm_head(h), q_halt=q_halt)
