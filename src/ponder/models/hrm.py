"""HRM: the Hierarchical Reasoning Model (Wang et al., arXiv 2506.21734).

Two modules: L (fast) and H (slow). Per supervision segment, with x the embedded input:

    repeat H_cycles times:
        repeat L_cycles times: z_L <- L(z_L + z_H + x)
        z_H <- H(z_H + z_L)

Every update but the last L and the last H step runs without gradient (the paper's
"1-step gradient"). The answer is read from z_H; q_halt and q_continue from z_H's first
position. Paper symbols map here once: H_cycles, L_cycles, H_layers, L_layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ponder.models.base import DataSpec, ModelOutputs, TrunkConfig
from ponder.models.embedding import build_embedding
from ponder.models.feedforward import trunc_normal_
from ponder.models.heads import QHead, build_answer_head
from ponder.models.trunk import build_trunk


class HRMConfig(TrunkConfig):
    """Used by the HRM model (ponder.models.hrm): a slow H module and a fast L module."""

    name: Literal["hrm"] = "hrm"
    """The model: ponder.models picks the class by this name (a model section must give it)."""
    q_continue: bool = True
    """HRM's head has (q_halt, q_continue)."""
    H_layers: int = Field(4, gt=0)
    """Blocks in the slow module."""
    L_layers: int = Field(4, gt=0)
    """Blocks in the fast module."""
    H_cycles: int = Field(2, gt=0)
    """Slow updates per segment."""
    L_cycles: int = Field(2, gt=0)
    """Fast updates per slow update."""


@dataclass
class HRMCarry:
    z_H: torch.Tensor  # (B, L, D) slow state
    z_L: torch.Tensor  # (B, L, D) fast state


class HRM(nn.Module):
    def __init__(self, config: HRMConfig, spec: DataSpec):
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.embed = build_embedding(config, spec)
        self.H = build_trunk(config, spec, config.H_layers)
        self.L = build_trunk(config, spec, config.L_layers)
        self.lm_head = build_answer_head(config, spec)
        # (q_halt, q_continue) from the first position: weight 0, bias -5 at init (HRM).
        self.q_head = QHead(d, config.halt_bias_init, config.q_pool, config.q_continue)
        self.register_buffer("H_init", trunc_normal_(torch.empty(d), std=1.0))
        self.register_buffer("L_init", trunc_normal_(torch.empty(d), std=1.0))
        self.prefix = config.puzzle_emb_len  # puzzle-embedding tokens before the grid
        self.seq_len = spec.seq_len  # grid cells of the training grid

    def init_carry(
        self, batch_size: int, device: torch.device | str, seq_len: int | None = None
    ) -> HRMCarry:
        """Fresh states for `batch_size` rows of `seq_len` grid cells (default: the size the
        model was built for; a size-agnostic model runs on others)."""
        shape = (batch_size, self.prefix + (seq_len or self.seq_len), self.config.hidden_size)
        z_H = self.H_init.to(device).expand(shape).clone()
        z_L = self.L_init.to(device).expand(shape).clone()
        return HRMCarry(z_H=z_H, z_L=z_L)

    def _inject(self, z_L: torch.Tensor, z_H: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """z_L + z_H + x (B, P + L, D), summed in the order model.official_sum_order picks."""
        return z_L + (z_H + x) if self.config.official_sum_order else z_L + z_H + x

    def forward(
        self, carry: HRMCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[HRMCarry, ModelOutputs]:
        x = self.embed(batch)  # (B, P + L, D)
        z_H, z_L = carry.z_H.to(x.dtype), carry.z_L.to(x.dtype)
        cfg = self.config
        with torch.no_grad():
            for h in range(cfg.H_cycles):
                for step in range(cfg.L_cycles):
                    last = h == cfg.H_cycles - 1 and step == cfg.L_cycles - 1
                    if not last:
                        z_L = self.L(self._inject(z_L, z_H, x))
                if h < cfg.H_cycles - 1:
                    z_H = self.H(z_H + z_L)
        # 1-step gradient: only the final L and H updates are differentiated.
        z_L = self.L(self._inject(z_L, z_H, x))
        z_H = self.H(z_H + z_L)
        q_halt, q_continue = self.q_head(z_H)
        logits = self.lm_head(z_H[:, self.prefix :])  # grid positions only: (B, L, V) or pointers
        stats = self.embed.last_stats or None  # the prefix's norms, an encoder's latent
        outputs = ModelOutputs(
            logits, q_halt, q_continue, stats=stats, aux_losses=dict(self.embed.last_aux)
        )
        return HRMCarry(z_H=z_H.detach(), z_L=z_L.detach()), outputs
