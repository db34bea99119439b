"""Few-shot evaluation (ARC, skills): predict every test example, undo its augmentation,
vote across the views of each test input, rank and score pass@k.

Every view of a task (dihedral transform, colour permutation) gives one candidate answer
for each test input once its augmentation is inverted; identical candidates pool their
votes, and candidates are ranked by votes, then by mean halting confidence (sigmoid of
q_halt), as in HRM/TRM. pass@k counts a test input right when one of its k best candidates
is exactly the answer (shape and colours); a task counts only when all its test inputs do.
Reported per set of the test split (skills: "seen" and "unseen") and overall.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ponder.data.fewshot import read_task_names, row_to_view, split_tasks
from ponder.data.format import Split
from ponder.data.loader import eval_batches
from ponder.eval.evaluate import wilson_interval
from ponder.eval.latent_search import search_latents
from ponder.models.rollout import rollout
from ponder.tasks.arc import (
    Candidate,
    decode_view,
    pass_at_k,
    rank_candidates,
    score,
    write_submission,
)
from ponder.tasks.fewshot import FewShotTask
from ponder.tasks.fewshot_render import render_task_png


@dataclass
class FewShotPredictions:
    tokens: np.ndarray  # (N, L) argmax tokens after the last segment
    confidence: np.ndarray  # (N,) sigmoid(q_halt) of the last segment
    index: np.ndarray  # (N,) example positions in the split
    loss: float  # mean cross-entropy per answer cell (labels other than padding)
    latents: np.ndarray | None  # (N, Z) the demonstration encoder's task vectors


@dataclass
class SearchSettings:
    """Test-time latent search (LPN): gradient steps on each task vector to fit the
    demonstrations before answering the query; 0 steps: off."""

    steps: int = 0
    lr: float = 0.1


@torch.no_grad()
def predict_fewshot(
    model: nn.Module,
    split: Split,
    *,
    n_sup: int,
    batch_size: int,
    device: torch.device,
    limit: int = 0,
    search: SearchSettings | None = None,
) -> FewShotPredictions:
    """Run each test example for all n_sup segments from a fresh carry."""
    tokens, conf, index, latents = [], [], [], []
    loss_sum = cells = 0.0
    for batch in eval_batches(split, batch_size):
        if limit and sum(len(i) for i in index) >= limit:
            break
        batch = {k: v.to(device) for k, v in batch.items()}
        if search is not None and search.steps > 0:
            with torch.enable_grad():
                batch["demo_latent"] = search_latents(model, batch, n_sup, search.steps, search.lr)
        out = rollout(model, batch, n_sup).outputs
        answer = batch["labels"] != split.metadata.pad_id  # (B, L) cells of the answer grid
        ce = F.cross_entropy(out.logits.float().transpose(1, 2), batch["labels"], reduction="none")
        loss_sum += float((ce * answer).sum())
        cells += float(answer.sum())
        tokens.append(out.logits.argmax(-1).cpu().numpy())
        conf.append(torch.sigmoid(out.q_halt.float()).cpu().numpy())
        index.append(batch["index"].cpu().numpy())
        latent = (out.stats or {}).get("encoder_latent", batch.get("demo_latent"))
        if latent is not None:
            latents.append(latent.float().cpu().numpy())
    cut = limit or None
    return FewShotPredictions(
        tokens=np.concatenate(tokens)[:cut],
        confidence=np.concatenate(conf)[:cut],
        index=np.concatenate(index)[:cut],
        loss=loss_sum / max(cells, 1.0),
        latents=np.concatenate(latents)[:cut] if latents else None,
    )


def rank_views(
    split: Split, preds: FewShotPredictions, task_names: list[str]
) -> tuple[dict[str, list], dict[str, list]]:
    """(ranked candidates, truths) per task name and test input, augmentations undone."""
    side = int(round(split.metadata.seq_len**0.5))
    fs = split.fewshot
    puzzles = np.searchsorted(split.puzzle_indices, preds.index, side="right") - 1
    groups = np.searchsorted(split.group_indices, puzzles, side="right") - 1
    candidates: dict[tuple[str, int], list] = defaultdict(list)
    truths: dict[tuple[str, int], np.ndarray | None] = {}
    for row, example in enumerate(preds.index):
        view = row_to_view(fs["puzzle_views"][puzzles[row]])
        key = (task_names[groups[row]], int(fs["example_test_index"][example]))
        grid = decode_view(preds.tokens[row], view, side)
        candidates[key].append(Candidate(grid, float(preds.confidence[row])))
        label = split.labels[example]
        truths[key] = decode_view(label, view, side) if label.any() else None
    ranked: dict[str, list] = defaultdict(list)
    truth_lists: dict[str, list] = defaultdict(list)
    for name, test_index in sorted(candidates):
        ranked[name].append(rank_candidates(candidates[(name, test_index)]))
        truth_lists[name].append(truths[(name, test_index)])
    return dict(ranked), dict(truth_lists)


def stored_truths(split: Split, task_names: list[str], groups) -> dict[str, list]:
    """The stored test outputs of each of `groups`' tasks (read from its first view, the
    view undone), in test-index order; None where the label is blank (hidden). Scoring
    only: answering never calls this."""
    side = int(round(split.metadata.seq_len**0.5))
    fs = split.fewshot
    truths = {}
    for group in groups:
        puzzle = int(split.group_indices[group])
        view = row_to_view(fs["puzzle_views"][puzzle])
        examples = range(split.puzzle_indices[puzzle], split.puzzle_indices[puzzle + 1])
        tests = sorted((int(fs["example_test_index"][e]), e) for e in examples)
        labels = [split.labels[e] for t, e in tests if t >= 0]
        truths[task_names[group]] = [
            decode_view(label, view, side) if label.any() else None for label in labels
        ]
    return truths


def fewshot_report(
    split: Split, preds: FewShotPredictions, names_by_set: dict[str, list[str]]
) -> tuple[dict, dict]:
    """Scores overall and per set; returns (report, ranked candidates per task)."""
    task_names = [name for names in names_by_set.values() for name in names]
    ranked, truths = rank_views(split, preds, task_names)
    report = score_ranked(ranked, truths, names_by_set, preds.loss)
    if preds.latents is not None:
        report.update(_collapse(split, preds))
    return report, ranked


def score_ranked(
    ranked: dict[str, list], truths: dict[str, list], names_by_set: dict[str, list[str]], loss
) -> dict:
    """pass@1/2 per test input and per task, overall and per set, of the tasks whose every
    test output is known; val_loss is `loss` (mean cross-entropy per answer cell)."""
    known = {name: t for name, t in truths.items() if all(x is not None for x in t)}
    report: dict = {"val_loss": loss}
    report.update(_scores({n: ranked[n] for n in known}, known))
    for set_name, names in names_by_set.items():
        chosen = [n for n in names if n in known]
        if len(names_by_set) > 1 and chosen:
            scores = _scores({n: ranked[n] for n in chosen}, {n: known[n] for n in chosen})
            report.update({f"{set_name}_{k}": v for k, v in scores.items()})
            report.setdefault("sets", []).append(set_name)  # for the printed report
    return report


def skill_scores(
    split: Split, ranked: dict, names_by_set: dict[str, list[str]], skills_by_set: dict
) -> dict[str, dict[str, dict[str, float]]]:
    """{set: {skill: {"n": tasks, "pass2": share}}} over the answered tasks of `split`
    (task pass@2: every test input among the two best candidates)."""
    flat = [name for names in names_by_set.values() for name in names]
    truths = stored_truths(split, flat, range(len(flat)))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for set_name, names in names_by_set.items():
        by_skill: dict[str, list[str]] = defaultdict(list)
        for name, skill in zip(names, skills_by_set.get(set_name, []), strict=False):
            if name in ranked and all(t is not None for t in truths[name]):
                by_skill[skill].append(name)
        out[set_name] = {
            skill: {"n": len(chosen), "pass2": _task_pass2(ranked, truths, chosen)}
            for skill, chosen in sorted(by_skill.items())
        }
    return out


def _task_pass2(ranked: dict, truths: dict, names: list[str]) -> float:
    found = score({n: ranked[n] for n in names}, {n: truths[n] for n in names}, ks=(2,))
    return float(found["task_pass@2"])


def _scores(ranked: dict, truths: dict) -> dict:
    if not truths:
        return {"n": 0, "n_tasks": 0}
    found = score(ranked, truths, ks=(1, 2))
    n = int(found["n_test_inputs"])
    hits = round(found["pass@1"] * n)
    low, high = wilson_interval(hits, n)
    return {
        "n": n,
        "n_tasks": int(found["n_tasks"]),
        "exact": float(found["pass@1"]),  # the number training selects and stops on
        "exact_ci_low": low,
        "exact_ci_high": high,
        "pass1": float(found["pass@1"]),
        "pass2": float(found["pass@2"]),
        "task_pass1": float(found["task_pass@1"]),
        "task_pass2": float(found["task_pass@2"]),
    }


def _collapse(split: Split, preds: FewShotPredictions) -> dict:
    from ponder.models.conditioning import collapse_stats

    puzzles = np.searchsorted(split.puzzle_indices, preds.index, side="right") - 1
    groups = np.searchsorted(split.group_indices, puzzles, side="right") - 1
    latents = torch.from_numpy(preds.latents)
    found = collapse_stats(latents, torch.from_numpy(groups))  # one vector per task
    rms = found["encoder_norm"] / max(latents.shape[-1], 1) ** 0.5
    found["encoder_spread_relative"] = found["encoder_spread"] / max(rms, 1e-12)
    return {f"eval_{k}": float(v) for k, v in found.items()}


def format_fewshot_report(report: dict, title: str = "") -> str:
    lines = [title] if title else []
    lo, hi = report.get("exact_ci_low", 0.0), report.get("exact_ci_high", 0.0)
    lines.append(
        f"pass@1 {100 * report.get('pass1', 0):6.2f}%  pass@2 {100 * report.get('pass2', 0):6.2f}%"
        f"  per test input (n={report.get('n', 0)}; pass@1 CI {100 * lo:.1f}-{100 * hi:.1f})"
    )
    lines.append(
        f"tasks  pass@1 {100 * report.get('task_pass1', 0):6.2f}%  "
        f"pass@2 {100 * report.get('task_pass2', 0):6.2f}%  (n={report.get('n_tasks', 0)} tasks)"
    )
    for name in report.get("sets", []):
        lines.append(
            f"set {name:<8} pass@1 {100 * report[name + '_pass1']:6.2f}%  "
            f"pass@2 {100 * report[name + '_pass2']:6.2f}%  (n={report[name + '_n']})"
        )
    lines.append(f"val loss {report['val_loss']:.4f} per answer cell")
    for set_name, skills in report.get("by_skill", {}).items():
        shares = ", ".join(f"{k} {100 * v['pass2']:.0f}%" for k, v in skills.items())
        lines.append(f"set {set_name} by skill, task pass@2: {shares}")
    if "ttt" in report:
        t = report["ttt"]
        lines.append(
            f"test-time training: {t['steps']} steps at lr {t['lr']:g} ({t['params']}), "
            f"{t['views']} views per task"
        )
    if "eval_encoder_spread_relative" in report:
        lines.append(
            f"encoder  spread across tasks {report['eval_encoder_spread_relative']:.3g} of its "
            f"size, mean cosine {report['eval_encoder_cosine']:.3f}"
        )
    return "\n".join(lines)


def write_fewshot_outputs(data, ranked: dict, out_dir: Path, count: int) -> dict[str, str]:
    """eval/submission.json (ARC Prize format: two attempts per test input) and PNGs of up
    to `count` tasks with their top answers, wrong ones first."""
    files = {"submission": str(write_submission(out_dir / "submission.json", ranked))}
    tasks = split_tasks(data.test, read_task_names(data.root, "test"))
    tasks = [t for t in tasks if t.name in ranked]  # `--tasks N` judges only some
    wrong = [t for t in tasks if not _all_right(t, ranked.get(t.name, []))]
    right = [t for t in tasks if t not in wrong]
    for i, task in enumerate((wrong + right)[:count]):
        best = [answers[0].grid if answers else None for answers in ranked.get(task.name, [])]
        render_task_png(task, out_dir / f"task-{i}.png", predictions=best)
        files[f"task-{i}"] = str(out_dir / f"task-{i}.png")
    return files


def _all_right(task: FewShotTask, answers: list) -> bool:
    if len(answers) != len(task.test):
        return False
    return all(a and pass_at_k(a, p.output, 1) for a, p in zip(answers, task.test, strict=True))
