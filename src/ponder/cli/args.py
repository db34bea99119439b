"""Argument types and the parser class shared by every command group: one-line errors,
exit 2."""

from __future__ import annotations

import argparse
from pathlib import Path

from ponder.errors import UserError


class Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; keep its message to one line."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message}\n")


def input_path(text: str) -> Path:
    """A path argument; refused when empty, as Path("") would quietly mean the current
    directory and the error would then name something the user never gave."""
    if not text:
        raise argparse.ArgumentTypeError("the path is empty; give one")
    return Path(text)


def output_path(text: str | None, flag: str) -> Path | None:
    """An output path from the command line (None if not given). Checked here, as Path("")
    would quietly mean the current directory."""
    if text is None:
        return None
    if not text:
        raise UserError(f"{flag} is empty; give a path")
    return Path(text)


def segment_count(text: str) -> int | str:
    """--segments: a count from 1 to MAX_SEGMENTS, or auto."""
    if text == "auto":
        return text
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or auto, got {text!r}") from None
    if not 1 <= count <= MAX_SEGMENTS:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_SEGMENTS} or auto, got {count}")
    return count


def positive_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {count}")
    return count


def positive_fraction(text: str) -> float:
    """A number in (0, 1]: a relative tolerance."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value <= 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {text}")
    return value


MAX_SEGMENTS = 100_000  # far beyond any useful depth; bounds a typo's running time
