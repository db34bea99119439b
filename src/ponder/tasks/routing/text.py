"""City routing's text format: one header line "vehicle=NAME hour=H", then one line per
city row, one character per cell (see the table below)."""

from __future__ import annotations

import numpy as np

from ponder.errors import UserError
from ponder.tasks.routing.scenario import with_header
from ponder.tasks.routing.tokens import (
    AVENUE,
    AVENUE_JAM,
    BUILDING,
    CLOSED,
    END,
    ROAD,
    ROAD_JAM,
    ROUTE,
    START,
    STREET,
    STREET_JAM,
    VEHICLES,
    WATER,
)

_CHAR_TO_TOKEN = {
    "#": BUILDING, "~": WATER, "x": CLOSED,
    ".": STREET, ":": STREET_JAM, "r": ROAD, "R": ROAD_JAM, "a": AVENUE, "A": AVENUE_JAM,
    "S": START, "E": END, "o": ROUTE,
}  # fmt: skip
_TOKEN_TO_CHAR = {t: ch for ch, t in _CHAR_TO_TOKEN.items()}
_UNKNOWN_CHAR = "?"  # PAD, header or out-of-range ids in city rows: shown, parse rejects it
_HEADER_FORMAT = "vehicle=NAME hour=H"


def parse_text(text: str) -> np.ndarray:
    """Header line and city rows -> (H + 1, W) grid, without the S / E checks."""
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise UserError(f"empty routing file: expected a header line '{_HEADER_FORMAT}'")
    vehicle, hour = _parse_header(lines[0])
    return with_header(_parse_city(lines[1:]), vehicle, hour)


def _parse_header(line: str) -> tuple[str, int]:
    """'vehicle=NAME hour=H' (either order) -> (vehicle, hour); UserError otherwise."""
    fields: dict[str, str] = {}
    for item in line.split():
        key, eq, value = item.partition("=")
        if not eq or key not in ("vehicle", "hour") or key in fields:
            raise UserError(f"header line must be '{_HEADER_FORMAT}', got {line!r}")
        fields[key] = value
    if set(fields) != {"vehicle", "hour"}:
        raise UserError(f"header line must be '{_HEADER_FORMAT}', got {line!r}")
    vehicle, hour = fields["vehicle"], fields["hour"]
    if vehicle not in VEHICLES:
        raise UserError(f"unknown vehicle {vehicle!r}; known vehicles: {', '.join(VEHICLES)}")
    if not (hour.isdigit() and 0 <= int(hour) <= 23):
        raise UserError(f"hour must be an integer in 0..23, got {hour!r}")
    return vehicle, int(hour)


def _parse_city(rows: list[str]) -> np.ndarray:
    """City lines -> (H, W) tokens; UserError for no rows, ragged rows, unknown characters."""
    if not rows:
        raise UserError("routing file has a header line but no city rows")
    width = len(rows[0])
    if width < 2:
        raise UserError(f"city rows must be at least 2 cells wide, row 1 has {width}")
    for r, line in enumerate(rows, start=1):
        if len(line) != width:
            raise UserError(f"city row {r} (line {r + 1}) has {len(line)} cells, expected {width}")
        for c, ch in enumerate(line, start=1):
            if ch not in _CHAR_TO_TOKEN:
                raise UserError(f"unknown character {ch!r} at city row {r}, column {c}")
    return np.array([[_CHAR_TO_TOKEN[ch] for ch in line] for line in rows], dtype=np.uint8)


def to_text(header: str, city: np.ndarray) -> str:
    """The header line, then the city (H, W) one character per cell ('?' for a token that
    is no city cell)."""
    lines = [header]
    lines += ["".join(_TOKEN_TO_CHAR.get(t, _UNKNOWN_CHAR) for t in row) for row in city.tolist()]
    return "\n".join(lines) + "\n"
