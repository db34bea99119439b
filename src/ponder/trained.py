"""A trained run reloaded from its directory (config, dataset, objective, model with its
best weights), and what `ponder eval` and `ponder solve` do with it: judge it with its
objective and write its reports, or solve one puzzle file.

Above the engine: reloading reads the checkpoints and precision records that training
writes (ponder.train); the run's pieces are assembled as training assembles them
(ponder.runs.open_run_data), so both see the same checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ponder.config import RunConfig, config_from_dict
from ponder.data.dataset import Dataset, check_spec
from ponder.errors import UserError
from ponder.eval.trace import trace_split
from ponder.fileio import atomic_write_text, read_text_file
from ponder.models import DataSpec, build_model
from ponder.models.halting import ConvergedState, StopRule, carry_state
from ponder.objectives import Objective
from ponder.objectives.base import check_other_size
from ponder.runs import open_run_data
from ponder.train import checkpoint as ckpt
from ponder.train.precision import DTYPES
from ponder.train.rundir import checkpoint_path, read_run_config
from ponder.train.runtime import Runtime, make_runtime


@dataclass
class TrainedRun:
    config: RunConfig
    model: nn.Module
    data: Dataset
    objective: Objective
    runtime: Runtime
    checkpoint: Path
    run_dir: Path
    trained_seq_len: int  # grid cells of the grids the run was trained on


def load_run(
    run_dir: str | Path,
    data_path: str | Path | None = None,
    device: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainedRun:
    """Rebuild a run's model from its config and best (else last) checkpoint, with the EMA
    weights when the run kept them. `data_path` judges it on another dataset of the same
    task and shape. `overrides`: dotted config keys set for this load only, checked as a
    config is (`ponder eval --ttt-steps`); the run's config.yaml is not touched."""
    run_dir = Path(run_dir)
    raw = read_run_config(run_dir)
    for key, value in (overrides or {}).items():
        if "." not in key:  # a top-level key (precision)
            raw[key] = value
            continue
        section, name = key.split(".")
        if isinstance(raw.get(section, {}), dict):  # else the config check names the section
            raw[section] = {**raw.get(section, {}), name: value}
    config = config_from_dict(raw)
    runtime = make_runtime(device or config.device, config.precision, config.flush_denormal)
    data, objective = open_run_data(config, data_path, any_size=data_path is not None)
    path = checkpoint_path(run_dir, "best")
    if not path.exists():
        path = checkpoint_path(run_dir, "last")
    tensors, state = ckpt.load_checkpoint(path)
    runtime = _trained_precision(config, runtime, state.get("precision"))
    trained = _trained_spec(config, data, state.get("data_spec", {}), path)
    model = build_model(config.model, trained).to(runtime.device)
    prefix = "ema.module." if any(k.startswith("ema.module.") for k in tensors) else "model."
    ckpt.load_module_state(model, tensors, prefix, path)  # a mismatch names the tensor
    model.eval()
    return TrainedRun(config, model, data, objective, runtime, path, run_dir, trained.seq_len)


def _trained_precision(config: RunConfig, runtime: Runtime, saved) -> Runtime:
    """With `precision: auto`, judge in the precision training settled on (recorded in the
    checkpoint) when on the same kind of device, so a run's figures do not move with a new
    measurement; otherwise the device's rule stands."""
    if config.precision != "auto" or not isinstance(saved, dict):
        return runtime
    name = saved.get("name")
    if saved.get("device") != runtime.device.type or name not in DTYPES:
        return runtime
    return replace(runtime, dtype=DTYPES[name])


def _trained_spec(config: RunConfig, data: Dataset, saved: dict, path: Path) -> DataSpec:
    """The spec the checkpoint's model was built for. A dataset of another grid size than
    the training one is allowed for a size-agnostic model of the same task (the model is
    built for its training size and runs on the other); anything else must match."""
    source = f"the model in {path}"
    task = saved.get("task")
    if task is not None and task != data.task.name:
        raise UserError(f"dataset {data.root} has task {data.task.name} but {source} is for {task}")
    trained_len = saved.get("seq_len") or config.data.seq_len or data.spec.seq_len
    if trained_len == data.spec.seq_len:
        check_spec(data, saved, source)
        return data.spec
    check_spec(data, {**saved, "seq_len": None}, source)
    shape = data.spec.grid_shape
    check_other_size(config.model, data.task, trained_len, shape, f"dataset {data.root}'s grid")
    return replace(data.spec, seq_len=trained_len, grid_shape=data.task.grid_shape(trained_len))


def evaluate_run(
    run: TrainedRun,
    segments: int | str | None = None,
    tasks: int = 0,
    stop: StopRule | None = None,
    cap: int | None = None,
) -> dict:
    """Judge a run on every example of its dataset's test split (few-shot: `tasks` > 0,
    the first `tasks` tasks of each set); write eval/metrics.json and the objective's
    outputs (samples.png failures first, or submission.json and task PNGs) to eval/ in the
    run directory. `segments`: see Objective.depth."""
    if run.data.test.num_examples == 0:
        raise UserError(f"nothing to evaluate: the test split of {run.data.root} is empty")
    if tasks and not run.data.test.fewshot:
        raise UserError("--tasks picks few-shot tasks (skills, ARC); this run's data has none")
    check_stop_rule(run, stop)
    depth = run.objective.depth(
        run.runtime.device, segments=segments, tasks=tasks, stop=stop, cap=cap
    )
    with torch.no_grad(), run.runtime.autocast():
        judged = run.objective.judge(run.model, run.data, depth)
    out_dir = run.run_dir / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    files = run.objective.write_outputs(run.data, judged, out_dir)
    report = judged.report
    report["data"] = str(run.data.root)
    report["checkpoint"] = str(run.checkpoint)
    if tasks:
        report["tasks_per_set"] = tasks
    report["files"] = {"metrics": str(out_dir / "metrics.json"), **files}
    atomic_write_text(out_dir / "metrics.json", json.dumps(report, indent=2) + "\n")
    return report


def solve_file(
    run: TrainedRun,
    file: Path,
    png: Path | None = None,
    segments: int | str | None = None,
    stop: StopRule | None = None,
    cap: int | None = None,
) -> dict:
    """Solve one puzzle file: the model's answer, the verifier's verdict, optional PNG."""
    check_stop_rule(run, stop)
    return run.objective.solve(run, read_text_file(file), png, segments, stop=stop, cap=cap)


def check_stop_rule(run: TrainedRun, stop: StopRule | None) -> None:
    """Refuse a stop rule the run's model cannot feed: --halt converged watches a state
    that a model without a carry (the transformer baselines) does not keep."""
    if not isinstance(stop, ConvergedState):
        return
    carry = run.model.init_carry(1, run.runtime.device, run.data.spec.seq_len)
    try:
        carry_state(carry)
    except ValueError:
        raise UserError(
            f"--halt converged watches the model's state; model {run.config.model.name} "
            "keeps none between segments"
        ) from None


def trace_run(run: TrainedRun, out: Path, segments: int | str | None = None) -> dict:
    """Trace the run on its test split segment by segment (ponder.eval.trace) for
    `segments` segments (default N_sup; "auto": its cap), write the trace JSON to `out`
    atomically and return its summary. Grid-token runs only."""
    if run.objective.name != "grid":
        raise UserError(
            f"--trace reads grid-token answers; this run's objective is {run.objective.name}"
        )
    depth = run.objective.depth(run.runtime.device, segments=segments)  # auto: to the cap
    with torch.no_grad(), run.runtime.autocast():
        trace = trace_split(
            run.model, run.data.task, run.data.test, segments=depth.segments,
            batch_size=depth.batch_size, device=depth.device, decode=run.objective.decode,
            hint=run.objective.targets_at if run.config.grid.hint else None,
        )  # fmt: skip
    trace["data"] = str(run.data.root)
    atomic_write_text(out, json.dumps(trace) + "\n")
    return trace["summary"]
