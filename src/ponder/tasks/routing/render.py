"""Pictures of routing scenarios: the city rows in fixed colours per token, the header's
vehicle and hour in each panel's title."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.errors import UserError
from ponder.tasks.grids import PanelStyle, render_rows_png
from ponder.tasks.routing.scenario import read_header, two_d
from ponder.tasks.routing.tokens import PAD

# Panel colours, indexed by token id PAD..ROUTE (header tokens are not drawn).
_COLOURS = [
    "#ff00ff", "#555555", "#4a90d9", "#f4f4f4", "#c8c8c8", "#f5d76e", "#f4b183",
    "#e8825a", "#d9534f", "#000000", "#2ca02c", "#d62728", "#1f77b4",
]  # fmt: skip


def render_scenarios_png(
    out_path: str | Path,
    rows: Sequence[tuple[Any, ...]],
    titles: Sequence[str] | None = None,
) -> Path:
    """RoutingTask.render_png: one figure line per (puzzle, prediction, oracle[, verdict])
    row, written atomically."""
    return render_rows_png(out_path, rows, titles, _STYLE)


def _describe(grid: Any) -> str:
    """'truck at 17h' from a header, '?' parts when it is not one."""
    try:
        vehicle, hour = read_header(two_d(grid))
    except UserError:
        return "?"
    return f"{vehicle} at {hour}h"


# City rows only: the header shows as the vehicle and hour in the puzzle's title.
_STYLE = PanelStyle(_COLOURS, pad_id=PAD, skip_rows=1, describe=_describe, row_height=3.2)
