"""Small file helpers shared by the CLI and the library: read a user's text file with a
clear error, and write a file atomically so a killed process never leaves half of it."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import stat
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

from ponder.errors import UserError


def read_text_file(path: Path) -> str:
    """The UTF-8 text of a user's file; UserError saying what `path` is instead."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a file")
    if not path.exists():  # a pipe (bash's <(...)) exists and reads like a file
        raise UserError(f"file not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text file (not UTF-8)") from None
    except OSError as err:  # unreadable: permissions, a vanished file, an I/O error
        raise UserError(f"cannot read {path}: {err.strerror or err}") from None


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary sibling (see atomic_output)."""
    with atomic_output(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` for the block to write; renamed onto `path` (after an
    fsync) when the block succeeds and removed when it fails, so a reader sees the old file
    or the new one, never half of one.

    A symlink at `path` is written through: the file it names is replaced and the link
    stays. A new file gets the mode the umask gives (mkstemp's 0600 would hide it from the
    user's group); a replaced one keeps its mode. UserError when `path` is not a regular
    file (a directory, a device, a fifo) or its folder refuses a new file (/proc)."""
    target = _regular_file_target(Path(path))
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)  # a killed writer's, whose mode O_CREAT would keep
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # & ~umask
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)  # the writer may have closed its file without fsync
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if target.exists():
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _regular_file_target(path: Path) -> Path:
    """The file a write to `path` replaces: `path`, or the file its symlink names."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.is_dir():
        raise UserError(f"{path} is a directory; give a file name")
    if target.exists() and not target.is_file():
        raise UserError(f"{path} is not a regular file (a device, fifo or socket)")
    return target


# ----- strict YAML and JSON: every config, dataset, run, suite and demo file is read here ------
def read_yaml_file(path: Path, what: str = "file") -> dict[str, Any]:
    """The mapping in a YAML file (an empty file is {}). UserError, naming the file as
    `what` (e.g. "config file"), when it is missing, not UTF-8, not valid YAML, repeats a
    key in one mapping, or holds something other than a mapping."""
    path = Path(path)
    text = _read_named_file(path, what)
    return parse_yaml_mapping(text, _source(path, what))


def read_json_file(path: Path, what: str = "file", *, mapping: bool = True) -> Any:
    """The JSON value in a file; a mapping unless mapping=False. The same refusals as
    read_yaml_file, a repeated key included."""
    path = Path(path)
    data = parse_json(_read_named_file(path, what), _source(path, what))
    if mapping and not isinstance(data, dict):
        raise UserError(f"{_source(path, what)} must hold a JSON object of keys to values")
    return data


def parse_yaml_mapping(text: str, source: str) -> dict[str, Any]:
    """YAML text as a mapping; `source` names it in the one-line error."""
    import yaml  # here, not at the top: `ponder --help` must not pay for it

    try:
        data = yaml.load(text, Loader=_strict_yaml_loader())  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise UserError(f"{source} is not valid YAML: {_yaml_problem(err)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{source} must hold a mapping of keys to values")
    return data


def parse_json(text: str, source: str) -> Any:
    """JSON text; a repeated key in one object is an error (json.loads keeps the last)."""

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                raise UserError(f"{source}: invalid JSON (key {key!r} appears twice in one object)")
            obj[key] = value
        return obj

    try:
        return json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as err:
        raise UserError(
            f"{source}: invalid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
        ) from None


def _source(path: Path, what: str) -> str:
    return str(path) if what == "file" else f"{what} {path}"


def _read_named_file(path: Path, what: str) -> str:
    if not path.exists():
        raise UserError(f"{what} not found: {path}")
    return read_text_file(path)  # refuses a directory, non-UTF-8 bytes, an unreadable file


def _yaml_problem(err: Exception) -> str:
    """'found duplicate key 'lr' at line 7': the problem and where, in one line."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark = getattr(err, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}" if mark is not None else problem


@functools.cache
def _strict_yaml_loader() -> type:
    """yaml.SafeLoader that refuses a key repeated in one mapping (PyYAML keeps the last,
    so `lr` written twice would silently take the second)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` may be overridden by the keys beside it
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):
                    continue  # SafeLoader itself refuses an unhashable key
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    return StrictLoader


def check_output_file(
    path: Path, what: str, *, overwrite: bool = False, inputs: tuple[Path, ...] = ()
) -> None:
    """UserError unless the user's output file `path` (`what` names it, e.g. "--png") may be
    written: it must not be a directory or anything but a regular file, nor one of the
    command's `inputs`, nor an existing file unless `overwrite`; nothing above it may be a
    file."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise UserError(f"{what} {path} is not a regular file (a device, fifo or socket)")
    for source in inputs:
        if path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise UserError(f"{what} {path} is the input file {source}; give another name")
    if path.exists() and not overwrite:
        raise UserError(f"{what} {path} already exists; pass --overwrite to replace it")
    _check_parents(path, what)


def check_output_dir(path: Path, what: str) -> None:
    """UserError unless `path` can be created or replaced as a directory: it must have a
    name of its own (not '.', '..' or '/'), must not be a file, and nothing above it may be
    a file."""
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise UserError(f"{what} {str(path)!r} names no directory of its own; give a new name")
    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is a file, not a directory")
    _check_parents(path, what)


def first_foreign(
    root: Path, ours: Callable[[Path, bool], bool], _under: Path = Path(".")
) -> Path | None:
    """The first entry under `root` (relative to it, in sorted depth-first order) that
    `ours(relative path, is_dir)` does not claim, or None. Everything but plain files and
    directories is foreign (ponder never writes a link); inside a directory ours claims,
    the walk goes on; inside a foreign one, its first file is named, as what a user would
    miss."""
    for entry in sorted((Path(root) / _under).iterdir()):
        relative = _under / entry.name
        is_dir = entry.is_dir() and not entry.is_symlink()
        plain = is_dir or (entry.is_file() and not entry.is_symlink())
        if not (plain and ours(relative, is_dir)):
            return relative / _first_file(entry) if is_dir else relative
        inner = first_foreign(root, ours, relative) if is_dir else None
        if inner is not None:
            return inner
    return None


def _first_file(directory: Path) -> Path:
    """The first non-directory under `directory`, relative to it ('.' if there is none)."""
    for entry in sorted(directory.rglob("*")):
        if not entry.is_dir() or entry.is_symlink():
            return entry.relative_to(directory)
    return Path(".")


def _check_parents(path: Path, what: str) -> None:
    """The nearest existing folder above `path` must be a directory (mkdir would fail)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"{what} {path}: {parent} is a file, not a directory")
            return


def run_name_problem(name: str) -> str | None:
    """Why `name` cannot name a run (the one directory runs/<name>), or None if it can."""
    if not name.strip():
        return "a run name must not be empty"
    if name in (".", "..") or any(c in name for c in "/\\\0"):
        return "a run name must be one directory name (no '/', not '.' or '..')"
    return None


def run_dir_problem(run_dir: str) -> str | None:
    """Why `run_dir` cannot be a run directory, or None ("" means runs/<name>)."""
    if not run_dir:
        return None
    if "\0" in run_dir:
        return "a run directory must not contain a null byte"
    path = Path(run_dir)
    if path.name in ("", ".."):
        return "a run directory must end in a directory name (not '.', '..' or '/')"
    # `x/..` reads as missing while x is missing, so prepare_run_dir's checks of what is
    # already there would not look at the directory the run really lands in.
    if ".." in itertools.dropwhile(lambda part: part == "..", path.parts):
        return "a run directory may use '..' only at its start"
    return None
