"""A training stream of skill tasks drawn fresh for every batch row (data.fresh_tasks).

A skills dataset holds a fixed set of training tasks, and a model can learn them by heart.
This stream never shows a task twice: every row of every batch is a new instance of one of
the dataset's trained skills, generated on the spot with the dataset's canvas and number of
demonstrations, in the shape TrainBatches gives a few-shot training split, so every model
and objective takes it unchanged.

- Deterministic: row g (its place in the global batch) of `step` is drawn from
  default_rng([seed, step, g]), so the stream is a pure function of (seed, step) and
  resuming needs only the step. A DDP rank draws only its own rows; the ranks' rows together
  are the global batch.
- Disjoint from the test split: held-out skills (the test split's "unseen" set) are never
  drawn, and an instance whose test input equals a test-split input, or with any pair equal
  to a test-split pair, is dropped and drawn again from the row's generator.
- Each row is the instance's test pair with all K demonstrations visible. Its puzzle
  identifier is 1 + g: a fresh task has no learned identifier, and distinct ones keep the
  encoder-collapse statistics (which group rows by identifier) counting distinct tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ponder.data.dataset import Dataset
from ponder.data.fewshot import TASKS_JSON, view_to_row
from ponder.data.format import PONDER_JSON, Split, read_json, read_ponder_json
from ponder.data.loader import check_global_batch
from ponder.errors import UserError
from ponder.tasks import skills
from ponder.tasks.arc import encode_view, identity
from ponder.tasks.fewshot import FewShotTask

HELDOUT_SET = "unseen"  # the test split's set of held-out skills (ponder.data.fewshot_build)
MAX_DRAWS = 100  # per row; a test split that covers the generators this densely is refused


@dataclass(frozen=True)
class FreshRecipe:
    """What each fresh instance is drawn with, read from the dataset."""

    skills: tuple[str, ...]  # the trained skills, drawn uniformly
    canvas: int  # C: grids are at most C a side, encoded on a C x C canvas (L = C * C)
    demos: int  # K: demonstrations per instance, every slot filled


@dataclass(frozen=True)
class EncodedTask:
    """One instance as tokens: demo_inputs / demo_labels (K, L), query_input / query_label
    (L,), all uint8 on the canvas as the dataset builder encodes them."""

    demo_inputs: np.ndarray
    demo_labels: np.ndarray
    query_input: np.ndarray
    query_label: np.ndarray


def encode_task(task: FewShotTask, canvas: int) -> EncodedTask:
    """The instance's demonstrations and its one test pair on the canvas (no augmentation:
    the skills builder writes every task in the identity view)."""

    def encode(grid: np.ndarray) -> np.ndarray:
        return encode_view(grid, identity(), canvas).astype(np.uint8)  # (L,)

    query = task.test[0]
    return EncodedTask(
        demo_inputs=np.stack([encode(p.input) for p in task.train]),
        demo_labels=np.stack([encode(p.output) for p in task.train]),
        query_input=encode(query.input),
        query_label=encode(query.output),
    )


def _key(tokens: np.ndarray) -> bytes:
    return np.ascontiguousarray(tokens, dtype=np.uint8).tobytes()


class ForbiddenInstances:
    """The test split's instances as token bytes: every query input, and every pair (query
    or demonstration, input and output together) of every set."""

    def __init__(self, split: Split) -> None:
        fs = split.fewshot
        slots = fs["demo_inputs"].shape[1]
        filled = np.arange(slots)[None, :] < fs["demo_counts"][:, None]  # [P, K]
        inputs = np.concatenate([split.inputs, fs["demo_inputs"][filled]])  # [N + D, L]
        labels = np.concatenate([split.labels, fs["demo_labels"][filled]])  # [N + D, L]
        self.query_inputs = {_key(row) for row in split.inputs}
        self.pairs = {_key(i) + _key(o) for i, o in zip(inputs, labels, strict=True)}

    def shows(self, task: EncodedTask) -> bool:
        """Whether `task` asks a test-split question or shows one of its pairs."""
        if _key(task.query_input) in self.query_inputs:
            return True
        inputs = [*task.demo_inputs, task.query_input]
        labels = [*task.demo_labels, task.query_label]
        return any(_key(i) + _key(o) in self.pairs for i, o in zip(inputs, labels, strict=True))


class FreshSkillBatches:
    """The `batch(step)` interface of TrainBatches, every row a new skill instance."""

    def __init__(
        self,
        recipe: FreshRecipe,
        forbidden: ForbiddenInstances,
        global_batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        check_global_batch(global_batch_size, rank, world_size)  # as TrainBatches does
        self.recipe, self.forbidden, self.seed = recipe, forbidden, seed
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // world_size
        self.rank, self.world_size = rank, world_size

    @classmethod
    def from_dataset(
        cls, data: Dataset, global_batch_size: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> FreshSkillBatches:
        """The stream of a skills dataset's trained skills, disjoint from its test split."""
        recipe = read_fresh_recipe(data)
        return cls(recipe, ForbiddenInstances(data.test), global_batch_size, seed, rank, world_size)

    def rows(self) -> range:
        """This rank's rows of the global batch (their indices g)."""
        start = self.rank * self.local_batch_size
        return range(start, start + self.local_batch_size)

    def task_at(self, step: int, row: int) -> EncodedTask:
        """Global row `row` of `step`: the first draw of its generator that shows nothing
        of the test split."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        rng = np.random.default_rng([self.seed, step, row])
        recipe = self.recipe
        for _ in range(MAX_DRAWS):
            skill = recipe.skills[int(rng.integers(len(recipe.skills)))]
            task = skills.generate_task(
                skill, rng, num_demos=recipe.demos, num_tests=1, max_size=recipe.canvas
            )
            encoded = encode_task(task, recipe.canvas)
            if not self.forbidden.shows(encoded):
                return encoded
        raise UserError(
            f"data.fresh_tasks: {MAX_DRAWS} fresh instances in a row repeated test-split "
            f"instances (step {step}, row {row}); the test split covers too much of the "
            "generators' range at this canvas size"
        )

    # The engine passes `needed` (its halted rows) to a loader that says this: a fresh
    # instance costs ~1.5 ms a row on a CPU, and a row that has not halted keeps its task.
    makes_rows_on_demand = True

    def batch(self, step: int, needed: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """This rank's rows at `step`: inputs/labels int64 [b, L], puzzle_identifiers int64
        [b], demo_inputs/demo_labels int64 [b, K, L], demo_mask bool [b, K] (all True).
        With `needed` (bool [b]), only those rows are drawn; the others are blank (zeros),
        for a caller that will not read them. A drawn row is the same either way."""
        rows = self.rows()
        if needed is not None and len(needed) != len(rows):
            raise ValueError(f"needed has {len(needed)} rows, the batch {len(rows)}")
        tasks = [
            self.task_at(step, row) if needed is None or needed[i] else self._blank()
            for i, row in enumerate(rows)
        ]

        def stacked(name: str) -> torch.Tensor:
            return torch.from_numpy(np.stack([getattr(t, name) for t in tasks]).astype(np.int64))

        return {
            "inputs": stacked("query_input"),
            "labels": stacked("query_label"),
            "puzzle_identifiers": torch.tensor([1 + g for g in self.rows()], dtype=torch.int64),
            "demo_inputs": stacked("demo_inputs"),
            "demo_labels": stacked("demo_labels"),
            "demo_mask": torch.ones(len(tasks), self.recipe.demos, dtype=torch.bool),
        }

    def _blank(self) -> EncodedTask:
        """A placeholder row of the right shapes (all zeros)."""
        canvas, demos = self.recipe.canvas, self.recipe.demos
        grid = np.zeros(canvas * canvas, dtype=np.uint8)
        pairs = np.zeros((demos, canvas * canvas), dtype=np.uint8)
        return EncodedTask(query_input=grid, query_label=grid, demo_inputs=pairs, demo_labels=pairs)


def read_fresh_recipe(data: Dataset) -> FreshRecipe:
    """The skills, canvas and demonstrations of a dataset built by `ponder data build
    skills`, from its ponder.json and tasks.json; UserError for any other dataset."""
    stamp = read_ponder_json(data.root) or {}
    if data.task.name != "skills" or stamp.get("task") != "skills":
        raise UserError(
            f"data.fresh_tasks draws from the skill generators; {data.root} is not a "
            f"generated skills dataset (task {data.task.name})"
        )
    canvas = math.isqrt(data.train.metadata.seq_len)
    demos = int(data.train.fewshot["demo_inputs"].shape[1])  # K slots
    recorded = (stamp.get("max_size"), stamp.get("demos"))
    if recorded != (canvas, demos):
        raise UserError(
            f"{data.root / PONDER_JSON}: records max_size and demos {recorded}, but the "
            f"arrays hold a {canvas}x{canvas} canvas and {demos} demonstration slots"
        )
    _refuse_augmented_views(data)
    trained = _trained_skills(data.root)
    if not trained:
        raise UserError(f"{data.root}: no trained skill is left to draw fresh tasks from")
    return FreshRecipe(skills=trained, canvas=canvas, demos=demos)


def _trained_skills(root: Path) -> tuple[str, ...]:
    """The skills of the training split's tasks, less any of the held-out set's."""
    trained = _skills_of(root, "train")
    held_out = set(_skills_of(root, "test").get(HELDOUT_SET, []))
    names = sorted({s for names in trained.values() for s in names} - held_out)
    unknown = [name for name in names if name not in skills.SKILLS]
    if unknown:
        raise UserError(f"{root / 'train' / TASKS_JSON}: unknown skill {unknown[0]!r}")
    return tuple(names)


def _skills_of(root: Path, split: str) -> dict[str, list[str]]:
    """tasks.json's {set: [skill of each task]}."""
    path = root / split / TASKS_JSON
    data = read_json(path)
    found = data.get("skills") if isinstance(data, dict) else None
    valid = isinstance(found, dict) and all(
        isinstance(names, list) and all(isinstance(n, str) for n in names)
        for names in found.values()
    )
    if not valid:
        raise UserError(f'{path}: no skill list ({{"skills": {{set: [skill names]}}}})')
    return found


def _refuse_augmented_views(data: Dataset) -> None:
    """Fresh instances are unaugmented; a training split in other views would differ."""
    views = data.train.fewshot["puzzle_views"]  # [P, VIEW_WIDTH]
    if views.size and (views != view_to_row(identity())).any():
        raise UserError(
            f"data.fresh_tasks draws unaugmented tasks, but {data.root} trains on augmented views"
        )
