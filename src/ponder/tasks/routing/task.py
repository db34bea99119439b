"""RoutingTask, the registry's entry for city routing: the Task interface over the
generator (routing.city), the oracle (routing.oracle), the verifier (routing.verifier), the
codec, the text format (routing.text) and the pictures (routing.render)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.tasks.base import RouteLayout
from ponder.tasks.grids import decode_grid, encode_grid
from ponder.tasks.routing.city import generate_scenario
from ponder.tasks.routing.oracle import search
from ponder.tasks.routing.render import render_scenarios_png
from ponder.tasks.routing.scenario import check_endpoints, read_header, scenario, two_d
from ponder.tasks.routing.text import parse_text, to_text
from ponder.tasks.routing.tokens import AVENUE_TOKENS, END, PAD, ROUTE, START, VOCAB_SIZE
from ponder.tasks.routing.verifier import verify_answer


class RoutingTask:
    """Generator, A* oracle, verifier, codec, text format and renderer for city routing."""

    name = "routing"
    vocab_size = VOCAB_SIZE
    pad_id = PAD
    ignore_label_id = PAD  # labels never hold PAD: every cell of the answer is a real token
    route_layout = RouteLayout(ROUTE, (START, END), AVENUE_TOKENS, header_rows=1)
    augmentations = ()  # a rotation would move the vehicle/hour header row into the city

    # ----------------------------------------------------------------- generation

    def generate(
        self,
        rng: np.random.Generator,
        size: int = 10,
        vehicle: str = "any",
        min_distance: int | None = None,
        max_tries: int = 100,
        canvas: int | None = None,
    ) -> np.ndarray:
        """A routable (size + 1, size) scenario: header row, then a size x size city.

        `vehicle` is one of VEHICLES or "any" (uniform); the hour is uniform in 0..23. S and
        E are at least `min_distance` apart in Manhattan distance (default size // 2). The
        vehicle and hour are drawn once, before the retries, so rejecting unroutable cities
        does not skew the vehicle mix toward the easy ones.

        `canvas` (size..MAX_SIZE; None: size) gives a (canvas + 1, canvas) scenario instead:
        the size x size city in the top-left corner, BUILDING everywhere else, under a header
        row of canvas width. Small cities then have the sequence length of big ones, so a
        curriculum can grow the city without changing the model. The random draws do not
        depend on it: canvas=size is the same scenario as no canvas.
        """
        return generate_scenario(rng, size, vehicle, min_distance, max_tries, canvas)

    # ----------------------------------------------------------------- oracle

    def optimal_cost(self, puzzle: np.ndarray) -> int:
        """Cost of the cheapest S->E route, or -1 when E cannot be reached."""
        vehicle, hour, city = scenario(puzzle)
        found = search(city, vehicle, hour)
        return found[0] if found else -1

    def solve(self, puzzle: np.ndarray) -> np.ndarray:
        """The oracle: the puzzle with ROUTE on the cells of one cheapest route (A*)."""
        vehicle, hour, city = scenario(puzzle)
        found = search(city, vehicle, hour)
        if found is None:
            raise UserError(f"no route from S to E for a {vehicle} at hour {hour}")
        answer = np.array(puzzle, dtype=np.uint8)
        # intp: when S touches E the route is empty, and numpy reads [] as float indices
        cells = np.asarray(found[1], dtype=np.intp)
        answer[1:][np.unravel_index(cells, city.shape)] = ROUTE
        return answer

    # ----------------------------------------------------------------- verifier

    def verify(
        self, puzzle: np.ndarray, answer: np.ndarray, reference: np.ndarray | None = None
    ) -> dict[str, float | bool]:
        """Judge the predicted grid `answer` by the city's rules; never raises on it.

        Every metric reads the prediction; `reference` (default: the oracle's answer) only
        feeds `path_f1`. Keys:
        - path_ratio: share of city cells predicted as ROUTE.
        - valid_path_ratio: share of predicted ROUTE cells on a road class the vehicle may
          use and not closed; 0 when nothing is predicted (1 if S and E touch, as then the
          empty route is the answer).
        - connectivity: 1.0 when ROUTE cells, S and E form one simple path S -> E under the
          move rules (S and E one route neighbour each, route cells two, no stray or
          detached cells), else 0.0. A cheapest route never touches itself, so this loses
          no optimal answer.
        - path_f1: F1 of the predicted ROUTE cells against the reference's.
        - cost_ratio: route cost / optimal cost (>= 1) when connected and every route cell
          valid; 0.0 otherwise (always present, so averages need `connectivity` beside them).
        - grid_kept: every cell not marked ROUTE equals the puzzle's (header included).
        - exact: grid_kept, connected, valid and of optimal cost.
        A wrong shape or a non-integer array scores 0 on every metric.
        """
        return verify_answer(puzzle, answer, reference)

    # ----------------------------------------------------------------- codec

    def encode(self, grid: np.ndarray) -> np.ndarray:
        """Grid (H + 1, W), header row included -> int64 tokens ((H + 1) * W,)."""
        return encode_grid(grid, "routing")

    def decode(self, tokens: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Tokens -> uint8 grid of `shape`; ids outside the vocabulary become PAD."""
        return decode_grid(tokens, shape, VOCAB_SIZE, PAD, "routing grid")

    def grid_shape(self, seq_len: int) -> tuple[int, int]:
        """Generated cities are square: (side + 1, side) with (side + 1) * side == seq_len."""
        side = int((seq_len + 0.25) ** 0.5 - 0.5) if seq_len > 0 else 0
        for s in (side, side + 1):  # guard the float root against rounding
            if s > 0 and s * (s + 1) == seq_len:
                return s + 1, s
        raise UserError(
            f"a routing grid is a square city plus a header row, (side + 1) * side tokens; "
            f"got {seq_len}"
        )

    # ----------------------------------------------------------------- text format

    def parse(self, text: str) -> np.ndarray:
        """Text (header line, then one line per city row) -> grid; UserError naming the
        first problem: header, unknown character, ragged row, missing or extra S / E."""
        grid = parse_text(text)
        check_endpoints(grid[1:])
        return grid

    def parse_answer(self, text: str, puzzle: np.ndarray) -> np.ndarray:
        """An answer to judge against `puzzle`: the text format, then the puzzle's shape.
        S and E are not required: the verifier takes them from the puzzle, and an answer
        that overwrote them is wrong (exit 1), not unreadable."""
        answer = parse_text(text)
        want, got = np.shape(puzzle), answer.shape
        if got != want:
            raise UserError(
                f"answer city has shape {got[0] - 1}x{got[1]}, the puzzle's {want[0] - 1}x{want[1]}"
            )
        return answer

    def parse_puzzle(self, text: str) -> np.ndarray:
        """`parse`, then `check_puzzle`."""
        grid = self.parse(text)
        self.check_puzzle(grid)
        return grid

    def check_puzzle(self, grid: np.ndarray) -> None:
        """UserError unless `grid` is a scenario with no route marked and a route to E."""
        vehicle, hour, city = scenario(grid)
        if search(city, vehicle, hour) is None:
            raise UserError(f"no route from S to E for a {vehicle} at hour {hour}")

    def format(self, grid: np.ndarray) -> str:
        """Grid -> text; `parse(format(g)) == g` for every well-formed grid."""
        grid = two_d(grid)
        vehicle, hour = read_header(grid)
        return to_text(f"vehicle={vehicle} hour={hour}", grid[1:])

    def render_ascii(self, grid: np.ndarray) -> str:
        """Like `format`, but never raises on a bad header (shown as '?'): for predictions."""
        grid = two_d(grid)
        try:
            vehicle, hour = read_header(grid)
        except UserError:
            vehicle, hour = "?", "?"
        return to_text(f"vehicle={vehicle} hour={hour}", grid[1:])

    # ----------------------------------------------------------------- pictures

    def render_png(
        self,
        out_path: str | Path,
        rows: Sequence[tuple[Any, ...]],
        titles: Sequence[str] | None = None,
    ) -> Path:
        """One figure line per (puzzle, prediction, oracle[, verdict]) row, written atomically.

        The city rows are drawn; the header shows as the vehicle and hour in the titles.
        """
        return render_scenarios_png(out_path, rows, titles)


ROUTING = RoutingTask()
