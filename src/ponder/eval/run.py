"""`ponder eval` and `ponder solve`: judge a trained run and write its reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ponder.errors import UserError
from ponder.eval.evaluate import write_samples_png
from ponder.eval.fewshot import write_fewshot_outputs
from ponder.fileio import atomic_write_text, read_text_file
from ponder.tasks.maze_path import greedy_routes, route_to_answer
from ponder.train.launch import judge_model, load_run


def evaluate_run(run_dir: Path, data: Path | None = None, device: str | None = None) -> dict:
    """Evaluate a run's best checkpoint on every test example; write eval/metrics.json and
    eval/samples.png (failures first)."""
    run = load_run(run_dir, data, device)
    if run.data.test.num_examples == 0:
        raise UserError(f"nothing to evaluate: the test split of {run.data.root} is empty")
    with torch.no_grad(), run.runtime.autocast():
        report, preds, verdicts = judge_model(run.config, run.data, run.model, run.runtime)
    out_dir = Path(run_dir) / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    if getattr(run.data.task, "fewshot", False):
        files = write_fewshot_outputs(run.data, verdicts, out_dir, run.config.eval.samples_png)
        return _finish(report, run, out_dir, files)
    samples = (
        None
        if run.config.model.head == "path"
        else write_samples_png(
            run.data.task,
            run.data.test,
            preds,
            verdicts,
            out_dir / "samples.png",
            run.config.eval.samples_png,
        )
    )
    return _finish(report, run, out_dir, {} if samples is None else {"samples": str(samples)})


def _finish(report: dict, run, out_dir: Path, files: dict) -> dict:
    """Record where the report came from and write eval/metrics.json."""
    report["data"] = str(run.data.root)
    report["checkpoint"] = str(run.checkpoint)
    report["files"] = {"metrics": str(out_dir / "metrics.json"), **files}
    atomic_write_text(out_dir / "metrics.json", json.dumps(report, indent=2) + "\n")
    return report


def solve_file(
    run_dir: Path, file: Path, png: Path | None = None, device: str | None = None
) -> dict:
    """Solve one puzzle file: the model's answer, the verifier's verdict, optional PNG."""
    run = load_run(run_dir, device=device)
    task = run.data.task
    puzzle = task.parse_puzzle(read_text_file(file))
    if getattr(task, "fewshot", False):  # an ARC JSON task file: demonstrations and queries
        from ponder.eval.fewshot_solve import solve_fewshot_task

        return solve_fewshot_task(run, puzzle, png)
    _check_fits(task, puzzle, run.data.spec.seq_len)
    inputs = torch.as_tensor(task.encode(puzzle)[None], device=run.runtime.device)
    # A puzzle from a file has no identifier: it gets the blank one.
    blank = run.data.train.metadata.blank_identifier_id or 0
    batch = {"inputs": inputs, "puzzle_identifiers": torch.full_like(inputs[:, 0], blank)}
    model = run.model
    with torch.no_grad(), run.runtime.autocast():
        carry = model.init_carry(1, run.runtime.device)
        for _ in range(run.config.train.N_sup):
            carry, out = model(carry, batch)
    if run.config.model.head == "path":  # follow the next-cell pointers from S
        route = greedy_routes(
            out.logits[:, 0], inputs, puzzle.shape, inputs.shape[1] - 1,
            constrained=run.config.eval.constrained_decoding,
            legal_only=run.config.train.validity_mask,
        )[0]  # fmt: skip
        answer = route_to_answer(puzzle, route[route >= 0].tolist())
    else:
        answer = task.decode(out.logits.argmax(-1)[0].cpu().numpy(), puzzle.shape)
    verdict = task.verify(puzzle, answer)
    if png is not None:
        task.render_png(png, [(puzzle, answer, task.solve(puzzle), verdict)])
    return {"ascii": task.render_ascii(answer), "verdict": verdict}


def _check_fits(task, puzzle: np.ndarray, seq_len: int) -> None:
    if puzzle.size != seq_len:
        side = int(round(seq_len**0.5))
        raise UserError(
            f"puzzle is {puzzle.shape[0]}x{puzzle.shape[1]} but the run was trained on "
            f"{side}x{side} grids"
        )
