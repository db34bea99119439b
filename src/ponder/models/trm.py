"""TRM: the Tiny Recursive Model (Jolicoeur-Martineau, arXiv 2510.04871).

One small network updates a latent z and an answer y. Per supervision segment:

    repeat T times:                 # the first T-1 without gradient
        repeat n times: z <- net(z + y + x)
        y <- net(y + z)

so the last recursion backpropagates through its n + 1 calls. The answer is read from y;
q_halt ("the answer is right now") from a pooled y. Paper symbols map to config keys here
and nowhere else: n -> `n`, T -> `T`; N_sup (segments) is the engine's `train.N_sup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from ponder.models.assembly import build_io
from ponder.models.attention import Memory
from ponder.models.base import DataSpec, DemoMemoryConfig, ModelOutputs, TrunkConfig
from ponder.models.demo_memory import DemoMemory
from ponder.models.feedforward import trunc_normal_


class TRMConfig(TrunkConfig):
    """Used by the TRM model (ponder.models.trm): one small net recursing on a latent z and
    an answer y."""

    name: Literal["trm"] = "trm"
    """The model: ponder.models picks the class by this name (a model section must give it)."""
    num_layers: int = Field(2, gt=0)
    """Layers in the one shared net (paper: 2)."""
    n: int = Field(6, gt=0)
    """Latent updates per recursion (paper n; 4 for Maze and ARC)."""
    T: int = Field(3, gt=0)
    """Recursions per segment (paper T), the first T-1 without gradient."""
    output_skip: bool = False
    """Not in the paper: read the answer from y + x instead of y, so cells the puzzle already
    fixes (walls, start, goal, givens) can be copied without threading them through z."""
    one_step_grad: bool = False
    """Ablation (TRM paper, Sudoku 87.4% -> 56.5%): backpropagate through the last z update
    and the y update only, HRM's "1-step gradient", instead of all n + 1 calls."""
    demo_memory: DemoMemoryConfig | None = None
    """Few-shot tasks: the query's cells cross-attend to the demonstration pairs' cells in
    every block (ponder.models.demo_memory); beside or instead of demo_encoder."""

    @model_validator(mode="after")
    def _memory_heads_fit_2d_rope(self) -> TRMConfig:
        memory = self.demo_memory
        if memory is not None and (self.hidden_size % memory.num_heads or
                                   (self.hidden_size // memory.num_heads) % 4):  # fmt: skip
            raise ValueError("hidden_size / demo_memory.num_heads must be a multiple of 4")
        return self


@dataclass
class TRMCarry:
    z: torch.Tensor  # (B, L, D) latent reasoning state
    y: torch.Tensor  # (B, L, D) embedded current answer


class TRM(nn.Module):
    def __init__(self, config: TRMConfig, spec: DataSpec):
        super().__init__()
        self.config = config
        self.embed, self.net, self.lm_head, self.q_head = build_io(config, spec)
        # Fixed (not learned) initial states, one vector broadcast to every position.
        d = config.hidden_size
        self.register_buffer("z_init", trunc_normal_(torch.empty(d), std=1.0))
        self.register_buffer("y_init", trunc_normal_(torch.empty(d), std=1.0))
        self.prefix = config.puzzle_emb_len  # puzzle-embedding tokens before the grid
        self.seq_len = spec.seq_len  # grid cells of the training grid
        self.demo_memory = None
        if config.demo_memory is not None:
            self.demo_memory = DemoMemory(
                config.demo_memory, spec.vocab_size, d, _grid(spec), self.prefix
            )

    def init_carry(
        self, batch_size: int, device: torch.device | str, seq_len: int | None = None
    ) -> TRMCarry:
        """Fresh states for `batch_size` rows of `seq_len` grid cells (default: the size the
        model was built for; a size-agnostic model runs on others)."""
        shape = (batch_size, self.prefix + (seq_len or self.seq_len), self.config.hidden_size)
        z = self.z_init.to(device).expand(shape).clone()
        y = self.y_init.to(device).expand(shape).clone()
        return TRMCarry(z=z, y=y)

    def recursion(
        self,
        z: torch.Tensor,
        y: torch.Tensor,
        x: torch.Tensor,
        cut: bool = False,
        memory: Memory | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One recursion: n latent updates with the input injected, then one answer update.
        With `cut`, the first n - 1 latent updates run without gradient (1-step gradient).
        `memory`: the demonstrations' cells, attended to in every call of the net."""
        n = self.config.n
        with torch.set_grad_enabled(torch.is_grad_enabled() and not cut):
            for _ in range(n - 1):
                z = self.net(self._inject(z, y, x), memory=memory)
        z = self.net(self._inject(z, y, x), memory=memory)
        y = self.net(y + z, memory=memory)
        return z, y

    def _inject(self, z: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """z + y + x (B, P + L, D), summed in the order model.official_sum_order picks."""
        return z + (y + x) if self.config.official_sum_order else z + y + x

    def forward(
        self, carry: TRMCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[TRMCarry, ModelOutputs]:
        x = self.embed(batch)  # (B, P + L, D)
        memory = self.demo_memory(batch) if self.demo_memory is not None else None
        z, y = carry.z.to(x.dtype), carry.y.to(x.dtype)
        with torch.no_grad():
            for _ in range(self.config.T - 1):
                z, y = self.recursion(z, y, x, memory=memory)
        z, y = self.recursion(z, y, x, cut=self.config.one_step_grad, memory=memory)
        answer = y + x if self.config.output_skip else y
        q_halt, q_continue = self.q_head(y)
        logits = self.lm_head(
            answer[:, self.prefix :]
        )  # grid positions only: (B, L, V) or pointers
        stats = self.embed.last_stats or None  # the prefix's norms, an encoder's latent
        outputs = ModelOutputs(
            logits, q_halt, q_continue, stats=stats, aux_losses=dict(self.embed.last_aux)
        )
        return TRMCarry(z=z.detach(), y=y.detach()), outputs


def _grid(spec: DataSpec) -> tuple[int, int]:
    if spec.grid_shape is None:
        raise ValueError("model.demo_memory needs a grid (a few-shot canvas)")
    return spec.grid_shape
