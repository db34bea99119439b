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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


# ---------------------------------------------------------------------- the task file format


def parse_task(task_id: str, data: Any, label: str | None = None) -> FewShotTask:
    """One ARC JSON task -> FewShotTask; UserError naming the task (or `label`, default
    "task <id>") and the pair if malformed."""
    label = f"task {task_id}" if label is None else label
    if not isinstance(data, dict):
        raise UserError(f"{label}: a task must be a JSON object with 'train' and 'test'")
    parts = {}
    for part in ("train", "test"):
        if part not in data:
            raise UserError(f"{label}: missing key {part!r}")
        pairs = data[part]
        if not isinstance(pairs, list) or not pairs:
            raise UserError(f"{label}: {part!r} must be a non-empty list of pairs")
        parts[part] = tuple(
            _parse_pair(pair, f"{label} {part} pair {i}", part == "test")
            for i, pair in enumerate(pairs)
        )
    return FewShotTask(name=str(task_id), train=parts["train"], test=parts["test"])


def _parse_pair(pair: Any, where: str, output_optional: bool) -> Pair:
    if not isinstance(pair, dict) or "input" not in pair:
        raise UserError(f"{where}: a pair must be an object with 'input' and 'output'")
    grid_in = check_grid(pair["input"], f"{where} input")
    if "output" not in pair and output_optional:
        return Pair(grid_in, None)  # a hidden test answer
    if "output" not in pair:
        raise UserError(f"{where}: missing key 'output'")
    return Pair(grid_in, check_grid(pair["output"], f"{where} output"))


def task_to_json(task: FewShotTask) -> dict:
    """FewShotTask -> ARC JSON {"train": [...], "test": [...]}; a hidden output is omitted."""

    def pair_json(pair: Pair) -> dict:
        out = {"input": pair.input.tolist()}
        if pair.output is not None:
            out["output"] = pair.output.tolist()
        return out

    return {
        "train": [pair_json(p) for p in task.train],
        "test": [pair_json(p) for p in task.test],
    }


def loads_json(text: str, what: str) -> Any:
    """JSON text -> value; UserError naming `what` for bad syntax or a key given twice
    (json.loads would silently keep the last)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
        keys = [key for key, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise UserError(f"{what}: key {key!r} appears twice")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        raise UserError(f"{what} is not valid JSON ({err.msg}, line {err.lineno})") from None


def stored_answers(task: FewShotTask) -> list[np.ndarray] | None:
    """The test outputs the task holds, one per test input; None when any is hidden."""
    outputs = [pair.output for pair in task.test]
    return None if any(grid is None for grid in outputs) else outputs


def answers_to_json(answers: Sequence[np.ndarray]) -> str:
    """Answer grids -> the answer format: a JSON list, one grid per test input."""
    return json.dumps([np.asarray(grid).tolist() for grid in answers]) + "\n"


def parse_answers(text: str, count: int) -> list[np.ndarray]:
    """The answer format -> `count` grids: a JSON list of grids (a lone grid when `count`
    is 1). UserError when it is not that; a grid of the wrong size parses (it is wrong)."""
    data = loads_json(text, "answer")
    depth = _list_depth(data)
    if depth == 2:
        data = [data]  # one grid: the answer to a single test input
    elif depth != 3:
        raise UserError(
            "answer must be the test output grids as JSON: a list of grids, one per test "
            "input (a grid is a list of rows of colours 0..9)"
        )
    if len(data) != count:
        inputs = f"{count} test input" + ("s" if count != 1 else "")
        raise UserError(f"answer has {len(data)} grid(s), the task has {inputs}")
    return [check_grid(grid, f"answer grid {i}") for i, grid in enumerate(data)]


def _list_depth(value: Any) -> int:
    """How deep the first elements of nested lists go: 2 for [[1]], 3 for [[[1]]]."""
    depth = 0
    while isinstance(value, list) and value:
        depth, value = depth + 1, value[0]
    return depth
