"""DeepThinking: a recurrent residual convolution network with recall (Bansal et al. 2022,
"End-to-end Algorithm Synthesis with Recurrent Networks", arXiv 2202.05826; Schwarzschild
et al. 2021, arXiv 2106.04537). The field's anchor for mazes: trained on small mazes, it
solves much larger ones by iterating longer.

With x the one-hot input grid (B, V, H, W) and s the state (B, C, H, W):

    s <- relu(project(x))                       once, when a puzzle starts
    repeat `iterations` times per segment:
        s <- blocks(relu(recall([s, x])))       recall: the input concatenated every time
    answer = head(s)                            (B, V, H, W) -> logits (B, L, V)

`blocks` is `num_blocks` residual blocks of two 3x3 convolutions each, without
normalisation, as the published maze network. Every layer is a 3x3 convolution (no
positions, no grid-sized weights), so the same weights run on a grid of any size. One model
call is one supervision segment of `iterations` iterations, backpropagated in full; the
progressive loss (train.progressive) trains it from states it reached itself.

The halting logit reads the mean of the state: the papers' q_halt, weight 0 and a negative
bias at init, so `train.halting` and `--halt q` work as for the other models. Its loss
(train.halt_loss_weight) reaches the recurrence unless `halt_detached`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ponder.models.base import DataSpec, FrozenConfig, ModelOutputs
from ponder.models.grid import grid_of, require_grid
from ponder.models.heads import QHead


class DTConfig(FrozenConfig):
    """Used by the DeepThinking model (ponder.models.dt): a recurrent 3x3 convolution
    network with recall, size-agnostic."""

    name: Literal["dt"] = "dt"
    """The model: ponder.models picks the class by this name (a model section must give it)."""
    width: int = Field(32, gt=0)
    """Channels C of the recurrent state (published maze network: 128; the CPU probe: 32)."""
    num_blocks: int = Field(2, gt=0)
    """Residual blocks (two 3x3 convolutions each) applied per iteration."""
    iterations: int = Field(1, gt=0)
    """Recurrent iterations per supervision segment (one model call); judging at N segments
    runs N * iterations iterations."""
    recall: bool = True
    """Concatenate the input to the state at every iteration (DeepThinking's recall); off,
    the state alone is iterated."""
    head_width: int = Field(32, gt=0)
    """Channels of the answer head's hidden convolutions (3x3 -> head_width -> 8 -> V)."""
    halt_bias_init: float = -5.0
    """Initial bias of the halting head: negative, so early training does not halt at once."""
    q_continue: bool = False
    """A q_continue output too (train.halting=hrm turns it on)."""
    halt_detached: bool = False
    """The halting head reads a detached state: its loss trains the head alone and sends no
    gradient into the recurrence (the published network has no halting head)."""


@dataclass
class DTCarry:
    state: torch.Tensor  # (B, C, H, W) the recurrent "thought"
    started: torch.Tensor  # (B,) bool: the state has been projected from this row's input


def conv3x3(inputs: int, outputs: int) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, kernel_size=3, padding=1, bias=False)


class ResidualBlock(nn.Module):
    """s + conv(relu(conv(s))), then relu: the published network's basic block, no norm."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = conv3x3(width, width)
        self.conv2 = conv3x3(width, width)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return F.relu(s + self.conv2(F.relu(self.conv1(s))))


class DeepThinking(nn.Module):
    def __init__(self, config: DTConfig, spec: DataSpec):
        super().__init__()
        if spec.pointer_horizons:
            raise ValueError("model dt answers with grid tokens; use objective grid")
        self.config = config
        self.grid_shape = require_grid(spec.grid_shape)
        self.vocab = spec.vocab_size
        c, v = config.width, spec.vocab_size
        self.project = conv3x3(v, c)
        self.recall = conv3x3(c + v if config.recall else c, c)
        self.blocks = nn.Sequential(*(ResidualBlock(c) for _ in range(config.num_blocks)))
        h = config.head_width
        self.head = nn.Sequential(conv3x3(c, h), nn.ReLU(), conv3x3(h, 8), nn.ReLU(), conv3x3(8, v))
        self.q_head = QHead(c, config.halt_bias_init, "mean", config.q_continue)
        self.seq_len = spec.seq_len

    def init_carry(
        self, batch_size: int, device: torch.device | str, seq_len: int | None = None
    ) -> DTCarry:
        """A blank state for `batch_size` rows of `seq_len` cells (default: the training
        grid's); the first segment projects each row's input into it."""
        rows, cols = grid_of(seq_len or self.seq_len, self.grid_shape)
        state = torch.zeros(batch_size, self.config.width, rows, cols, device=device)
        return DTCarry(
            state=state, started=torch.zeros(batch_size, dtype=torch.bool, device=device)
        )

    def one_hot_grid(self, tokens: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) -> (B, V, H, W) on the grid of the state `like` (B, C, H, W)."""
        rows, cols = like.shape[-2:]
        x = F.one_hot(tokens.long(), self.vocab).float()  # (B, L, V)
        return x.transpose(1, 2).reshape(tokens.shape[0], self.vocab, rows, cols)

    def step(self, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One iteration: (B, C, H, W) -> (B, C, H, W)."""
        inputs = torch.cat([state, x], dim=1) if self.config.recall else state
        return self.blocks(F.relu(self.recall(inputs)))

    def forward(
        self, carry: DTCarry, batch: dict[str, torch.Tensor]
    ) -> tuple[DTCarry, ModelOutputs]:
        x = self.one_hot_grid(batch["inputs"], carry.state)  # autocast casts it for the convs
        fresh = F.relu(self.project(x))
        state = torch.where(carry.started.view(-1, 1, 1, 1), carry.state, fresh.float())
        for _ in range(self.config.iterations):
            state = self.step(state, x)
        logits = self.head(state)  # (B, V, H, W)
        b = logits.shape[0]
        logits = logits.reshape(b, self.vocab, -1).transpose(1, 2)  # (B, L, V)
        read = state.detach() if self.config.halt_detached else state
        q_halt, q_continue = self.q_head(read.flatten(2).transpose(1, 2))  # (B,) each
        carry = DTCarry(state=state.float(), started=torch.ones_like(carry.started))
        return carry, ModelOutputs(logits=logits.float(), q_halt=q_halt, q_continue=q_continue)
