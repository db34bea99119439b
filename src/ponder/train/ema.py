"""Exponential moving average of the weights (TRM evaluates the EMA copy, rate 0.999)."""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class ModelEMA:
    """Thin wrapper over torch's AveragedModel: `.module` is the averaged copy."""

    def __init__(self, model: nn.Module, rate: float):
        self.averaged = AveragedModel(
            model, multi_avg_fn=get_ema_multi_avg_fn(rate), use_buffers=True
        )
        self.averaged.requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        return self.averaged.module

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.averaged.update_parameters(model)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.averaged.load_state_dict(state)
