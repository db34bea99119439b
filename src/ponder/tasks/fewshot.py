"""Few-shot grid tasks (ARC and the synthetic skills): the task type and the token encoding.

A few-shot task is a handful of demonstration pairs (input grid -> output grid) plus test
pairs; the model must infer the transformation from the demonstrations and apply it to a
test input. Grids are uint8 arrays (h, w) of colours 0..9 (0 is black, the background).

Encoding (HRM/TRM's ARC encoding): a grid sits on a square canvas of side `canvas`, at an
offset (0, 0 unless translated); token 0 is padding, 1 the end-of-grid marker, 2..11 the
colours 0..9. The markers fill the row just below the grid and the column just right of it
(over the grid's extent, where they fit on the canvas), so the size of the answer is part of
the answer. A grid filling the canvas has no markers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ponder.errors import UserError

PAD = 0
EOS = 1
COLOUR_OFFSET = 2
NUM_COLOURS = 10
VOCAB_SIZE = COLOUR_OFFSET + NUM_COLOURS  # 12
ARC_CANVAS = 30


@dataclass(frozen=True)
class Pair:
    input: np.ndarray  # (h, w) uint8 colours 0..9
    output: np.ndarray | None  # (h', w'); None where the answer is hidden (ARC test inputs)


@dataclass(frozen=True)
class FewShotTask:
    name: str  # ARC task id, or "<skill>-<n>" for a generated skill instance
    train: tuple[Pair, ...]  # demonstrations
    test: tuple[Pair, ...]  # queries
    skill: str | None = None  # the generating skill (synthetic tasks only)

    def grids(self) -> list[np.ndarray]:
        """Every grid of the task, demonstrations first."""
        out = []
        for pair in (*self.train, *self.test):
            out.append(pair.input)
            if pair.output is not None:
                out.append(pair.output)
        return out


def encode_grid(grid: np.ndarray, canvas: int, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Grid (h, w) of colours -> int64 tokens (canvas * canvas,), the grid at `offset`."""
    h, w = grid.shape
    dy, dx = offset
    if h < 1 or w < 1 or dy < 0 or dx < 0 or dy + h > canvas or dx + w > canvas:
        raise UserError(
            f"a {h}x{w} grid at offset {offset} does not fit a {canvas}x{canvas} canvas"
        )
    out = np.zeros((canvas, canvas), dtype=np.int64)
    out[dy : dy + h, dx : dx + w] = grid.astype(np.int64) + COLOUR_OFFSET
    if dy + h < canvas:
        out[dy + h, dx : dx + w] = EOS
    if dx + w < canvas:
        out[dy : dy + h, dx + w] = EOS
    return out.reshape(-1)


def decode_grid(tokens: np.ndarray, canvas: int) -> np.ndarray:
    """Tokens (canvas * canvas,) -> the grid read from the top-left corner: its width is the
    run of colour tokens along row 0, its height the run of rows whose first `width` cells
    are all colours. Garbage decodes to some grid (possibly 0x0), never an error."""
    board = np.asarray(tokens).reshape(canvas, canvas)
    is_colour = (board >= COLOUR_OFFSET) & (board < VOCAB_SIZE)
    width = int(np.argmin(is_colour[0])) if not is_colour[0].all() else canvas
    if width == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    rows_full = is_colour[:, :width].all(axis=1)
    height = int(np.argmin(rows_full)) if not rows_full.all() else canvas
    return (board[:height, :width] - COLOUR_OFFSET).astype(np.uint8)


def check_grid(grid: object, where: str, max_size: int = ARC_CANVAS) -> np.ndarray:
    """A grid from a file: a non-empty rectangular list of rows of colours 0..9, at most
    max_size x max_size. UserError naming `where` (task and pair) otherwise."""
    if not isinstance(grid, list) or not grid or not all(isinstance(r, list) for r in grid):
        raise UserError(f"{where}: a grid must be a non-empty list of rows")
    widths = {len(row) for row in grid}
    if len(widths) != 1 or 0 in widths:
        raise UserError(f"{where}: ragged rows (lengths {sorted(widths)})")
    values = [v for row in grid for v in row]
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 9]
    if bad:
        raise UserError(f"{where}: colour {bad[0]!r} is outside 0..9")
    h, w = len(grid), len(grid[0])
    if h > max_size or w > max_size:
        raise UserError(f"{where}: grid is {h}x{w}, larger than {max_size}x{max_size}")
    return np.asarray(grid, dtype=np.uint8)


class FewShotFamily:
    """The registry entry of a few-shot family ("arc", "skills"): what the loader, trainer
    and evaluator need to know of its datasets. Instances are generated and judged by the
    family's own module (ponder.tasks.arc / ponder.tasks.skills), not through the grid
    task protocol: a few-shot example is a query plus demonstrations, not one grid."""

    fewshot = True
    vocab_size = VOCAB_SIZE
    pad_id = PAD
    ignore_label_id = PAD
    augmentations: tuple[str, ...] = ()

    def __init__(self, name: str):
        self.name = name

    def grid_shape(self, seq_len: int) -> tuple[int, int]:
        side = int(round(seq_len**0.5))
        if side * side != seq_len:
            raise UserError(f"{self.name} datasets use a square canvas; seq_len {seq_len} is not")
        return side, side

    def verify(self, query: np.ndarray, answer: np.ndarray, truth: np.ndarray) -> dict:
        """An answer is right when it is the task's answer grid exactly (shape and colours):
        a few-shot task's answer is unique (the skills' oracles guarantee it; ARC's is given)."""
        same = answer.shape == truth.shape and bool(np.array_equal(answer, truth))
        return {"exact": same}
