"""Helpers every grid task shares: the token codec, route F1 and an atomic PNG save."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import UserError


def encode_grid(grid: np.ndarray, what: str) -> np.ndarray:
    """Grid (H, W) -> int64 tokens (H * W,); `what` names the grid in the error."""
    grid = np.asarray(grid)
    if grid.ndim != 2:
        raise UserError(f"a {what} grid must be 2-D, got shape {grid.shape}")
    return grid.astype(np.int64).reshape(-1)


def decode_grid(
    tokens: np.ndarray, shape: tuple[int, int], vocab_size: int, pad_id: int, what: str
) -> np.ndarray:
    """Tokens (H * W,) -> uint8 grid (H, W); ids outside the vocabulary become `pad_id`, so
    a model's garbage verifies invalid instead of aliasing a real token."""
    tokens = np.asarray(tokens).reshape(-1)
    height, width = shape
    if tokens.size != height * width:
        raise UserError(f"{tokens.size} tokens cannot fill a {height}x{width} {what}")
    known = (tokens >= 0) & (tokens < vocab_size)
    return np.where(known, tokens, pad_id).astype(np.uint8).reshape(height, width)


def path_f1(predicted: np.ndarray, target: np.ndarray) -> float:
    """F1 of two boolean cell masks (1.0 when both are empty)."""
    n_pred, n_true = int(predicted.sum()), int(target.sum())
    if n_pred + n_true == 0:
        return 1.0
    return 2.0 * int(np.sum(predicted & target)) / (n_pred + n_true)


def save_figure_atomic(fig: Any, out_path: Path) -> Path:
    """Save to a temp file beside `out_path`, then rename, so readers never see half a PNG."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path
