"""Optimizers and the learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from ponder.config import TrainConfig
from ponder.train.sparse_emb import SparseEmbeddingOptimizer


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The dense optimizer over the model's parameters, in two groups: matrices (weight
    decay train.weight_decay) and vectors such as biases (train.vector_weight_decay; the
    papers decay everything alike, which is the default). The puzzle-embedding table is
    not a parameter: build_sparse_optimizer updates it."""
    decay = cfg.weight_decay if cfg.vector_weight_decay is None else cfg.vector_weight_decay
    groups = []
    for encoder in (False, True):  # a demonstration encoder's parameters get their own rate
        matrices, vectors = [], []
        for name, p in model.named_parameters():
            if p.requires_grad and is_encoder_parameter(name) == encoder:
                (matrices if p.dim() >= 2 else vectors).append(p)
        groups += [
            {"params": matrices, "weight_decay": cfg.weight_decay, "encoder": encoder},
            {"params": vectors, "weight_decay": decay, "encoder": encoder},
        ]
    groups = [g for g in groups if g["params"]]
    if cfg.optimizer == "adam_atan2":
        from adam_atan2_pytorch import AdamAtan2

        return AdamAtan2(groups, lr=cfg.lr, betas=cfg.betas)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def is_encoder_parameter(name: str) -> bool:
    """Parameters of a demonstration encoder (TokenEmbedding.demo), by name."""
    return ".demo." in f".{name}"


def build_sparse_optimizer(model: nn.Module, cfg: TrainConfig) -> SparseEmbeddingOptimizer:
    """The puzzle-embedding optimizer (a no-op for models without one)."""
    return SparseEmbeddingOptimizer(
        model,
        kind=cfg.puzzle_emb_optimizer,
        lr=cfg.puzzle_emb_lr,
        weight_decay=cfg.puzzle_emb_weight_decay,
        betas=cfg.betas,
    )


def puzzle_emb_lr_at(step: int, cfg: TrainConfig) -> float:
    """The puzzle-embedding rate follows the same warmup and decay as the main one."""
    return lr_at(step, cfg) * cfg.puzzle_emb_lr / cfg.lr


def lr_at(
    step: int, cfg: TrainConfig, peak: float | None = None, warmup: int | None = None
) -> float:
    """Linear warmup to the peak rate (cfg.lr), then constant, cosine decay to
    peak * lr_min_ratio, or cosine with warm restarts (back to the peak after cycles of
    restart_every steps, each restart_mult times longer than the last, after the warmup).
    `step` counts from 0; cosine_official is the official pretrain.py's cosine, which reads
    its n-th step's rate at n (the same warmup, the decay one step further on)."""
    peak = cfg.lr if peak is None else peak
    warmup = cfg.warmup_steps if warmup is None else warmup
    if step < warmup:
        return peak * (step + 1) / warmup
    if cfg.schedule == "constant":
        return peak
    done = step - warmup
    if cfg.schedule == "cosine_official":  # pretrain.py's n-th step reads the rate at n
        done += 1
    if cfg.schedule == "cosine_restarts":
        progress = _cycle_progress(done, cfg.restart_every, cfg.restart_mult)
    else:
        progress = done / max(1, cfg.steps - warmup)
    floor = peak * cfg.lr_min_ratio
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _cycle_progress(done: int, first: int, mult: float) -> float:
    """How far into its current warm-restart cycle step `done` is, in [0, 1)."""
    length = float(first)
    while done >= length:
        done -= length
        length *= mult
    return done / length


def encoder_lr_at(step: int, cfg: TrainConfig, encoder=None) -> float:
    """The demonstration encoder's rate: its own peak and warmup where set
    (model.demo_encoder.lr / warmup_steps, a DemoEncoderConfig), else the trunk's."""
    if encoder is None:
        return lr_at(step, cfg)
    return lr_at(step, cfg, encoder.lr, encoder.warmup_steps)


def set_lr(optimizer: torch.optim.Optimizer, lr: float, encoder_lr: float | None = None) -> None:
    for group in optimizer.param_groups:
        group["lr"] = encoder_lr if group.get("encoder") and encoder_lr is not None else lr
