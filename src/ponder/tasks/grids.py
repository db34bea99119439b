"""Helpers every grid task shares: the token codec, route F1, the side-by-side PNG renderer
and its atomic save."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.fileio import atomic_output


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
    """Save through a temp file beside `out_path` (fileio.atomic_output: the umask's mode,
    symlinks written through, only a regular file replaced), so readers never see half a PNG."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out_path) as tmp:
        fig.savefig(tmp, format="png")
    return out_path


@dataclass(frozen=True)
class PanelStyle:
    """How a task's grids are drawn: one colour per token id 0..len(colours)-1 (ids outside
    become `pad_id`), the first `skip_rows` rows left out (routing's header), `describe`
    adding words about a puzzle to its title, and the height of one figure line."""

    colours: Sequence[str]
    pad_id: int
    skip_rows: int = 0
    describe: Callable[[Any], str] | None = None
    row_height: float = 3.0


def render_rows_png(
    out_path: str | Path,
    rows: Sequence[tuple[Any, ...]],
    titles: Sequence[str] | None,
    style: PanelStyle,
) -> Path:
    """One figure line per (puzzle, prediction, oracle[, verdict]) row, written atomically.
    A verdict dict from `verify` makes the prediction panel say exact/wrong; `titles` (one
    per row) label the puzzle panels."""
    if not rows:
        raise UserError("render_png needs at least one row to draw")
    if titles is not None and len(titles) != len(rows):
        raise UserError(f"got {len(titles)} titles for {len(rows)} rows")
    from matplotlib.figure import Figure  # lazy: plotting is rarely needed

    fig = Figure(figsize=(9, style.row_height * len(rows)))
    axes = fig.subplots(len(rows), 3, squeeze=False)
    for i, row in enumerate(rows):
        _draw_row(axes[i], row, titles[i] if titles is not None else None, style)
    fig.tight_layout()
    return save_figure_atomic(fig, Path(out_path))


def _draw_row(axes: Sequence[Any], row: tuple[Any, ...], label: str | None, style) -> None:
    """Three panels: puzzle, prediction (with its verdict), oracle."""
    from matplotlib.colors import ListedColormap

    if len(row) not in (3, 4):
        raise UserError(
            f"a render row is (puzzle, prediction, oracle[, verdict]), got {len(row)} items"
        )
    verdict = row[3] if len(row) == 4 else None
    prediction = "prediction"
    if verdict is not None and "exact" in verdict:
        prediction += ": exact" if verdict["exact"] else ": wrong"
    puzzle = f"puzzle, {style.describe(row[0])}" if style.describe else "puzzle"
    names = (f"{label}: {puzzle}" if label else puzzle, prediction, "oracle")
    top = len(style.colours) - 1
    cmap = ListedColormap(style.colours)
    for ax, grid, title in zip(axes, row[:3], names, strict=True):
        shown = np.asarray(grid, dtype=np.int64)[style.skip_rows :]
        shown = np.where((shown >= 0) & (shown <= top), shown, style.pad_id)
        ax.imshow(shown, cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
