"""The on-disk dataset format: the HRM/TRM array layout plus ponder's own `ponder.json`.

Layout (identical to what HRM's and TRM's builders write, so datasets move both ways):

    <dir>/identifiers.json              list of puzzle-identifier names, [0] == "<blank>"
    <dir>/ponder.json                   ponder only (optional when reading): how it was built
    <dir>/{train,test}/dataset.json     DatasetMetadata
    <dir>/{train,test}/<set>__inputs.npy              [N, seq_len] integer tokens
    <dir>/{train,test}/<set>__labels.npy              [N, seq_len] integer tokens
    <dir>/{train,test}/<set>__puzzle_identifiers.npy  [P] int32
    <dir>/{train,test}/<set>__puzzle_indices.npy      [P + 1] int32 CSR offsets into examples
    <dir>/{train,test}/<set>__group_indices.npy       [G + 1] int32 CSR offsets into puzzles

ponder writes a single set, "all". When reading, several sets are concatenated in the
order `sets` lists them, with the CSR offsets shifted so they index the concatenation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.fileio import read_json_file

SPLITS = ("train", "test")
ARRAY_FIELDS = ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices")
# Few-shot datasets (ARC, skills; ponder.data.fewshot) add, per set, arrays indexed by
# puzzle [P, ...] or by example [N] (HRM and TRM ignore files they do not know):
#   demo_inputs, demo_labels [P, K, seq_len]  each puzzle's demonstration pairs (K slots)
#   demo_counts [P]                            filled slots (the rest are padding)
#   example_slot [N]                           the demo slot an example is (-1: a test pair)
#   example_test_index [N]                     the test pair an example is (-1: a demo)
#   puzzle_views [P, 13]                       the augmentation of each puzzle (see tasks.arc)
FEWSHOT_FIELDS = (
    "demo_inputs",
    "demo_labels",
    "demo_counts",
    "example_slot",
    "example_test_index",
    "puzzle_views",
)
FORMAT_VERSION = 1
PONDER_JSON = "ponder.json"
IDENTIFIERS_JSON = "identifiers.json"
BLANK_IDENTIFIER = "<blank>"


@dataclass(frozen=True)
class DatasetMetadata:
    """The fields of a split's dataset.json (HRM's PuzzleDatasetMetadata, plus TRM's total_puzzles)."""

    pad_id: int
    ignore_label_id: int | None
    blank_identifier_id: int
    vocab_size: int
    seq_len: int
    num_puzzle_identifiers: int
    total_groups: int
    mean_puzzle_examples: float
    sets: tuple[str, ...] = ("all",)
    total_puzzles: int | None = None  # TRM writes it; HRM does not

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; total_puzzles is left out when unknown."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["sets"] = list(self.sets)
        out["mean_puzzle_examples"] = float(self.mean_puzzle_examples)
        if out["total_puzzles"] is None:
            del out["total_puzzles"]
        return out

    @classmethod
    def from_json(cls, data: Any, path: Path) -> DatasetMetadata:
        """Parse dataset.json content; UserError naming `path` and the first bad key."""
        if not isinstance(data, dict):
            raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
        required = [f.name for f in fields(cls) if f.name != "total_puzzles"]
        for key in required:
            if key not in data:
                raise UserError(f"{path}: missing key {key!r}")
        ints = ("pad_id", "blank_identifier_id", "vocab_size", "seq_len")
        ints += ("num_puzzle_identifiers", "total_groups")
        for key in ints:
            _require_int(data[key], key, path)
        if data["ignore_label_id"] is not None:
            _require_int(data["ignore_label_id"], "ignore_label_id", path)
        if data.get("total_puzzles") is not None:
            _require_int(data["total_puzzles"], "total_puzzles", path)
        mean = data["mean_puzzle_examples"]
        if isinstance(mean, bool) or not isinstance(mean, int | float):
            raise UserError(f"{path}: key 'mean_puzzle_examples' must be a number, got {mean!r}")
        sets = data["sets"]
        if not isinstance(sets, list) or not sets or not all(isinstance(s, str) for s in sets):
            raise UserError(f"{path}: key 'sets' must be a non-empty list of names, got {sets!r}")
        # Extra keys (e.g. some TRM forks' num_aug_identifiers) are ignored on purpose.
        values = {key: data[key] for key in required}
        values["sets"] = tuple(sets)
        values["mean_puzzle_examples"] = float(mean)
        return cls(**values, total_puzzles=data.get("total_puzzles"))


@dataclass(frozen=True, eq=False)
class Split:
    """One split in memory. N examples, P puzzles, G groups.

    inputs, labels: [N, seq_len] integer; puzzle_identifiers: [P];
    puzzle_indices: [P + 1] offsets into examples; group_indices: [G + 1] offsets into puzzles.
    """

    metadata: DatasetMetadata
    inputs: np.ndarray
    labels: np.ndarray
    puzzle_identifiers: np.ndarray
    puzzle_indices: np.ndarray
    group_indices: np.ndarray
    # Per-example arrays [N, ...] derived in memory (never written), batched with the rest:
    # e.g. "routes" [N, P] for the path-sequence formulation of mazes.
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    # Few-shot arrays (FEWSHOT_FIELDS) when the dataset has them, else empty.
    fewshot: dict[str, np.ndarray] = field(default_factory=dict)
    # Puzzle range [start, end) of each set, in the order of metadata.sets.
    set_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def num_examples(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def num_puzzles(self) -> int:
        return int(self.puzzle_identifiers.shape[0])

    @property
    def num_groups(self) -> int:
        return int(self.group_indices.shape[0]) - 1


def _require_int(value: Any, key: str, path: Path) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{path}: key {key!r} must be an integer, got {value!r}")


def read_json(path: Path) -> Any:
    """Parsed JSON at `path`; UserError naming the path when missing, not UTF-8, malformed
    or repeating a key (fileio's strict reader)."""
    return read_json_file(path, mapping=False)


def write_json(path: Path, data: Any) -> None:
    """Write JSON with sorted keys so the same content always gives the same bytes."""
    path.write_text(json.dumps(data, sort_keys=True, indent=2) + "\n", encoding="utf-8")


NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file


def _load_array(path: Path) -> np.ndarray:
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a .npy array file")
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    with path.open("rb") as f:
        # Checked first: numpy takes any other bytes for a pickle and suggests allow_pickle.
        has_header = f.read(len(NPY_MAGIC)) == NPY_MAGIC
    if not has_header:
        raise UserError(f"{path}: not a readable .npy array file (no .npy header)")
    try:
        # allow_pickle=False: a dataset file must never be able to run code.
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError):
        raise UserError(
            f"{path}: not a readable .npy array file (truncated, or it holds Python objects)"
        ) from None


def load_metadata(root: Path, split: str) -> DatasetMetadata:
    """The split's dataset.json; UserError if the split directory or the file is missing."""
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        raise UserError(f"{split_dir}: split directory not found")
    path = split_dir / "dataset.json"
    return DatasetMetadata.from_json(read_json(path), path)


def load_split(root: Path, split: str) -> Split:
    """Load `<root>/<split>`; several sets are concatenated with their offsets shifted."""
    metadata = load_metadata(root, split)
    split_dir = Path(root) / split
    parts = [
        {name: _load_array(split_dir / f"{set_name}__{name}.npy") for name in ARRAY_FIELDS}
        for set_name in metadata.sets
    ]
    arrays = parts[0] if len(parts) == 1 else _concatenate_sets(parts, split_dir)
    starts = np.cumsum([0] + [len(p["puzzle_identifiers"]) for p in parts])
    ranges = {
        s: (int(a), int(b)) for s, a, b in zip(metadata.sets, starts[:-1], starts[1:], strict=True)
    }
    fewshot = _load_fewshot(split_dir, metadata.sets)
    return Split(metadata, **arrays, fewshot=fewshot, set_ranges=ranges)


def _load_fewshot(split_dir: Path, sets: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The few-shot arrays of every set, concatenated; none when no set has any. Once one
    few-shot file is there, every one must be (a missing one is named by `_load_array`)."""
    paths = [split_dir / f"{s}__{name}.npy" for s in sets for name in FEWSHOT_FIELDS]
    if not any(path.is_file() for path in paths):
        return {}
    per_set = [
        {name: _load_array(split_dir / f"{s}__{name}.npy") for name in FEWSHOT_FIELDS} for s in sets
    ]
    return {name: _join([p[name] for p in per_set], split_dir, name) for name in FEWSHOT_FIELDS}


def _join(arrays: list[np.ndarray], split_dir: Path, name: str) -> np.ndarray:
    """One set's array, or the sets' arrays concatenated; UserError when they cannot be."""
    if len(arrays) == 1:
        return arrays[0]
    try:
        return np.concatenate(arrays)
    except ValueError:
        shapes = ", ".join(str(list(a.shape)) for a in arrays)
        raise UserError(
            f"{split_dir}: the sets' {name} arrays do not fit together ({shapes})"
        ) from None


def _concatenate_sets(parts: list[dict[str, np.ndarray]], split_dir: Path) -> dict[str, np.ndarray]:
    """Join sets: each set's puzzle offsets shift by the examples before it, group offsets
    by the puzzles before it (the leading 0 of every later set is dropped)."""
    for part in parts:
        for name in ("puzzle_indices", "group_indices"):
            if part[name].ndim != 1 or part[name].size == 0:
                raise UserError(f"{split_dir}: {name} must be a non-empty 1D array in every set")
    out = {name: _join([p[name] for p in parts], split_dir, name) for name in ARRAY_FIELDS[:3]}
    puzzle_idx, group_idx = [parts[0]["puzzle_indices"]], [parts[0]["group_indices"]]
    n_examples = n_puzzles = 0
    for prev, part in zip(parts, parts[1:], strict=False):
        n_examples += len(prev["inputs"])
        n_puzzles += len(prev["puzzle_identifiers"])
        puzzle_idx.append(part["puzzle_indices"][1:] + n_examples)
        group_idx.append(part["group_indices"][1:] + n_puzzles)
    out["puzzle_indices"] = np.concatenate(puzzle_idx).astype(np.int32)
    out["group_indices"] = np.concatenate(group_idx).astype(np.int32)
    return out


def write_split(root: Path, split: str, data: Split) -> None:
    """Write `data` as the single set "all" of `<root>/<split>` (offsets as int32, like HRM)."""
    split_dir = Path(root) / split
    split_dir.mkdir(parents=True, exist_ok=True)
    metadata = data.metadata
    if metadata.sets != ("all",):
        # The arrays are written as one set whatever the source held.
        metadata = replace(metadata, sets=("all",))
    write_json(split_dir / "dataset.json", metadata.to_json())
    write_set_arrays(split_dir, "all", data)


def write_set_arrays(split_dir: Path, set_name: str, data: Split) -> None:
    """Write one set's arrays (and its few-shot arrays, if any) into `split_dir`."""
    arrays = {
        "inputs": np.ascontiguousarray(data.inputs),
        "labels": np.ascontiguousarray(data.labels),
        "puzzle_identifiers": np.asarray(data.puzzle_identifiers, dtype=np.int32),
        "puzzle_indices": np.asarray(data.puzzle_indices, dtype=np.int32),
        "group_indices": np.asarray(data.group_indices, dtype=np.int32),
    }
    arrays.update(data.fewshot)
    for name, array in arrays.items():
        np.save(split_dir / f"{set_name}__{name}.npy", array, allow_pickle=False)


def read_ponder_json(root: Path) -> dict[str, Any] | None:
    """ponder.json as a dict, or None when the dataset was not built by ponder."""
    path = Path(root) / PONDER_JSON
    if not path.exists():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_identifiers(root: Path) -> list[str]:
    """identifiers.json: the name of each puzzle identifier (index 0 is "<blank>")."""
    path = Path(root) / IDENTIFIERS_JSON
    data = read_json(path)
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise UserError(f"{path}: expected a list of names")
    return data


def write_identifiers(root: Path, names: list[str]) -> None:
    write_json(Path(root) / IDENTIFIERS_JSON, list(names))


def content_files(root: Path) -> list[Path]:
    """The files the content hash covers: every split's dataset.json and .npy, sorted by path."""
    root = Path(root)
    found = [p for split in SPLITS for p in (root / split).glob("*") if p.is_file()]
    chosen = [p for p in found if p.suffix == ".npy" or p.name == "dataset.json"]
    return sorted(chosen, key=lambda p: p.relative_to(root).as_posix())


def content_hash(root: Path) -> str:
    """sha256 hex digest of the bytes of `content_files(root)`, in sorted path order."""
    digest = hashlib.sha256()
    for path in content_files(root):
        with path.open("rb") as f:
            for chunk in iter(lambda f=f: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
