"""An output directory built whole in a hidden sibling and renamed into place, so a refused
or interrupted import or export leaves nothing behind (and an old directory it replaces
stays whole until the new one is ready)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def staged_directory(out: Path, purpose: str) -> Iterator[Path]:
    """A fresh hidden directory beside `out` for the block to fill; when the block
    succeeds it becomes `out` (an existing `out`, which the caller checked may be replaced,
    is moved aside first and removed after). When the block fails, the hidden directory and
    any parent folders made for it are removed."""
    out = Path(out)
    created = _make_parents(out.parent)
    tmp = out.parent / f".{out.name}.{purpose}-{os.getpid()}"
    old = out.parent / f".{out.name}.{purpose}-old-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)  # a killed earlier attempt's, same pid
        tmp.mkdir()
        yield tmp
        _move_into_place(tmp, old, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; the ones made, outermost first."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]
    for path in reversed(missing):
        path.mkdir()
    return list(reversed(missing))


def _move_into_place(tmp: Path, old: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)  # the old directory back where it was
        raise
    shutil.rmtree(old)
