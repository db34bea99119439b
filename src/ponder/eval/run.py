"""`ponder eval` and `ponder solve`: judge a trained run and write its reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ponder.errors import UserError
from ponder.eval.evaluate import evaluate_model, write_samples_png
from ponder.fileio import atomic_write_text, read_text_file
from ponder.train.launch import load_run


def evaluate_run(run_dir: Path, data: Path | None = None, device: str | None = None) -> dict:
    """Evaluate a run's best checkpoint on every test example; write eval/metrics.json and
    eval/samples.png (failures first)."""
    run = load_run(run_dir, data, device)
    with torch.no_grad(), run.runtime.autocast():
        report, preds, verdicts = evaluate_model(
            run.model,
            run.data.task,
            run.data.test,
            n_sup=run.config.train.N_sup,
            batch_size=run.config.eval.batch_size,
            device=run.runtime.device,
            halt_rule=run.config.train.halting,
        )
    out_dir = Path(run_dir) / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = write_samples_png(
        run.data.task,
        run.data.test,
        preds,
        verdicts,
        out_dir / "samples.png",
        run.config.eval.samples_png,
    )
    report["data"] = str(run.data.root)
    report["checkpoint"] = str(run.checkpoint)
    report["files"] = {"metrics": str(out_dir / "metrics.json"), "samples": str(samples)}
    atomic_write_text(out_dir / "metrics.json", json.dumps(report, indent=2) + "\n")
    return report


def solve_file(
    run_dir: Path, file: Path, png: Path | None = None, device: str | None = None
) -> dict:
    """Solve one puzzle file: the model's answer, the verifier's verdict, optional PNG."""
    run = load_run(run_dir, device=device)
    task = run.data.task
    puzzle = task.parse_puzzle(read_text_file(file))
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
