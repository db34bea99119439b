"""Write few-shot tasks (ARC, synthetic skills) in the dataset layout of part 1.

Each task view (the task under one augmentation) is a puzzle with its own identifier; the
views of one task form a group. A puzzle's examples are its test pairs and, in the training
split, its demonstration pairs too (so a puzzle-embedding model has something to learn its
vector from, as in HRM/TRM). Every example reaches its puzzle's demonstrations through the
few-shot arrays (see ponder.data.format.FEWSHOT_FIELDS); an example that is itself a
demonstration records its slot, and the loader hides that slot from it (leave-one-out).

A split may hold several sets (the HRM layout allows it): the skills test split has "seen"
(new instances of trained skills) and "unseen" (held-out skills), reported separately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ponder.data.build import write_once
from ponder.data.format import (
    BLANK_IDENTIFIER,
    FEWSHOT_FIELDS,
    FORMAT_VERSION,
    PONDER_JSON,
    DatasetMetadata,
    Split,
    content_hash,
    read_json,
    write_identifiers,
    write_json,
    write_set_arrays,
)
from ponder.errors import UserError
from ponder.tasks.arc import Transform, decode_view, encode_view, identity, task_views
from ponder.tasks.fewshot import NUM_COLOURS, PAD, VOCAB_SIZE, FewShotTask, Pair

VIEW_WIDTH = 1 + NUM_COLOURS + 2  # dihedral, colour permutation, offset (dy, dx)
TASKS_JSON = "tasks.json"


@dataclass
class FewShotSource:
    """What to write: training tasks and the test split's named sets of tasks."""

    train: list[FewShotTask]
    test_sets: dict[str, list[FewShotTask]]
    # Tasks whose demonstrations also become training examples under their own puzzle ids
    # (HRM/TRM's ARC recipe for the evaluation tasks); their test pairs stay in the test split.
    demos_in_train: set[str] = field(default_factory=set)


@dataclass
class Views:
    """How many views each split gets and whether training views are translated."""

    train: int = 1
    test: int = 1
    translate: bool = False


def view_to_row(t: Transform) -> np.ndarray:
    return np.asarray([t.dihedral, *t.colours, *t.offset], dtype=np.int16)


def row_to_view(row: np.ndarray) -> Transform:
    row = [int(v) for v in row]
    colours = tuple(row[1 : 1 + NUM_COLOURS])
    return Transform(dihedral=row[0], colours=colours, offset=(row[-2], row[-1]))


def build_fewshot_dataset(
    out_dir: Path,
    source: FewShotSource,
    recipe: dict,
    *,
    canvas: int,
    views: Views,
    seed: int,
    max_demos: int,
    overwrite: bool = False,
) -> Path:
    """Write `source` into `out_dir` (atomically); an identical existing build is reused."""

    def write(tmp: Path) -> None:
        tmp.mkdir()
        _Writer(canvas, max_demos, np.random.default_rng(seed), views).write(tmp, source)
        stamp = {**recipe, "content_hash": content_hash(tmp), "format_version": FORMAT_VERSION}
        write_json(tmp / PONDER_JSON, stamp)

    return write_once(Path(out_dir), recipe, overwrite, write)


def lay_out_task(
    task: FewShotTask,
    views: list[Transform],
    canvas: int,
    slots: int,
    *,
    demos_as_examples: bool = False,
) -> Split:
    """`task` as one group of a split, one puzzle per view, in the builder's own layout (so
    the model sees what it saw in training): demonstration slots [P, slots, L], test pairs
    as examples (a hidden output: a blank label) and, with `demos_as_examples`, each
    demonstration as an example hiding its own slot (leave-one-out; a task with a lone
    demonstration has none). Its puzzle identifiers are new: callers set their own."""
    writer = _Writer(canvas, slots, np.random.default_rng(0), Views(test=len(views)))
    writer.slots = slots  # what `_Writer.write` sets for a whole dataset
    return writer._make_set([(task, views, True if demos_as_examples else None)])


class _Writer:
    """Accumulates puzzles split by split, handing out puzzle identifiers as it goes."""

    def __init__(self, canvas: int, max_demos: int, rng: np.random.Generator, views: Views):
        self.canvas, self.max_demos, self.rng, self.views = canvas, max_demos, rng, views
        self.identifiers = [BLANK_IDENTIFIER]
        self.ids: dict[tuple[str, int], int] = {}  # (task name, view number) -> identifier

    def write(self, root: Path, source: FewShotSource) -> None:
        tests = [t for ts in source.test_sets.values() for t in ts]
        tasks = [*source.train, *tests]
        self.slots = max(1, min(self.max_demos, max(len(t.train) for t in tasks)))
        test_views = {t.name: self._views(t, self.views.test, False) for t in tests}
        train = [
            (t, self._views(t, self.views.train, self.views.translate), True) for t in source.train
        ]
        # demos only (False): these tasks' test pairs belong to the test split. A task with
        # a lone demonstration would be a puzzle without examples, so it stays out.
        train += [
            (t, test_views[t.name], False)
            for t in tests
            if t.name in source.demos_in_train and min(len(t.train), self.slots) >= 2
        ]
        test_sets = {
            name: [(t, test_views[t.name], None) for t in ts]
            for name, ts in source.test_sets.items()
        }
        written = [self._write_split(root, "train", {"all": train})]
        written.append(self._write_split(root, "test", test_sets))
        for split_dir, metadata in written:  # only now is the number of identifiers known
            metadata = replace(metadata, num_puzzle_identifiers=len(self.identifiers))
            write_json(split_dir / "dataset.json", metadata.to_json())
        write_identifiers(root, self.identifiers)

    def _views(self, task: FewShotTask, count: int, translate: bool) -> list[Transform]:
        if count <= 1 and not translate:
            return [identity()]
        return task_views(task, self.rng, count, translate=translate, canvas=self.canvas)

    def _write_split(self, root: Path, name: str, sets: dict[str, list]):
        """Write each set's arrays and tasks.json; returns (split dir, metadata to write)."""
        split_dir = root / name
        split_dir.mkdir(parents=True)
        parts = {s: self._make_set(entries) for s, entries in sets.items()}
        for set_name, part in parts.items():
            write_set_arrays(split_dir, set_name, part)
        names = {s: [e[0].name for e in entries] for s, entries in sets.items()}
        skills = {s: [e[0].skill for e in entries] for s, entries in sets.items()}
        write_json(split_dir / TASKS_JSON, {"tasks": names, "skills": skills})
        metadata = DatasetMetadata(
            pad_id=PAD,
            ignore_label_id=PAD,  # cells off the answer grid are not part of the answer
            blank_identifier_id=0,
            vocab_size=VOCAB_SIZE,
            seq_len=self.canvas * self.canvas,
            num_puzzle_identifiers=0,  # set by `write` once every split has its ids
            total_groups=sum(p.num_groups for p in parts.values()),
            mean_puzzle_examples=_mean_examples(parts.values()),
            sets=tuple(parts),
            total_puzzles=sum(p.num_puzzles for p in parts.values()),
        )
        return split_dir, metadata

    def _identifier(self, task: FewShotTask, view: int) -> int:
        key = (task.name, view)
        if key not in self.ids:
            self.ids[key] = len(self.identifiers)
            self.identifiers.append(f"{task.name}|{view}")
        return self.ids[key]

    def _make_set(self, entries: list) -> Split:
        """entries: (task, views, demos_as_examples: True / False / None = test pairs only)."""
        rows: dict[str, list] = {k: [] for k in ("inputs", "labels", "slot", "test_index")}
        puzzles: dict[str, list] = {k: [] for k in ("ids", "starts", "demo_in", "demo_out")}
        puzzles.update(counts=[], views=[])
        groups = [0]
        for task, views, demos in entries:
            for v, view in enumerate(views):
                puzzles["starts"].append(len(rows["inputs"]))
                puzzles["ids"].append(self._identifier(task, v))
                self._add_puzzle(task, view, demos, rows, puzzles)
            groups.append(len(puzzles["ids"]))
        puzzles["starts"].append(len(rows["inputs"]))
        return self._as_split(rows, puzzles, groups)

    def _add_puzzle(self, task, view, demos, rows, puzzles) -> None:
        encode = lambda g: encode_view(g, view, self.canvas)  # noqa: E731
        shown = task.train[: self.slots]
        blank = np.zeros(self.canvas * self.canvas, dtype=np.uint8)
        demo_in = [encode(p.input) for p in shown] + [blank] * (self.slots - len(shown))
        demo_out = [encode(p.output) for p in shown] + [blank] * (self.slots - len(shown))
        puzzles["demo_in"].append(np.stack(demo_in))
        puzzles["demo_out"].append(np.stack(demo_out))
        puzzles["counts"].append(len(shown))
        puzzles["views"].append(view_to_row(view))
        # True or False (demos only): the demonstrations are examples, each hiding its own
        # slot; a lone demonstration would leave nothing to encode.
        if demos is not None and len(shown) >= 2:
            for slot, pair in enumerate(shown):
                self._add_example(rows, encode(pair.input), encode(pair.output), slot, -1)
        if demos is not False:  # tasks only here for their demos keep their tests for test
            for j, pair in enumerate(task.test):
                out = blank if pair.output is None else encode(pair.output)
                self._add_example(rows, encode(pair.input), out, -1, j)

    @staticmethod
    def _add_example(rows, inputs, labels, slot: int, test_index: int) -> None:
        rows["inputs"].append(inputs)
        rows["labels"].append(labels)
        rows["slot"].append(slot)
        rows["test_index"].append(test_index)

    def _as_split(self, rows, puzzles, groups) -> Split:
        length = self.canvas * self.canvas
        n = len(rows["inputs"])
        stack = lambda xs: np.stack(xs).astype(np.uint8) if xs else np.zeros((0, length), np.uint8)  # noqa: E731
        fewshot = {
            "demo_inputs": np.stack(puzzles["demo_in"]).astype(np.uint8),
            "demo_labels": np.stack(puzzles["demo_out"]).astype(np.uint8),
            "demo_counts": np.asarray(puzzles["counts"], dtype=np.int32),
            "example_slot": np.asarray(rows["slot"], dtype=np.int32).reshape(n),
            "example_test_index": np.asarray(rows["test_index"], dtype=np.int32).reshape(n),
            "puzzle_views": np.stack(puzzles["views"]).astype(np.int16),
        }
        metadata = DatasetMetadata(PAD, PAD, 0, VOCAB_SIZE, length, 0, len(groups) - 1, 0.0)
        return Split(
            metadata=metadata,
            inputs=stack(rows["inputs"]),
            labels=stack(rows["labels"]),
            puzzle_identifiers=np.asarray(puzzles["ids"], dtype=np.int32),
            puzzle_indices=np.asarray(puzzles["starts"], dtype=np.int32),
            group_indices=np.asarray(groups, dtype=np.int32),
            fewshot=fewshot,
        )


def _mean_examples(parts) -> float:
    parts = list(parts)
    puzzles = sum(p.num_puzzles for p in parts)
    return sum(p.num_examples for p in parts) / max(1, puzzles)


def read_task_names(root: Path, split: str, loaded: Split | None = None) -> dict[str, list[str]]:
    """The original task name of every group, per set, as the builder wrote them; with the
    `loaded` split, also checked to name each of its sets' groups once."""
    path = Path(root) / split / TASKS_JSON
    data = read_json(path)
    names = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(names, dict) or not all(_is_name_list(v) for v in names.values()):
        raise UserError(f'{path}: not a few-shot task list ({{"tasks": {{set: [names]}}}})')
    if loaded is not None:
        _check_names_fit(path, names, loaded)
    return names


def read_task_skills(root: Path, split: str) -> dict[str, list[str]] | None:
    """The skill of every group, per set, as the skills builder wrote them (None for data
    without skills, e.g. ARC)."""
    data = read_json(Path(root) / split / TASKS_JSON)
    skills = data.get("skills") if isinstance(data, dict) else None
    if not isinstance(skills, dict) or not all(_is_name_list(v) for v in skills.values()):
        return None
    return skills


def _is_name_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(name, str) for name in value)


def _check_names_fit(path: Path, names: dict[str, list[str]], split: Split) -> None:
    """One name per group of each set (the evaluator looks a group's task up by position)."""
    if sorted(names) != sorted(split.metadata.sets):
        raise UserError(
            f"{path}: names sets {sorted(names)}, dataset.json has {sorted(split.metadata.sets)}"
        )
    group_starts = split.group_indices[:-1]  # [G] first puzzle of each group
    for set_name, (first, end) in split.set_ranges.items():
        groups = int(((group_starts >= first) & (group_starts < end)).sum())
        if len(names[set_name]) != groups:
            raise UserError(
                f"{path}: set {set_name!r} names {len(names[set_name])} tasks, "
                f"the arrays hold {groups}"
            )


def check_fewshot_split(name: str, split: Split) -> None:
    """The few-shot arrays of a loaded split fit its examples, puzzles and canvas (else the
    loader indexes out of range, or the evaluator builds a view that cannot exist); UserError
    naming the first that does not. `split` has passed `check_split` already."""
    fs = split.fewshot
    for key in FEWSHOT_FIELDS:
        if not np.issubdtype(fs[key].dtype, np.integer):
            raise UserError(f"{name}: {key} must be an integer array, got dtype {fs[key].dtype}")
    _check_demonstrations(name, split)
    _check_example_slots(name, split)
    _check_views(name, fs["puzzle_views"], split.num_puzzles, split.metadata.seq_len)


def _require_shape(name: str, key: str, array: np.ndarray, shape: tuple) -> None:
    """`shape` holds sizes, or None where any size goes."""
    fits = array.ndim == len(shape) and all(
        want is None or want == have for want, have in zip(shape, array.shape, strict=True)
    )
    if not fits:
        want = ", ".join("K" if s is None else str(s) for s in shape)
        raise UserError(f"{name}: {key} has shape {list(array.shape)}, expected [{want}]")


def _check_demonstrations(name: str, split: Split) -> None:
    """demo_inputs / demo_labels [P, K, seq_len] of tokens, demo_counts [P] in 0..K."""
    fs, meta, p = split.fewshot, split.metadata, split.num_puzzles
    _require_shape(name, "demo_inputs", fs["demo_inputs"], (p, None, meta.seq_len))
    slots = int(fs["demo_inputs"].shape[1])
    for key in ("demo_inputs", "demo_labels"):
        _require_shape(name, key, fs[key], (p, slots, meta.seq_len))
        if fs[key].size and (fs[key].min() < 0 or fs[key].max() >= meta.vocab_size):
            bad = int(fs[key].min()) if fs[key].min() < 0 else int(fs[key].max())
            raise UserError(f"{name}: {key} holds token {bad}, outside [0, {meta.vocab_size})")
    counts = fs["demo_counts"]
    _require_shape(name, "demo_counts", counts, (p,))
    if counts.size and (counts.min() < 0 or counts.max() > slots):
        bad = int(counts.min()) if counts.min() < 0 else int(counts.max())
        raise UserError(f"{name}: demo_counts holds {bad}, outside 0..{slots} (demo slots)")


def _check_example_slots(name: str, split: Split) -> None:
    """Each example is either a filled demonstration slot of its puzzle or a test pair."""
    fs, n = split.fewshot, split.num_examples
    slot, test_index = fs["example_slot"], fs["example_test_index"]
    _require_shape(name, "example_slot", slot, (n,))
    _require_shape(name, "example_test_index", test_index, (n,))
    puzzles = np.searchsorted(split.puzzle_indices, np.arange(n), side="right") - 1  # [N]
    filled = fs["demo_counts"][puzzles]  # [N] demonstrations of each example's puzzle
    bad = (slot < -1) | ((slot >= 0) & (slot >= filled))
    if bad.any():
        at = int(np.argmax(bad))
        raise UserError(
            f"{name}: example {at} is demonstration slot {int(slot[at])} of a puzzle with "
            f"{int(filled[at])} demonstrations"
        )
    neither_or_both = (slot >= 0) == (test_index >= 0)
    if (test_index < -1).any() or neither_or_both.any():
        at = int(np.argmax((test_index < -1) | neither_or_both))
        raise UserError(
            f"{name}: example {at} has example_slot {int(slot[at])} and example_test_index "
            f"{int(test_index[at])}; exactly one must be -1"
        )


def _check_views(name: str, views: np.ndarray, puzzles: int, seq_len: int) -> None:
    """puzzle_views [P, VIEW_WIDTH]: a symmetry 0..7, a colour permutation keeping 0, and
    an offset on the canvas (the rows `row_to_view` turns into transforms)."""
    _require_shape(name, "puzzle_views", views, (puzzles, VIEW_WIDTH))
    dihedral, colours, offsets = views[:, 0], views[:, 1 : 1 + NUM_COLOURS], views[:, -2:]
    canvas = math.isqrt(seq_len)
    bad = (dihedral < 0) | (dihedral > 7)
    bad |= (np.sort(colours, axis=1) != np.arange(NUM_COLOURS)).any(axis=1) | (colours[:, 0] != 0)
    bad |= (offsets < 0).any(axis=1) | (offsets >= canvas).any(axis=1)
    if bad.any():
        at = int(np.argmax(bad))
        raise UserError(
            f"{name}: puzzle_views row {at} is not a view (symmetry 0..7, colours a "
            f"permutation of 0..9 keeping 0, offset inside the {canvas}x{canvas} canvas): "
            f"{views[at].tolist()}"
        )


def split_tasks(split: Split, names_by_set: dict[str, list[str]]) -> list[FewShotTask]:
    """Each group's task as seen in its first view (the identity for test splits): its
    demonstrations, and its test pairs in test-index order."""
    names = [n for ns in names_by_set.values() for n in ns]
    fs, side = split.fewshot, int(round(split.metadata.seq_len**0.5))
    tasks = []
    for group, name in enumerate(names):
        puzzle = int(split.group_indices[group])
        view = row_to_view(fs["puzzle_views"][puzzle])
        demos = [
            Pair(decode_view(fs["demo_inputs"][puzzle, k], view, side),
                 decode_view(fs["demo_labels"][puzzle, k], view, side))
            for k in range(int(fs["demo_counts"][puzzle]))
        ]  # fmt: skip
        examples = range(split.puzzle_indices[puzzle], split.puzzle_indices[puzzle + 1])
        tests = sorted((int(fs["example_test_index"][e]), e) for e in examples)
        pairs = [
            Pair(decode_view(split.inputs[e], view, side),
                 decode_view(split.labels[e], view, side) if split.labels[e].any() else None)
            for t, e in tests if t >= 0
        ]  # fmt: skip
        tasks.append(FewShotTask(name=name, train=tuple(demos), test=tuple(pairs)))
    return tasks


PER_PUZZLE_FIELDS = ("demo_inputs", "demo_labels", "demo_counts", "puzzle_views")


def first_tasks(
    split: Split, names_by_set: dict[str, list[str]], count: int
) -> tuple[Split, dict[str, list[str]]]:
    """The first `count` tasks (groups) of each set of `split` (all of a smaller set), as a
    split of their own with every offset renumbered, and their names per set."""
    kept_groups, kept_names, first_group = [], {}, 0
    for set_name in split.metadata.sets:
        names = names_by_set[set_name]
        kept_names[set_name] = names[:count]
        kept_groups.extend(range(first_group, first_group + len(kept_names[set_name])))
        first_group += len(names)
    puzzles_of = [
        np.arange(split.group_indices[g], split.group_indices[g + 1]) for g in kept_groups
    ]
    puzzles = np.concatenate(puzzles_of)  # [P'] old puzzle numbers, in order
    examples = np.concatenate(
        [np.arange(split.puzzle_indices[p], split.puzzle_indices[p + 1]) for p in puzzles]
    )  # [N'] old example numbers, in order
    per_puzzle = np.diff(split.puzzle_indices)[puzzles]
    fewshot = {
        key: value[puzzles] if key in PER_PUZZLE_FIELDS else value[examples]
        for key, value in split.fewshot.items()
    }
    subset = replace(
        split,
        metadata=replace(split.metadata, total_groups=len(kept_groups)),
        inputs=split.inputs[examples],
        labels=split.labels[examples],
        puzzle_identifiers=split.puzzle_identifiers[puzzles],
        puzzle_indices=np.concatenate([[0], np.cumsum(per_puzzle)]).astype(np.int32),
        group_indices=np.concatenate([[0], np.cumsum([len(p) for p in puzzles_of])]).astype(
            np.int32
        ),
        extras={key: value[examples] for key, value in split.extras.items()},
        fewshot=fewshot,
        set_ranges=_set_ranges(split.metadata.sets, kept_names, puzzles_of),
    )
    return subset, kept_names


def _set_ranges(sets, names_by_set, puzzles_of) -> dict[str, tuple[int, int]]:
    """Each set's puzzle range [start, end) in a split holding the groups `puzzles_of`."""
    ranges, group, start = {}, 0, 0
    for set_name in sets:
        groups = len(names_by_set[set_name])
        end = start + sum(len(p) for p in puzzles_of[group : group + groups])
        ranges[set_name] = (start, end)
        group, start = group + groups, end
    return ranges
