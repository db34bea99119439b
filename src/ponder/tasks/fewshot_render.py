"""Text and PNG renderings of few-shot tasks (ARC, skills), in the ARC palette."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.fewshot import FewShotTask, Pair
from ponder.tasks.grids import save_figure_atomic

# The standard ARC palette, colour 0..9.
ARC_PALETTE = (
    "#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00",
    "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25",
)  # fmt: skip


def _labelled_pairs(task: FewShotTask) -> list[tuple[str, Pair]]:
    demos = [(f"demo {i}", pair) for i, pair in enumerate(task.train, 1)]
    return demos + [(f"test {i}", pair) for i, pair in enumerate(task.test, 1)]


def _grid_text(grid: np.ndarray | None) -> str:
    if grid is None:
        return "?"
    return "\n".join("".join(str(int(v)) for v in row) for row in np.asarray(grid))


def format_task(task: FewShotTask) -> str:
    """The task as text: each pair's input and output as rows of digits, labelled
    "demo 1 input", ..., "test 1 output"; a hidden output is "?"."""
    title = f"task {task.name}" + (f" (skill {task.skill})" if task.skill else "")
    blocks = [title]
    for label, pair in _labelled_pairs(task):
        blocks.append(f"{label} input\n{_grid_text(pair.input)}")
        blocks.append(f"{label} output\n{_grid_text(pair.output)}")
    return "\n\n".join(blocks) + "\n"


def render_task_png(
    task: FewShotTask,
    path: str | Path,
    predictions: Sequence[np.ndarray] | None = None,
) -> Path:
    """A PNG of the task in the ARC palette: one column per pair, input over output, and
    the test predictions (one per test pair, if given) as a third row. Written atomically."""
    if predictions is not None and len(predictions) != len(task.test):
        raise UserError(f"got {len(predictions)} predictions for {len(task.test)} test pairs")
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # lazy: plotting is rare
    from matplotlib.figure import Figure

    pairs = _labelled_pairs(task)
    rows = 2 if predictions is None else 3
    fig = Figure(figsize=(2.2 * len(pairs), 2.4 * rows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, len(pairs), squeeze=False)
    for col, (label, pair) in enumerate(pairs):
        _draw_grid(axes[0][col], pair.input, f"{label} input")
        _draw_grid(axes[1][col], pair.output, f"{label} output")
        if predictions is not None:
            _draw_prediction(axes[2][col], predictions, col - len(task.train), label, pair)
    fig.suptitle(task.name)
    fig.tight_layout()
    return save_figure_atomic(fig, Path(path))


def _draw_prediction(
    ax: Any, predictions: Sequence[Any], index: int, label: str, pair: Pair
) -> None:
    """The prediction for test pair `index` (an empty panel under a demonstration)."""
    if index < 0:
        ax.axis("off")
        return
    guess = np.asarray(predictions[index])
    verdict = ""
    if pair.output is not None:
        exact = guess.shape == pair.output.shape and np.array_equal(guess, pair.output)
        verdict = ": exact" if exact else ": wrong"
    _draw_grid(ax, guess, f"{label} prediction{verdict}")


def _draw_grid(ax: Any, grid: np.ndarray | None, title: str) -> None:
    """One grid with cell lines; "?" for a hidden or shapeless grid, colours outside 0..9
    (a model's garbage) white."""
    from matplotlib.colors import ListedColormap

    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    shown = None if grid is None else np.asarray(grid)
    if shown is None or shown.ndim != 2 or shown.size == 0:
        ax.text(0.5, 0.5, "?", ha="center", va="center", fontsize=24, transform=ax.transAxes)
        return
    cmap = ListedColormap(ARC_PALETTE).with_extremes(bad="white")
    values = np.ma.masked_outside(shown.astype(np.int64), 0, 9)
    ax.imshow(values, cmap=cmap, vmin=0, vmax=9, interpolation="nearest")
    h, w = shown.shape
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="#555555", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
