"""Small file helpers shared by the CLI and the library: read a user's text file with a
clear error, and write a file atomically so a killed process never leaves half of it."""

from __future__ import annotations

import os
from pathlib import Path

from ponder.errors import UserError


def read_text_file(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"file not found: {path}")
    try:
        return path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text file") from None


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary sibling, fsync, then rename onto `path`."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
