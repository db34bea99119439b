"""The parts of a TrunkConfig model (TRM, the transformer, PoH): its embedding, block
stack, answer head and halting head, built in one fixed order."""

from __future__ import annotations

from torch import nn

from ponder.models.embedding import TokenEmbedding, build_embedding
from ponder.models.heads import QHead, build_answer_head
from ponder.models.trunk import Trunk, build_trunk


def build_io(config, spec) -> tuple[TokenEmbedding, Trunk, nn.Module, QHead]:
    """Embedding, block stack, output head and halting head from a TrunkConfig."""
    d = config.hidden_size
    # Creation order fixes which random numbers each weight's init draws: keep it.
    embed = build_embedding(config, spec)
    trunk = build_trunk(config, spec, config.num_layers)
    head = build_answer_head(config, spec)
    q_head = QHead(d, config.halt_bias_init, config.q_pool, config.q_continue)
    return embed, trunk, head, q_head
