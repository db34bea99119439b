"""What a model does segment by segment (`ponder eval RUN --trace FILE`): per puzzle and
segment, the answer cells that changed, the cells that differ from the input (answered) and
from the stored answer (wrong), the relative change of the model's state, and whether the
answer is exact; then each failure classed by how it ended.

Failure classes, read from the last `window` segments of a puzzle whose final answer is not
exact:
- "still moving": its answer changed in the window and repeats no earlier answer of it;
- "oscillating": its answer changed in the window and returns to an answer it gave 2..4
  segments earlier (a cycle, DeepThinking's "2-cycles");
- "wrong fixed point": its answer did not change in the window.
A task with an `error_sites(puzzle, answer)` method (mazes) adds where the wrong cells sit.

A run trained with an algorithm hint (grid.hint) also records, per segment, the cells where
the answer differs from the hint rule's state after that segment ("cells_off_hint"; the
summary's "on_hint_by_segment": the share of puzzles exactly on it): whether the model
computes the rule round by round, or only ends where it ends.

The trace is a JSON file: "puzzles" (one record per puzzle, lists by segment), "summary"
(counts of each class, mean first exact segment, exact by segment).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ponder.data.format import Split
from ponder.data.loader import eval_batches
from ponder.models.halting import carry_state, relative_change

CLASSES = ("solved", "still moving", "oscillating", "wrong fixed point")
MAX_PERIOD = 4  # answers that repeat with a period of 2..4 segments are a cycle


@torch.no_grad()
def trace_split(
    model: nn.Module, task, split: Split, *, segments: int, batch_size: int,
    device: torch.device, window: int = 3, limit: int = 0, decode: Callable | None = None,
    hint: Callable | None = None,
) -> dict:  # fmt: skip
    """Run every example (the first `limit`, 0: all) for `segments` segments and trace it.
    `decode(tokens (B, L), batch)` turns each segment's argmax tokens into the answer judged
    (grid.keep_givens: the given cells copied from the input), as evaluation does.
    `hint(batch, t)`: the batch with its labels replaced by the hint rule's state after t
    segments (the objective's targets_at), to count the cells off it."""
    shape = task.grid_shape(split.metadata.seq_len)
    records = []
    for batch in eval_batches(split, batch_size):
        if limit and len(records) >= limit:
            break
        batch = {k: v.to(device) for k, v in batch.items()}
        answers, changes = _run(model, batch, segments, decode)  # (B, S, L), (B, S)
        off_hint = _cells_off_hint(hint, batch, answers) if hint else None  # (B, S)
        for row, index in enumerate(batch["index"].tolist()):
            puzzle = task.decode(split.inputs[index], shape)
            reference = task.decode(split.labels[index], shape)
            inputs = np.asarray(split.inputs[index])
            records.append(
                trace_puzzle(task, (inputs, puzzle, reference), answers[row], changes[row], window)
            )
            records[-1]["index"] = index
            if off_hint is not None:
                records[-1]["cells_off_hint"] = off_hint[row].tolist()
    records = records[: limit or None]
    return {
        "segments": segments,
        "window": window,
        "puzzles": records,
        "summary": summarise(records),
    }


def _run(model: nn.Module, batch: dict, segments: int, decode) -> tuple[np.ndarray, np.ndarray]:
    """Answers (B, S, L) as argmax tokens, and the state's relative change (B, S) per
    segment: ||s_t - s_t-1|| / max(||s_t-1||, ||s_t||)."""
    carry = model.init_carry(
        batch["inputs"].shape[0], batch["inputs"].device, batch["inputs"].shape[1]
    )
    answers, changes = [], []
    before = carry_state(carry)
    for _ in range(segments):
        carry, out = model(carry, batch)
        after = carry_state(carry)
        change = relative_change(before, after)
        tokens = out.logits.argmax(-1)  # (B, L)
        if decode is not None:
            tokens = decode(tokens, batch)
        answers.append(tokens.to(torch.uint8).cpu())
        changes.append(change.float().cpu())
        before = after
    return torch.stack(answers, 1).numpy(), torch.stack(changes, 1).numpy()


def _cells_off_hint(hint: Callable, batch: dict, answers: np.ndarray) -> np.ndarray:
    """(B, S): per segment t, the cells where the answer (B, S, L) differs from the hint
    rule's state after t segments."""
    off = [
        (torch.as_tensor(answers[:, s]).long() != hint(batch, s + 1)["labels"].cpu()).sum(-1)
        for s in range(answers.shape[1])
    ]
    return torch.stack(off, 1).numpy()


def trace_puzzle(task, example: tuple, answers, changes, window: int) -> dict:
    """One puzzle's record from `example` (its input tokens (L,), the puzzle and the stored
    answer as the task's grids), its answers (S, L) and its state changes (S,). The first
    segment's changed cells are counted against the input."""
    inputs, puzzle, reference = example
    shape = puzzle.shape
    target = task.encode(reference)  # (L,) the stored answer's tokens
    exact, verdict, previous, cells_changed = [], None, inputs, []
    for tokens in answers:
        cells_changed.append(int((tokens != previous).sum()))
        if verdict is None or cells_changed[-1]:  # same answer, same verdict
            verdict = bool(task.verify(puzzle, task.decode(tokens, shape), reference)["exact"])
        exact.append(verdict)
        previous = tokens
    record = {
        "cells_changed": cells_changed,
        # how the answer grows or shrinks (a maze: the cells marked route), and how far from
        # the stored answer it is, segment by segment (S,) each
        "cells_answered": (answers != inputs).sum(-1).tolist(),
        "cells_wrong": (answers != target).sum(-1).tolist(),
        "state_change": [round(float(c), 6) for c in changes],
        "exact": exact,
        "first_exact": next((s + 1 for s, e in enumerate(exact) if e), None),
        "class": classify(answers, exact, window),
    }
    if record["class"] != "solved" and hasattr(task, "error_sites"):
        record["errors"] = task.error_sites(puzzle, task.decode(answers[-1], shape), reference)
    return record


def classify(answers: np.ndarray, exact: list[bool], window: int) -> str:
    """How a puzzle's answers (S, L) ended: one of CLASSES."""
    if exact[-1]:
        return "solved"
    last = answers[-1]
    recent = answers[-(window + 1) :]
    if all(np.array_equal(a, last) for a in recent):
        return "wrong fixed point"
    for period in range(2, MAX_PERIOD + 1):
        if len(answers) > period and np.array_equal(answers[-1 - period], last):
            return "oscillating"
    return "still moving"


def summarise(records: list[dict]) -> dict:
    """Counts of each class, mean first exact segment, exact by segment, error sites."""
    n = len(records)
    counts = Counter(r["class"] for r in records)
    firsts = [r["first_exact"] for r in records if r["first_exact"] is not None]
    depth = len(records[0]["exact"]) if records else 0
    by_segment = [float(np.mean([r["exact"][s] for r in records])) for s in range(depth)]
    summary = {
        "n": n,
        "classes": {c: counts.get(c, 0) for c in CLASSES},
        "first_exact_mean": float(np.mean(firsts)) if firsts else None,
        "exact_by_segment": by_segment,
        "lost_after_exact": sum(1 for r in records if r["first_exact"] and not r["exact"][-1]),
    }
    if records and "cells_off_hint" in records[0]:
        summary["on_hint_by_segment"] = [
            float(np.mean([r["cells_off_hint"][s] == 0 for r in records])) for s in range(depth)
        ]
    sites = [r["errors"] for r in records if "errors" in r]
    if sites:
        summary["errors"] = {k: float(np.mean([s[k] for s in sites])) for k in sites[0]}
    return summary


def format_summary(summary: dict) -> str:
    """A few lines for the terminal."""
    n = max(1, summary["n"])
    classes = ", ".join(f"{c} {100 * k / n:.1f}%" for c, k in summary["classes"].items())
    lines = [f"trace        {summary['n']} puzzles: {classes}"]
    if summary["first_exact_mean"] is not None:
        lines.append(
            f"             first exact at segment {summary['first_exact_mean']:.1f} on average; "
            f"{summary['lost_after_exact']} exact once but not at the end"
        )
    if "on_hint_by_segment" in summary:
        on_hint = summary["on_hint_by_segment"]
        marks = sorted({1, len(on_hint) // 4, len(on_hint) // 2, len(on_hint)} - {0})
        shown = ", ".join(f"{100 * on_hint[m - 1]:.1f}% at {m}" for m in marks)
        lines.append(f"             on the hint's state (every cell): {shown}")
    if "errors" in summary:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in summary["errors"].items())
        lines.append(f"             wrong cells: {shown}")
    return "\n".join(lines)
