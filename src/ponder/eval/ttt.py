"""Test-time training (TTT) for few-shot tasks, as the strongest small-model ARC entries of
2024-2025 used it: before answering a task, fine-tune a copy of the model on that task's
demonstrations alone for a few Adam steps, answer its test inputs with the copy, drop it.

- Leave-one-out: each demonstration is a query answered from the others (its own slot is
  hidden from the model's conditioning, as the training loader hides it).
- Views: the task's own test views in the dataset, topped up with random dihedral and
  colour views; fine-tuning sees the demonstrations under every view, every view answers
  each test input, and the answers, their views undone, are voted on by `rank_views`.
- The copy is a dict of cloned weights that the model runs with (torch.func.functional_call):
  the model's own parameters are never written, and its buffers (a puzzle table) are shared.
- The test outputs are never read: a task is rebuilt from its demonstrations and its test
  inputs only (`unanswered_task`); the loss against the truth is taken after answering.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ponder.data.fewshot import lay_out_task, row_to_view
from ponder.data.format import Split
from ponder.data.loader import eval_batches
from ponder.errors import UserError
from ponder.eval.fewshot import FewShotPredictions, rank_views
from ponder.eval.latent_search import answer_loss_per_row
from ponder.models.rollout import rollout
from ponder.tasks.arc import RankedAnswer, Transform, decode_view, random_transform
from ponder.tasks.fewshot import FewShotTask, Pair

# The weights each `ttt_params` choice tunes, by parameter-name prefix ("" is every name).
PARAM_SETS = {"all": "", "head": "lm_head.", "encoder": "embed.demo."}


@dataclass(frozen=True)
class TTTSettings:
    """Test-time training (fewshot.ttt_*): Adam steps on a copy of the weights per task."""

    steps: int = 0  # 0: off
    lr: float = 3e-4
    params: str = "all"  # a key of PARAM_SETS
    views: int = 8  # views per task: the dataset's, topped up with random ones


@dataclass(frozen=True)
class Layout:
    """How a task is laid out and run: the canvas side, demonstration slots, depth, batch."""

    canvas: int
    slots: int
    n_sup: int
    batch_size: int
    device: torch.device


def ttt_layout(split: Split, n_sup: int, batch_size: int, device: torch.device) -> Layout:
    """The layout of `split`'s tasks: its canvas and demonstration slots."""
    canvas = int(round(split.metadata.seq_len**0.5))
    return Layout(canvas, int(split.fewshot["demo_inputs"].shape[1]), n_sup, batch_size, device)


@dataclass
class TaskAnswers:
    ranked: list[list[RankedAnswer]]  # per test input (test-index order), best first
    logits: torch.Tensor  # (R, L, vocab) last-segment logits of the answer rows, on the CPU
    puzzles: np.ndarray  # (R,) the view (puzzle of the task's layout) of each answer row
    test_index: np.ndarray  # (R,) the test input each answer row answers


@dataclass
class TTTAnswers:
    ranked: dict[str, list[list[RankedAnswer]]]  # per task name, per test input
    loss: float  # mean cross-entropy per answer cell of the dataset's own views (val_loss)
    groups: list[int]  # the groups (tasks) answered, in order


# ----- one task --------------------------------------------------------------------------
def answer_task(
    model: nn.Module,
    task: FewShotTask,
    views: list[Transform],
    identifiers: np.ndarray,
    layout: Layout,
    settings: TTTSettings,
) -> TaskAnswers:
    """Fine-tune a copy of `model` on `task`'s demonstrations under `views` (puzzle ids
    `identifiers` (V,)), then answer every test input under every view and vote."""
    task = replace(task, test=tuple(Pair(p.input, None) for p in task.test))  # never read
    split = lay_out_task(task, views, layout.canvas, layout.slots, demos_as_examples=True)
    split = replace(split, puzzle_identifiers=np.asarray(identifiers, dtype=np.int32))
    demos, queries = task_batches(split, layout)
    tuned = WithWeights(model, fine_tune(model, demos, layout.n_sup, settings))
    preds, logits = _answer(tuned, queries, layout.n_sup)
    ranked, _ = rank_views(split, preds, [task.name])
    puzzles = np.searchsorted(split.puzzle_indices, preds.index, side="right") - 1
    test_index = split.fewshot["example_test_index"][preds.index]
    return TaskAnswers(ranked[task.name], logits, puzzles, test_index)


def task_batches(split: Split, layout: Layout) -> tuple[list[dict], list[dict]]:
    """The task's demonstration rows (each hiding its own slot) and its test rows, on the
    device, in chunks of at most layout.batch_size rows."""
    everything = next(eval_batches(split, split.num_examples))  # a task is small
    slot = torch.from_numpy(split.fewshot["example_slot"])[everything["index"]]  # (N,)

    def chunks(rows: torch.Tensor) -> list[dict]:
        picked = {k: v[rows] for k, v in everything.items()}
        size = layout.batch_size
        return [
            {k: v[start : start + size].to(layout.device) for k, v in picked.items()}
            for start in range(0, len(rows), size)
        ]

    return chunks(torch.nonzero(slot >= 0)[:, 0]), chunks(torch.nonzero(slot < 0)[:, 0])


class WithWeights:
    """`model` run with `weights` (name -> tensor) in place of its own parameters: what
    `rollout` needs of a model. The model's own tensors are never written."""

    def __init__(self, model: nn.Module, weights: dict[str, torch.Tensor]):
        self.model, self.weights = model, weights

    def init_carry(self, *args):
        return self.model.init_carry(*args)

    def __call__(self, carry, batch: dict):
        return functional_call(self.model, self.weights, (carry, batch))


def fine_tune(
    model: nn.Module, demos: list[dict], n_sup: int, settings: TTTSettings
) -> dict[str, torch.Tensor]:
    """The tuned weights: every parameter of `model` by name, those of settings.params
    cloned and trained for settings.steps Adam steps on all of `demos` each step (the
    answers' cross-entropy after n_sup segments, gradient through the last), the rest the
    model's own (detached: no gradient reaches the model)."""
    if settings.steps == 0 or not demos:  # nothing to fit (a lone demonstration)
        return {name: param.detach() for name, param in model.named_parameters()}
    weights, trained = copy_weights(model, settings.params)
    optimizer = torch.optim.Adam(trained, lr=settings.lr)
    tuned = WithWeights(model, weights)
    rows = sum(len(batch["inputs"]) for batch in demos)
    with torch.enable_grad():
        for _ in range(settings.steps):
            optimizer.zero_grad(set_to_none=True)
            for batch in demos:  # chunks of one step: their mean losses weighted by rows
                share = len(batch["inputs"]) / rows
                (demonstration_loss(tuned, batch, n_sup) * share).backward()
            optimizer.step()
    return {name: w.detach() for name, w in weights.items()}


def copy_weights(model: nn.Module, params: str) -> tuple[dict[str, torch.Tensor], list]:
    """(name -> tensor for every parameter, the trainable clones among them); UserError
    when the set `params` names no parameter of this model."""
    prefix = PARAM_SETS[params]
    weights, trained = {}, []
    for name, param in model.named_parameters():
        if name.startswith(prefix):
            weights[name] = param.detach().clone().requires_grad_(True)
            trained.append(weights[name])
        else:
            weights[name] = param.detach()
    if not trained:
        raise UserError(f"fewshot.ttt_params {params!r} names no weight of this model")
    return weights, trained


def demonstration_loss(model, batch: dict, n_sup: int) -> torch.Tensor:
    """Mean over rows of each row's answer cross-entropy after n_sup segments."""
    out = rollout(model, batch, n_sup, grad_last=True).outputs  # gradient: last segment only
    return answer_loss_per_row(out.logits, batch["labels"]).mean()


@torch.no_grad()
def _answer(model, queries: list[dict], n_sup: int) -> tuple[FewShotPredictions, torch.Tensor]:
    """Every test row's argmax answer and halting confidence, and its logits (R, L, V)."""
    tokens, conf, index, logits = [], [], [], []
    for batch in queries:
        out = rollout(model, batch, n_sup).outputs
        tokens.append(out.logits.argmax(-1).cpu().numpy())
        conf.append(torch.sigmoid(out.q_halt.float()).cpu().numpy())
        index.append(batch["index"].cpu().numpy())
        logits.append(out.logits.float().cpu())
    preds = FewShotPredictions(
        tokens=np.concatenate(tokens),
        confidence=np.concatenate(conf),
        index=np.concatenate(index),
        loss=float("nan"),  # no truth here: the caller scores against it
        latents=None,
    )
    return preds, torch.cat(logits)


# ----- a split of tasks ------------------------------------------------------------------
def predict_fewshot_ttt(
    model: nn.Module,
    split: Split,
    task_names: list[str],
    layout: Layout,
    settings: TTTSettings,
    limit: int = 0,
) -> TTTAnswers:
    """Answer every task (group) of `split` with test-time training, one task at a time;
    `limit`: only the tasks whose first example is among the first `limit` (0: all)."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module  # the weights themselves, not the wrapper's
    ranked, groups = {}, []
    loss_sum = cells = 0.0
    for group in _groups_within(split, limit):
        task, examples = unanswered_task(split, group, task_names[group])
        views, identifiers = task_views_for_ttt(split, group, task, settings.views)
        answers = answer_task(model, task, views, identifiers, layout, settings)
        ranked[task.name] = answers.ranked
        groups.append(group)
        found, count = _loss_against_truth(split, answers, examples)  # after answering
        loss_sum, cells = loss_sum + found, cells + count
    return TTTAnswers(ranked, loss_sum / max(cells, 1.0), groups)


def _groups_within(split: Split, limit: int) -> list[int]:
    first_examples = split.puzzle_indices[split.group_indices[:-1]]  # (G,)
    return [g for g, first in enumerate(first_examples) if not limit or first < limit]


def unanswered_task(split: Split, group: int, name: str) -> tuple[FewShotTask, np.ndarray]:
    """The task of `group` in the original frame (its first view undone): its
    demonstrations and test inputs only, never a test output; and the positions in `split`
    of each of the group's views' test inputs, (V, T) in test-index order."""
    fs, side = split.fewshot, int(round(split.metadata.seq_len**0.5))
    puzzles = range(int(split.group_indices[group]), int(split.group_indices[group + 1]))
    first = puzzles[0]
    view = row_to_view(fs["puzzle_views"][first])
    demos = tuple(
        Pair(decode_view(fs["demo_inputs"][first, k], view, side),
             decode_view(fs["demo_labels"][first, k], view, side))
        for k in range(int(fs["demo_counts"][first]))
    )  # fmt: skip
    examples = np.stack([_test_examples(split, p) for p in puzzles])  # (V, T)
    tests = tuple(Pair(decode_view(split.inputs[e], view, side), None) for e in examples[0])
    return FewShotTask(name=name, train=demos, test=tests), examples


def _test_examples(split: Split, puzzle: int) -> np.ndarray:
    """(T,) the positions of `puzzle`'s test pairs, in test-index order."""
    examples = np.arange(split.puzzle_indices[puzzle], split.puzzle_indices[puzzle + 1])
    test_index = split.fewshot["example_test_index"][examples]
    return examples[test_index >= 0][np.argsort(test_index[test_index >= 0], kind="stable")]


def task_views_for_ttt(
    split: Split, group: int, task: FewShotTask, count: int
) -> tuple[list[Transform], np.ndarray]:
    """The group's own views with their puzzle identifiers, then random dihedral and
    colour views (the blank identifier) until there are `count`; drawn from the task's name,
    so a task gets the same views whatever else is evaluated with it."""
    puzzles = np.arange(split.group_indices[group], split.group_indices[group + 1])
    views = [row_to_view(split.fewshot["puzzle_views"][p]) for p in puzzles]
    identifiers = [int(split.puzzle_identifiers[p]) for p in puzzles]
    rng = np.random.default_rng(zlib.crc32(task.name.encode()))
    canvas = int(round(split.metadata.seq_len**0.5))
    for _ in range(4 * count):  # bounded: a small space of views ends the list early
        if len(views) >= count:
            break
        view = random_transform(rng, translate=False, task=task, canvas=canvas)
        if view not in views:
            views.append(view)
            identifiers.append(split.metadata.blank_identifier_id or 0)
    return views, np.asarray(identifiers, dtype=np.int32)


def _loss_against_truth(
    split: Split, answers: TaskAnswers, examples: np.ndarray
) -> tuple[float, float]:
    """(summed cross-entropy, answer cells) of the answer rows under the dataset's own
    views (the first V of the layout, laid out as the dataset lays them) against their
    stored labels: val_loss, comparable with evaluation without test-time training."""
    own = answers.puzzles < examples.shape[0]  # (R,)
    if not own.any():
        return 0.0, 0.0
    truth = torch.from_numpy(
        split.labels[examples[answers.puzzles[own], answers.test_index[own]]].astype(np.int64)
    )  # (R', L)
    logits = answers.logits[torch.from_numpy(own)]  # (R', L, V)
    ce = F.cross_entropy(logits.transpose(1, 2), truth, reduction="none")  # (R', L)
    cells = truth != split.metadata.pad_id
    return float((ce * cells).sum()), float(cells.sum())
