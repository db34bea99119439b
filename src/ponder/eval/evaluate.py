"""Evaluation: run every segment, decode, and let the task's verifier judge each answer.

Exact accuracy means the verifier accepted the whole answer (for mazes: valid, connected and
of optimal length; any shortest path counts). Labels are used only as the reference for
path_f1 and cell_acc, never to decide correctness.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ponder.data.format import Split
from ponder.data.loader import eval_batches
from ponder.models.embedding import PuzzleEmbedding
from ponder.models.halting import StopRule
from ponder.models.rollout import rollout


@dataclass(frozen=True)
class Depth:
    """How a judged model is run: `segments` supervision segments from a fresh carry (the
    training N_sup unless overridden), reporting what `halt_rule` would have done.
    `until_halt` (`--segments auto`): each example's answer is the one where its rule first
    says halt, `segments` being the cap. `curve`: also judge the answers after these
    segments (exact by depth)."""

    segments: int
    halt_rule: StopRule
    batch_size: int
    device: torch.device
    limit: int = 0  # judge at most this many test examples (0: all)
    tasks: int = 0  # few-shot: judge the first this many tasks of each set (0: all)
    until_halt: bool = False
    curve: tuple[int, ...] = ()

    def run(self) -> dict:
        """The settings as predict's keyword arguments."""
        return dict(
            n_sup=self.segments, batch_size=self.batch_size, device=self.device,
            limit=self.limit, halt_rule=self.halt_rule, until_halt=self.until_halt,
            curve=self.curve,
        )  # fmt: skip


def depth_curve(segments: int) -> tuple[int, ...]:
    """The segment counts an exact-by-depth curve is judged at: powers of two up to
    `segments`, and `segments` itself."""
    powers = [2**k for k in range(segments.bit_length()) if 2**k < segments]
    return (*powers, segments)


@dataclass
class Predictions:
    final: np.ndarray  # (N, L) argmax tokens after the last segment (auto: at each halt)
    at_halt: np.ndarray  # (N, L) argmax tokens at the segment the model would halt
    halt_step: np.ndarray  # (N,) 1-based segment where the rule first says halt (N_sup if never)
    index: np.ndarray  # (N,) example positions in the split
    curve: dict[int, np.ndarray] = field(default_factory=dict)  # segment -> (N, L) answers


def read_tokens(out) -> torch.Tensor:
    """A grid model's answer after one segment: argmax tokens (B, L)."""
    return out.logits.argmax(-1)


def keep_givens(given_tokens: tuple[int, ...]) -> Callable:
    """A decode(tokens (B, L), batch) that copies the input's cells holding one of
    `given_tokens` (what the puzzle fixes) into the answer, the model's tokens elsewhere."""
    given = torch.tensor(given_tokens)

    def decode(tokens: torch.Tensor, batch: dict) -> torch.Tensor:
        inputs = batch["inputs"]
        return torch.where(torch.isin(inputs, given.to(inputs.device)), inputs, tokens)

    return decode


@torch.no_grad()
def predict(
    model: nn.Module,
    split: Split,
    *,
    n_sup: int,
    batch_size: int,
    device: torch.device,
    limit: int = 0,
    halt_rule: StopRule = "trm",
    identifier: int | None = None,
    read: Callable = read_tokens,
    decode: Callable | None = None,
    until_halt: bool = False,
    curve: tuple[int, ...] = (),
) -> Predictions:
    """Run each example for all n_sup segments from a fresh carry (the full limit, as the
    papers evaluate), remembering where the halting rule would have stopped. `identifier`
    replaces every puzzle identifier (the leakage check runs with the blank one). `read`
    takes a segment's outputs to its answer (grid tokens by default); `decode(answer,
    batch)`, when given, turns the last and the halting segments' answers into the
    predictions (the path formulation follows pointers into routes there). `until_halt`
    and `curve`: see Depth."""
    finals, halts, steps, indices = [], [], [], []
    snaps: dict[int, list[np.ndarray]] = {s: [] for s in curve}
    seen = 0
    for batch in eval_batches(split, batch_size):
        if limit and seen >= limit:
            break
        batch = {k: v.to(device) for k, v in batch.items()}
        if identifier is not None:
            batch["puzzle_identifiers"] = torch.full_like(batch["puzzle_identifiers"], identifier)
        run = rollout(
            model, batch, n_sup, rule=halt_rule, read=read, snapshots=curve, until_halt=until_halt
        )
        decoded = _decode(decode, batch)
        final = run.at_halt if until_halt else run.answer
        final, at_halt, halt_step = decoded(final), decoded(run.at_halt), run.halt_step
        for segment in curve:
            snaps[segment].append(decoded(run.snapshots[segment]).cpu().numpy())
        finals.append(final.cpu().numpy())
        halts.append(at_halt.cpu().numpy())
        steps.append(halt_step.cpu().numpy())
        indices.append(batch["index"].cpu().numpy())
        seen += len(finals[-1])
    cut = limit or None
    return Predictions(
        final=np.concatenate(finals)[:cut],
        at_halt=np.concatenate(halts)[:cut],
        halt_step=np.concatenate(steps)[:cut],
        index=np.concatenate(indices)[:cut],
        curve={s: np.concatenate(rows)[:cut] for s, rows in snaps.items()},
    )


def _decode(decode: Callable | None, batch: dict) -> Callable:
    return (lambda answer: answer) if decode is None else (lambda answer: decode(answer, batch))


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (sound near 0% and 100%, unlike the
    normal approximation)."""
    if n == 0:
        return 0.0, 0.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def judge(task, split: Split, preds: np.ndarray, index: np.ndarray) -> list[dict]:
    """The task verifier's verdict on every predicted answer."""
    shape = task.grid_shape(split.metadata.seq_len)
    verdicts = []
    for row, i in zip(preds, index, strict=True):
        puzzle = task.decode(split.inputs[i], shape)
        reference = task.decode(split.labels[i], shape)
        answer = task.decode(row, shape)
        verdicts.append(task.verify(puzzle, answer, reference))
    return verdicts


def summarise(verdicts: list[dict], preds: Predictions, early: list[dict], n_sup: int) -> dict:
    """Aggregate verdicts: means of every metric, exact with its CI, halting statistics."""
    n = len(verdicts)
    report: dict = {"n": n}
    for key in verdicts[0] if verdicts else []:
        report[key] = float(np.mean([float(v[key]) for v in verdicts]))
    exact_count = sum(bool(v.get("exact")) for v in verdicts)
    report["exact_ci_low"], report["exact_ci_high"] = wilson_interval(exact_count, n)
    report["halt_steps_mean"] = float(preds.halt_step.mean()) if n else 0.0
    hist = np.bincount(preds.halt_step, minlength=n_sup + 1)[1:]
    report["halt_steps_hist"] = [int(c) for c in hist]
    report["early_exact"] = _mean_exact(early)
    report["steps_saved"] = 1.0 - report["halt_steps_mean"] / n_sup if n else 0.0
    # Does the model know when it is done? Of the answers its rule halted before the cap,
    # the share that were right there.
    halted = [v for v, step in zip(early, preds.halt_step, strict=True) if step < n_sup]
    report["halted_early"] = len(halted) / n if n else 0.0
    report["halt_precision"] = _mean_exact(halted) if halted else None
    return report


def evaluate_model(
    model: nn.Module,
    task,
    split: Split,
    *,
    n_sup: int,
    batch_size: int,
    device: torch.device,
    limit: int = 0,
    halt_rule: StopRule = "trm",
    until_halt: bool = False,
    curve: tuple[int, ...] = (),
    decode: Callable | None = None,
) -> tuple[dict, Predictions, list[dict]]:
    """Judge the model's answers (`decode(tokens, batch)` applied to them first, when
    given). A model with a puzzle embedding is also run with every identifier replaced by
    the blank one (leakage check): `exact_blank_id` far below `exact` means the answers
    lean on memorised per-puzzle vectors."""
    run = dict(n_sup=n_sup, batch_size=batch_size, device=device, limit=limit, halt_rule=halt_rule)
    run["decode"] = decode
    preds = predict(model, split, until_halt=until_halt, curve=curve, **run)
    verdicts = judge(task, split, preds.final, preds.index)
    early = judge(task, split, preds.at_halt, preds.index)
    report = summarise(verdicts, preds, early, n_sup)
    report["label_exact"] = label_exact(split, preds.final, preds.index)
    report.update(exact_curve(preds, lambda answers: judge(task, split, answers, preds.index)))
    if uses_puzzle_identifiers(model):
        blank = split.metadata.blank_identifier_id or 0
        blind = predict(model, split, identifier=blank, **run)
        blind_verdicts = judge(task, split, blind.final, blind.index)
        report["exact_blank_id"] = _mean_exact(blind_verdicts)
    return report, preds, verdicts


def label_exact(split: Split, answers: np.ndarray, index: np.ndarray) -> float:
    """The official HRM/TRM metric: the share of answers (N, L) equal to their stored label
    in every counted cell (cells whose label is ignore_label_id do not count). Stricter than
    `exact` where a puzzle has several right answers (a maze with several shortest routes):
    the verifier accepts any, the label holds one."""
    if not len(index):
        return 0.0
    labels = split.labels[index]  # (N, L)
    ignore = split.metadata.ignore_label_id
    counted = labels != ignore if ignore is not None else np.ones_like(labels, dtype=bool)
    return float(((answers == labels) | ~counted).all(axis=1).mean())


def exact_curve(preds: Predictions, judge_answers: Callable) -> dict:
    """{"exact_by_segments": {segment: exact}} for the curve's answers (empty without one)."""
    if not preds.curve:
        return {}
    curve = {s: _mean_exact(judge_answers(answers)) for s, answers in sorted(preds.curve.items())}
    return {"exact_by_segments": curve}


def uses_puzzle_identifiers(model: nn.Module) -> bool:
    return any(isinstance(m, PuzzleEmbedding) for m in model.modules())


def _mean_exact(verdicts: list[dict]) -> float:
    return float(np.mean([bool(v.get("exact")) for v in verdicts])) if verdicts else 0.0


def write_samples_png(
    task, split: Split, preds: Predictions, verdicts: list[dict], out: Path, count: int
) -> Path | None:
    """Draw up to `count` examples, failures first, as puzzle / prediction / oracle."""
    if count == 0 or not verdicts:
        return None
    failures = [i for i, v in enumerate(verdicts) if not v.get("exact")]
    successes = [i for i, v in enumerate(verdicts) if v.get("exact")]
    # Up to half failures first, then successes; more failures if successes run out.
    half = max(1, count // 2)
    chosen = (failures[:half] + successes + failures[half:])[:count]
    shape = task.grid_shape(split.metadata.seq_len)
    rows = []
    for i in chosen:
        ex = preds.index[i]
        puzzle = task.decode(split.inputs[ex], shape)
        rows.append((puzzle, task.decode(preds.final[i], shape), task.solve(puzzle), verdicts[i]))
    return task.render_png(out, rows)


def format_report(report: dict, title: str = "") -> str:
    lo, hi = report["exact_ci_low"], report["exact_ci_high"]
    lines = [title] if title else []
    lines.append(
        f"exact        {100 * report['exact']:6.2f}%  (95% CI {100 * lo:.1f}-{100 * hi:.1f}, n={report['n']})"
    )
    for key in (
        "valid",
        "connected",
        "optimal",
        "reached_goal",
        "length_ratio",
        "path_f1",
        "cell_acc",
    ):
        if key in report:
            lines.append(f"{key:<12} {100 * report[key]:6.2f}%")
    lines.append(
        f"halting      mean {report['halt_steps_mean']:.2f} segments; halting early would give "
        f"exact {100 * report['early_exact']:.2f}% and save {100 * report['steps_saved']:.1f}% of segments"
    )
    lines.append(f"halt steps   {_histogram_text(report['halt_steps_hist'])}")
    if report.get("halt_precision") is not None:
        lines.append(
            f"knows done   {100 * report['halted_early']:.1f}% halted before the cap, "
            f"{100 * report['halt_precision']:.1f}% of those right where they halted"
        )
    if "label_exact" in report:
        lines.append(
            f"label exact  {100 * report['label_exact']:6.2f}%  (every cell equal to the stored "
            "label: the official HRM/TRM metric)"
        )
    if "exact_by_segments" in report:
        curve = ", ".join(f"{s}: {100 * e:.1f}%" for s, e in report["exact_by_segments"].items())
        lines.append(f"by segments  exact {curve}")
    if "exact_blank_id" in report:
        lines.append(
            f"leakage      exact with the blank puzzle id {100 * report['exact_blank_id']:.2f}% "
            f"(true ids {100 * report['exact']:.2f}%)"
        )
    return "\n".join(lines)


def _histogram_text(hist: list[int]) -> str:
    """The halting histogram (count per segment): whole up to 32 segments, else only the
    segments some puzzle halted at (a deep evaluation has hundreds of bins)."""
    if len(hist) <= 32:
        return f"histogram {hist}"
    shown = ", ".join(f"{s + 1}: {c}" for s, c in enumerate(hist) if c)
    return f"histogram by segment (non-zero of {len(hist)}) {{{shown}}}"


def format_side_by_side(reports: dict[str, dict]) -> str:
    """A markdown table comparing several runs' reports."""
    names = list(reports)
    keys = ["params", "exact", "exact_ci", "valid", "connected", "optimal", "path_f1", "cell_acc"]
    keys += ["halt_steps_mean", "train_seconds", "precision"]
    lines = ["| metric | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for key in keys:
        cells = [_cell(reports[n], key) for n in names]
        if any(c != "" for c in cells):
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(report: dict, key: str) -> str:
    if key == "exact_ci":
        return f"{100 * report['exact_ci_low']:.1f}-{100 * report['exact_ci_high']:.1f}%"
    value = report.get(key)
    if value is None:
        return ""
    if key in ("params",):
        return f"{int(value):,}"
    if isinstance(value, str):  # precision
        return value
    if key in ("halt_steps_mean", "train_seconds"):
        return f"{value:.1f}"
    return f"{100 * value:.2f}%"
