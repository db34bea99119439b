"""Checking the CLI's promise for a user's mistake: exit 2, one line `ponder: error: ...`
naming the problem, no traceback, and nothing on disk written, changed or deleted."""

from __future__ import annotations

from pathlib import Path

import yaml
from support import run


def listing(root: Path) -> dict[str, bytes | None]:
    """Every path under `root` with its bytes (None for a directory)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(Path(root).rglob("*"))
    }


def assert_refused(args: list, capsys, root: Path, *names: str) -> str:
    """Run `ponder ARGS` and check the refusal; each of `names` must be in the message.
    Returns the message."""
    before = listing(root)
    code, _, err = run(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("ponder: error:"), err
    assert "Traceback" not in err
    for name in names:
        assert name in lines[0], (name, lines[0])
    assert listing(root) == before, "a refused command changed files"
    return lines[0]


def write_config(path: Path, config) -> Path:
    """A RunConfig as a YAML preset (its run_dir dropped, so runs/<name> is used)."""
    raw = {k: v for k, v in config.to_dict().items() if k != "run_dir"}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
