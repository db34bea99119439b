"""Run directories: create, reuse for resume, or replace, without ever clobbering by accident.

A run directory holds ``config.yaml`` (the resolved config), ``metrics.jsonl``, ``tb/``,
``checkpoints/{last,best}.safetensors`` and ``eval/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from ponder.errors import UserError
from ponder.fileio import atomic_write_text, check_output_dir, read_yaml_file

CONFIG_NAME = "config.yaml"
CHECKPOINT_NAMES = ("last", "best")
# Everything a run writes at its top level (failed.json: a suite's diverged seed). A
# directory holding anything else is not a run, and --overwrite never wipes it.
RUN_ENTRIES = frozenset(
    {CONFIG_NAME, "metrics.jsonl", "summary.json", "failed.json", "tb", "checkpoints", "eval"}
)
_ATOMIC_TEMPORARY = re.compile(r"\.(.+)\.tmp-\d+")  # what atomic_write_text leaves if killed
_MISSING = object()


def checkpoint_path(run_dir: Path, which: str = "last") -> Path:
    """``run_dir/checkpoints/{which}.safetensors`` for ``which`` in last/best."""
    if which not in CHECKPOINT_NAMES:
        raise UserError(
            f"unknown checkpoint {which!r}: choose one of {', '.join(CHECKPOINT_NAMES)}"
        )
    return Path(run_dir) / "checkpoints" / f"{which}.safetensors"


def read_run_config(run_dir: Path) -> dict:
    """The config saved in a run directory."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise UserError(f"not a run directory: {run_dir} (no {CONFIG_NAME})")
    config = read_yaml_file(path, "run config")  # strict: UTF-8, one mapping, no repeated key
    if not config:  # an empty file would otherwise read as "every default"
        raise UserError(f"run config {path} is empty")
    return config


def prepare_run_dir(run_dir: Path, config: dict, *, overwrite: bool, resume: bool) -> Path:
    """Make ``run_dir`` ready for a fresh run, or check it can be resumed with ``config``."""
    run_dir = Path(run_dir)
    if overwrite and resume:
        raise UserError("--overwrite and --resume cannot be used together")
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} is a file, not a directory")
    if resume:
        _check_resumable(run_dir, config)
        return run_dir
    check_output_dir(run_dir, "run directory")
    if run_dir.exists() and any(run_dir.iterdir()):
        _check_is_run(run_dir)
        if not overwrite:
            raise UserError(
                f"run directory {run_dir} already holds a run; "
                "pass --overwrite to replace it or --resume to continue it"
            )
        _wipe(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config, sort_keys=False)
    atomic_write_text(run_dir / CONFIG_NAME, text)
    return run_dir


def _check_is_run(run_dir: Path) -> None:
    """Only wipe what we made: a stray path must not delete a user's files or other runs."""
    refusal = f"refusing to overwrite {run_dir}: it is not a ponder run directory"
    if not (run_dir / CONFIG_NAME).is_file():
        raise UserError(refusal)
    foreign = sorted(e.name for e in run_dir.iterdir() if not _written_by_a_run(e.name))
    if foreign:
        raise UserError(f"{refusal} (it holds {foreign[0]!r}, which no run writes)")


def _written_by_a_run(name: str) -> bool:
    temporary = _ATOMIC_TEMPORARY.fullmatch(name)
    return name in RUN_ENTRIES or (temporary is not None and temporary[1] in RUN_ENTRIES)


def _check_resumable(run_dir: Path, config: dict) -> None:
    if not checkpoint_path(run_dir).is_file():
        raise UserError(f"nothing to resume in {run_dir}")
    saved = read_run_config(run_dir)
    # Round-trip through YAML so tuples vs lists and similar don't count as differences.
    now = yaml.safe_load(yaml.safe_dump(config, sort_keys=False))
    diffs = _differences(saved, now)
    if diffs:
        shown = "; ".join(
            f"{key} ({_show(old)} in the run, {_show(new)} now)" for key, old, new in diffs[:3]
        )
        more = f" and {len(diffs) - 3} more" if len(diffs) > 3 else ""
        raise UserError(f"cannot resume {run_dir}: config differs at {shown}{more}")


def _differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Dotted keys where two nested mappings differ, with both values."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if old == new else [(prefix or "<root>", old, new)]
    out: list[tuple[str, Any, Any]] = []
    for key in list(old) + [k for k in new if k not in old]:
        dotted = f"{prefix}.{key}" if prefix else str(key)
        out += _differences(old.get(key, _MISSING), new.get(key, _MISSING), dotted)
    return out


def _show(value: Any) -> str:
    if value is _MISSING:
        return "absent"
    if isinstance(value, str | dict | list) or value is None:
        return (
            yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("\n...")
        )
    return str(value)


def _wipe(run_dir: Path) -> None:
    for entry in run_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
