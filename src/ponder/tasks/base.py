"""The contract every puzzle task meets.

The data builder, the loader and the evaluator only talk to a task through this protocol,
so they never need to know which puzzle family they are handling.

Grids are `np.ndarray` of dtype uint8, shape (H, W), holding the task's token ids. Token
sequences (what a model sees) are int64 arrays of shape (H * W,).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class RouteLayout:
    """Where a task's route lives in its grid: what the route-answer training aids and
    MLM-U read (ponder.objectives), so they never name a task's tokens themselves."""

    route: int  # the answer token of a route cell
    endpoints: tuple[int, ...]  # input tokens of the start and end (they count as q = 1)
    avenues: tuple[int, ...]  # input tokens between which diagonal moves are legal
    header_rows: int  # grid rows above the route's area (routing's vehicle/hour), never route
    # MLM-U may show a route cell in the input: (input token before, token shown), or None
    # when the task's inputs cannot show part of a route (routing's route cells are roads of
    # several kinds).
    reveal: tuple[int, int] | None = None


@runtime_checkable
class Task(Protocol):
    """A puzzle family: generator, oracle, verifier, codec, text format and renderer."""

    name: str  # registry key, e.g. "maze"
    vocab_size: int  # number of token ids, PAD included
    pad_id: int  # token id used for padding inputs
    ignore_label_id: int  # label id the loss skips
    augmentations: tuple[str, ...]  # dataset augmentations that keep puzzles valid
    # Optional facts (read with getattr, default None / False): `route_layout`, a
    # RouteLayout for tasks whose answers mark a route; `path_answers`, True when an answer
    # is a route of cells from a start to a goal that the path objective can point along;
    # `given_tokens`, the input tokens an answer must keep where the puzzle has them (a
    # maze's walls, start and goal), which `grid.keep_givens` copies at decoding.

    def generate(self, rng: np.random.Generator, **params: Any) -> np.ndarray:
        """A new puzzle grid; all randomness comes from `rng`."""
        ...

    def solve(self, puzzle: np.ndarray) -> np.ndarray:
        """The oracle: one correct answer grid for `puzzle`."""
        ...

    def verify(
        self, puzzle: np.ndarray, answer: np.ndarray, reference: np.ndarray | None = None
    ) -> dict[str, float | bool]:
        """Judge `answer` by the puzzle's rules; must never crash on garbage answers.

        Always holds `exact` (the whole answer is correct); other keys are task metrics.
        `reference` (default: `solve(puzzle)`) only feeds similarity metrics.
        """
        ...

    def encode(self, grid: np.ndarray) -> np.ndarray:
        """Grid (H, W) -> int64 tokens (H * W,)."""
        ...

    def decode(self, tokens: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Tokens (H * W,) -> uint8 grid (H, W); unknown ids become `pad_id`."""
        ...

    def grid_shape(self, seq_len: int) -> tuple[int, int]:
        """The (H, W) of a grid flattened into `seq_len` tokens."""
        ...

    def parse(self, text: str) -> np.ndarray:
        """The task's text format -> grid; UserError naming the first problem."""
        ...

    def parse_puzzle(self, text: str) -> np.ndarray:
        """`parse`, then the puzzle's own checks (well formed, no answer marked, solvable)."""
        ...

    def parse_answer(self, text: str, puzzle: np.ndarray) -> np.ndarray:
        """An answer to judge against `puzzle`. UserError only when it cannot be judged
        (unreadable, the wrong shape); a wrong answer parses, the verifier judges it."""
        ...

    def format(self, grid: np.ndarray) -> str:
        """Grid -> the task's text format; `parse(format(g))` equals `g`."""
        ...

    def render_ascii(self, grid: np.ndarray) -> str:
        """Grid -> text meant for a terminal (may differ from `format`)."""
        ...

    def render_png(
        self,
        out_path: str | Path,
        rows: Sequence[tuple[Any, ...]],
        titles: Sequence[str] | None = None,
    ) -> Path:
        """Draw (puzzle, prediction, oracle[, verdict]) rows into a PNG at `out_path`."""
        ...
