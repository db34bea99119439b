"""Run directories: create, reuse for resume, or replace, without ever clobbering by accident.

A run directory holds ``config.yaml`` (the resolved config), ``metrics.jsonl``, ``tb/``,
``checkpoints/{last,best}.safetensors`` and ``eval/``. Only a directory holding nothing
else, at any depth, is ever wiped; one a stopped run left without a checkpoint (Ctrl-C or
an OOM kill before the first save) is replaced by a rerun, as nothing in it can be resumed.
While a process trains a run it holds a shared lock on its config.yaml, so that a second
`ponder train` never wipes a run that is still going.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from ponder.errors import UserError
from ponder.fileio import atomic_write_text, check_output_dir, first_foreign, read_yaml_file

try:
    import fcntl
except ImportError:  # Windows: a running run is not detected there
    fcntl = None

CONFIG_NAME = "config.yaml"
CHECKPOINT_NAMES = ("last", "best")
# Everything a run writes, folder by folder ("" is the run directory): the name pattern of
# its files (failed.json: a suite's diverged seed; val-*: train.keep_top_k), and its
# folders. A directory holding anything else is not a run, and is never wiped.
RUN_FILES = {
    "": r"config\.yaml|metrics\.jsonl|summary\.json|failed\.json",
    "checkpoints": r"(last|best|val-\d+)\.safetensors",
    "tb": r"events\.out\.tfevents\..+",
    "eval": r"metrics\.json|samples\.png|submission\.json|task-\d+\.png",
}
RUN_FOLDERS = frozenset({"checkpoints", "tb", "eval"})
# What a killed atomic write leaves: fileio's and checkpoint's `.NAME.tmp-PID`, and the
# mkstemp name `.NAME.XXXXXXXX.tmp` PNGs were written through before.
_TEMPORARY = re.compile(r"\.(.+)\.(tmp-\d+|[A-Za-z0-9_]+\.tmp)")
# What a stopped run leaves that is worth keeping: a rerun never replaces these unasked.
_KEPT = ("checkpoints/*.safetensors", "summary.json", "failed.json", "eval/*")
_MISSING = object()
_CLAIMS: dict[Path, int] = {}  # run directory -> locked descriptor of its config.yaml


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
    """Make ``run_dir`` ready for a fresh run, or check it can be resumed with ``config``.
    Either way this process then claims it (see release_run_dir)."""
    run_dir = Path(run_dir)
    if overwrite and resume:
        raise UserError("--overwrite and --resume cannot be used together")
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} is a file, not a directory")
    if resume:
        _check_resumable(run_dir, config)
        _claim(run_dir)
        return run_dir
    if check_run_dir(run_dir, overwrite=overwrite):
        _wipe(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config, sort_keys=False)
    atomic_write_text(run_dir / CONFIG_NAME, text)
    _claim(run_dir)
    return run_dir


def check_run_dir(run_dir: Path, *, overwrite: bool) -> bool:
    """Whether a fresh run at ``run_dir`` must first wipe what is there (a run replaced with
    `overwrite`, or one a stopped run left with nothing to keep); UserError when it may not
    be used at all. Writes nothing, so a command can check all its run directories first."""
    run_dir = Path(run_dir)
    check_output_dir(run_dir, "run directory")
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return False
    _check_is_run(run_dir)
    if not overwrite and _holds_something_to_keep(run_dir):
        raise UserError(
            f"run directory {run_dir} already holds a run; "
            "pass --overwrite to replace it or --resume to continue it"
        )
    _check_not_running(run_dir)
    return True


def release_run_dir(run_dir: Path) -> None:
    """Drop this process's claim on ``run_dir`` (its training ended)."""
    fd = _CLAIMS.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)


def _claim(run_dir: Path) -> None:
    """Hold a shared lock on config.yaml while this process trains the run; the system
    drops it when the process dies, however it dies."""
    release_run_dir(run_dir)
    if fcntl is None:
        return
    fd = os.open(run_dir / CONFIG_NAME, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:  # a file system without locks: the run goes on unclaimed
        os.close(fd)
        return
    _CLAIMS[Path(run_dir).resolve()] = fd


def _check_not_running(run_dir: Path) -> None:
    release_run_dir(run_dir)  # this process is done with it: it starts the run over
    path = run_dir / CONFIG_NAME
    if fcntl is None or not path.is_file():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UserError(
            f"run directory {run_dir} belongs to a `ponder train` that is still running; "
            "stop it first, or give this run another name"
        ) from None
    except OSError:  # a file system without locks: no run there could have claimed it
        pass
    finally:
        os.close(fd)


def _check_is_run(run_dir: Path) -> None:
    """Only wipe what we made: a stray path must not delete a user's files or other runs.
    Every entry, at every depth, must be one a run writes, and config.yaml a run config."""
    refusal = f"refusing to overwrite {run_dir}: it is not a ponder run directory"
    if not (run_dir / CONFIG_NAME).is_file():
        raise UserError(refusal)
    foreign = first_foreign(run_dir, _written_by_a_run)
    if foreign is not None:
        raise UserError(f"{refusal} (it holds {foreign.as_posix()!r}, which no run writes)")
    from ponder.config import config_from_dict  # late: the config imports every model

    try:
        config_from_dict(read_run_config(run_dir))
    except UserError as err:
        raise UserError(f"{refusal} (its {CONFIG_NAME} is not a run config: {err})") from None


def _written_by_a_run(relative: Path, is_dir: bool) -> bool:
    folder = "" if relative.parent == Path(".") else relative.parent.as_posix()
    if is_dir:
        return folder == "" and relative.name in RUN_FOLDERS
    name = relative.name
    temporary = _TEMPORARY.fullmatch(name)
    pattern = RUN_FILES.get(folder)
    return pattern is not None and any(
        re.fullmatch(pattern, n) for n in (name, temporary and temporary[1]) if n
    )


def _holds_something_to_keep(run_dir: Path) -> bool:
    """A checkpoint, an outcome or an evaluation: what a stopped run leaves that a rerun
    must not replace unasked (its config, logs and temporaries can be made again)."""
    found = (p for pattern in _KEPT for p in run_dir.glob(pattern))
    return any(p.is_file() and not _TEMPORARY.fullmatch(p.name) for p in found)


def _check_resumable(run_dir: Path, config: dict) -> None:
    if not checkpoint_path(run_dir).is_file():
        stopped = (run_dir / CONFIG_NAME).is_file()
        hint = ": it stopped before its first checkpoint; run it again without --resume"
        raise UserError(f"nothing to resume in {run_dir}{hint if stopped else ''}")
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
