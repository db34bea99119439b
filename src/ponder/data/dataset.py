"""A dataset opened for a run: both splits, its task and the shape a model is built for.

Opening runs the checks of `ponder data check` (ponder.data.check.check_opened) before
anything uses the arrays, so a damaged dataset is refused in one line, never half-used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ponder.data.check import check_opened, dataset_task
from ponder.data.format import Split, load_split, read_ponder_json
from ponder.errors import UserError
from ponder.models.base import DataSpec

# The DataSpec keys a recipe (data.*) or a checkpoint pins, and a dataset must match.
SPEC_KEYS = ("vocab_size", "seq_len", "num_puzzle_identifiers")


@dataclass
class Dataset:
    root: Path
    task: object  # ponder.tasks.base.Task
    spec: DataSpec
    train: Split
    test: Split

    @property
    def fewshot(self) -> bool:
        """Whether the splits carry demonstrations per puzzle (skills, ARC)."""
        return bool(self.train.fewshot)

    def pinned_spec(self) -> dict:
        """The SPEC_KEYS values and the task's name, as a checkpoint records them."""
        return {**{key: getattr(self.spec, key) for key in SPEC_KEYS}, "task": self.task.name}


def open_dataset(path: str | Path, task_name: str | None = None) -> Dataset:
    """Load both splits, find the task (from ponder.json, or given for HRM-built data) and
    check them as `ponder data check` does (see check_opened), before anything uses them."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"dataset directory not found: {root} (build one with `ponder data build`)")
    ponder = read_ponder_json(root)
    task = dataset_task(root, ponder, task_name)
    if task is None:
        raise UserError(f"dataset {root} has no ponder.json; name its task (data.task=maze)")
    train, test = load_split(root, "train"), load_split(root, "test")
    check_opened(root, train, test, task, ponder)
    md = train.metadata
    spec = DataSpec(
        vocab_size=md.vocab_size,
        seq_len=md.seq_len,
        grid_shape=task.grid_shape(md.seq_len),
        num_puzzle_identifiers=md.num_puzzle_identifiers,
    )
    return Dataset(root=root, task=task, spec=spec, train=train, test=test)


def check_spec(data: Dataset, expected: dict, source: str) -> None:
    """Refuse a dataset whose shape differs from what a recipe or checkpoint expects:
    `expected` maps DataSpec keys to values (None: anything)."""
    for key in SPEC_KEYS:
        want, have = expected.get(key), getattr(data.spec, key)
        if want is not None and want != have:
            raise UserError(f"dataset {data.root} has {key} {have} but {source} expects {want}")
