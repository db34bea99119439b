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
    matrices, vectors = [], []
    for p in model.parameters():
        if p.requires_grad:
            (matrices if p.dim() >= 2 else vectors).append(p)
    decay = cfg.weight_decay if cfg.vector_weight_decay is None else cfg.vector_weight_decay
    groups = [
        {"params": matrices, "weight_decay": cfg.weight_decay},
        {"params": vectors, "weight_decay": decay},
    ]
    if cfg.optimizer == "adam_atan2":
        from adam_atan2_pytorch import AdamAtan2

        return AdamAtan2(groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


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


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to cfg.lr, then constant, cosine decay to lr * lr_min_ratio, or cosine
    with warm restarts (back to lr every `restart_every` steps after the warmup)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    done = step - cfg.warmup_steps
    if cfg.schedule == "cosine_restarts":
        progress = (done % cfg.restart_every) / cfg.restart_every
    else:
        progress = done / max(1, cfg.steps - cfg.warmup_steps)
    floor = cfg.lr * cfg.lr_min_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
