"""Train a run from its config: dataset and objective, model, runtime, trainer, summary."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed
from torch import nn

from ponder.config import RunConfig
from ponder.data.dataset import Dataset, check_spec
from ponder.data.fresh_skills import FreshSkillBatches
from ponder.data.loader import TrainBatches
from ponder.errors import UserError
from ponder.fileio import atomic_write_text
from ponder.models import build_model, count_parameters
from ponder.objectives import Objective
from ponder.runs import open_run_data
from ponder.train.compiling import compile_model
from ponder.train.curriculum import CurriculumBatches
from ponder.train.engine import Trainer
from ponder.train.precision import (
    DTYPES,
    PrecisionChoice,
    pick_precision,
    shape_key,
    time_segment_pass,
)
from ponder.train.resume import check_resume_config, load_resumable
from ponder.train.rundir import (
    CONFIG_NAME,
    checkpoint_path,
    prepare_run_dir,
    read_run_config,
    release_run_dir,
)
from ponder.train.runtime import Runtime, make_runtime, seed_everything
from ponder.train.sizing import check_model_fits


def make_evaluator(config: RunConfig, data: Dataset, objective: Objective, runtime: Runtime):
    """The engine's periodic evaluation: the objective judges train.eval_examples test
    examples (0: all) and the scalar metrics are logged."""

    def evaluate(model: nn.Module) -> dict[str, float]:
        if data.test.num_examples == 0:
            return {}  # an empty test split: train says it skips evaluation (skipped_evaluation)
        depth = objective.depth(runtime.device, limit=config.train.eval_examples)
        return objective.judge(model, data, depth).scalars()

    return evaluate


def train(
    config: RunConfig, *, resume: bool = False, overwrite: bool = False, quiet: bool = False
) -> Path:
    """Train a run from its config; returns the run directory."""
    runtime = make_runtime(config.device, config.precision, config.flush_denormal)
    data, objective = open_run_data(config)  # before the run directory: they may refuse
    stages = open_stages(config, data, objective)  # the curriculum's datasets, then data
    skipped = skipped_evaluation(config, stages)
    run_dir = config.resolved_run_dir()
    saved = _read_resumable(config, run_dir, runtime, overwrite) if resume else None
    # On the meta device, before seeding: the model and a batch of each rank's share.
    check_model_fits(config, data.spec, runtime.device, runtime.world_size)
    # Every rank builds the same initial model (DDP syncs parameters, but not the fixed
    # random initial states, which are buffers); then each rank draws its own randomness.
    seed_everything(config.seed, config.deterministic)
    model = build_model(config.model, data.spec).to(runtime.device)
    if runtime.world_size > 1:
        seed_everything(config.seed + runtime.rank, config.deterministic)
    loader, evaluate = make_loader(config, stages, objective, runtime)
    trainer = Trainer(
        config, model, loader, runtime, run_dir, evaluate, objective, data.pinned_spec()
    )
    # Only now, with the model and trainer built, is the run directory made: whatever
    # refuses the run above leaves nothing behind that a rerun would trip over.
    if not resume and runtime.is_main:
        prepare_run_dir(run_dir, config.to_dict(), overwrite=overwrite, resume=False)
    if saved is not None:
        path = checkpoint_path(run_dir, "last")
        trainer.restore_from(*saved, path, on_spec=lambda spec, src: check_spec(data, spec, src))
    # Measuring the precision and compiling take seconds to a minute: after every check
    # that may refuse the run. The trainer takes the settled runtime before its first step.
    resumed = saved[1].get("precision") if saved is not None else None
    runtime, execution = settle_execution(
        config, model, runtime, loader.batch(0), objective, resumed
    )
    trainer.rt = runtime
    if saved is None and runtime.is_main:
        _describe(config, data, model, runtime, run_dir, quiet, skipped)
    if runtime.is_main and not quiet:
        print(execution["described"])
    started = time.perf_counter()
    try:
        final = trainer.fit()
        if runtime.is_main:
            seconds = time.perf_counter() - started
            _write_summary(run_dir, config, model, final, seconds, trainer, skipped, execution)
    finally:
        release_run_dir(run_dir)  # no longer running: a rerun may replace it
    if runtime.world_size > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return run_dir


def settle_execution(
    config: RunConfig,
    model: nn.Module,
    runtime: Runtime,
    batch: dict[str, torch.Tensor],
    objective: Objective,
    resumed: dict | None = None,
) -> tuple[Runtime, dict]:
    """The runtime with the run's precision settled (ponder.train.precision: `auto` by
    measurement, or kept from the run being resumed, `resumed` = its checkpoint's record),
    and the model's recursion blocks compiled when `compile: true` (ponder.train.compiling).
    Returns the runtime and what was done (for summary.json, and a line to print)."""
    batch = {k: v.to(runtime.device) for k, v in batch.items()}
    same_device = bool(resumed) and resumed.get("device") == runtime.device.type
    kept = resumed.get("name") if same_device and resumed.get("name") in DTYPES else None

    def loss_of(outputs) -> torch.Tensor:
        return objective.loss(outputs, batch, None)[0]

    def time_pass(dtype: torch.dtype) -> float:
        return time_segment_pass(model, batch, loss_of, dtype)

    key = shape_key(runtime.device, config.model, tuple(batch["inputs"].shape))
    choice = pick_precision(config.precision, runtime.device, time_pass, key, kept)
    choice = _rank_zero_choice(choice, runtime)
    runtime = replace(runtime, dtype=choice.dtype)
    compiled = False
    if config.compile:
        compiled = compile_model(model, lambda: time_pass(runtime.dtype), _warn)
    described = choice.describe() + ("; recursion blocks compiled" if compiled else "")
    return runtime, {"precision": choice.to_dict(), "compiled": compiled, "described": described}


def _rank_zero_choice(choice: PrecisionChoice, runtime: Runtime) -> PrecisionChoice:
    """Every DDP rank must compute in one precision: rank 0's measurement decides."""
    if runtime.world_size == 1:
        return choice
    shared = [choice]
    torch.distributed.broadcast_object_list(shared, src=0)
    return shared[0]


def _warn(line: str) -> None:
    print(f"ponder: warning: {line}", file=sys.stderr)


def skipped_evaluation(config: RunConfig, stages: list[Dataset]) -> str | None:
    """Why the run will not be evaluated (its test split is empty), or None. Settings that
    act on evaluations are refused then, rather than left never to fire."""
    tc, data = config.train, stages[-1]
    empty = [stage.root for stage in stages if stage.test.num_examples == 0]
    if empty and tc.curriculum.threshold is not None:
        raise UserError(
            f"train.curriculum.threshold judges each stage on its test split, and the test "
            f"split of {empty[0]} is empty"
        )
    if data.test.num_examples > 0:
        return None
    acting = {"train.early_stop": tc.early_stop.patience > 0, "train.fail_fast": tc.fail_fast}
    for key, on in acting.items():
        if on:
            raise UserError(
                f"{key} acts on evaluations, but the test split of {data.root} is empty"
            )
    return f"the test split of {data.root} is empty"


def open_stages(config: RunConfig, data: Dataset, objective: Objective) -> list[Dataset]:
    """train.curriculum.datasets, then the run's own `data` (the last stage). Every stage
    must have data's task and shape, as one model trains on all of them."""
    stages = []
    for path in config.train.curriculum.datasets:
        stage, _ = open_run_data(config, path)
        source = f"data.path ({data.root})"
        if stage.task.name != data.task.name:
            raise UserError(
                f"curriculum dataset {stage.root} has task {stage.task.name} but {source} "
                f"has task {data.task.name}"
            )
        # same task and seq_len: the same grid shape, which the task derives from seq_len
        check_spec(stage, data.pinned_spec(), source)
        stages.append(objective.prepare(stage))
    return [*stages, data]


def make_loader(config: RunConfig, stages: list[Dataset], objective: Objective, runtime: Runtime):
    """(loader, evaluate) for the engine: plain batches of the one dataset, fresh skill
    tasks (data.fresh_tasks), or a curriculum over `stages`. The evaluation is always of
    the last stage (data.path); in accuracy mode it also judges the current stage, whose
    exact moves the curriculum on."""
    tc = config.train

    def batches(data: Dataset) -> TrainBatches:
        return TrainBatches(
            data.train, tc.global_batch_size, config.seed, runtime.rank, runtime.world_size
        )

    evaluate = make_evaluator(config, stages[-1], objective, runtime)
    if config.data.fresh_tasks:
        return _fresh_task_batches(config, stages[-1], runtime), evaluate
    if len(stages) == 1:
        return batches(stages[0]), evaluate
    cur = tc.curriculum
    loader = CurriculumBatches([batches(s) for s in stages], cur.at_steps, cur.threshold)
    if loader.by_accuracy:
        judges = [make_evaluator(config, s, objective, runtime) for s in stages]
        evaluate = _advancing(evaluate, judges, loader)
    return loader, evaluate


def _fresh_task_batches(config: RunConfig, data: Dataset, runtime: Runtime) -> FreshSkillBatches:
    """data.fresh_tasks: a new skill instance in every row. A fresh task has no puzzle
    identifier a table (or the oracle encoder) could have learned, and a curriculum's stages
    are fixed datasets, so both are refused."""
    if config.train.curriculum.enabled:
        raise UserError("data.fresh_tasks does not combine with train.curriculum")
    encoder = getattr(config.model, "demo_encoder", None)
    if getattr(config.model, "puzzle_emb_len", 0) > 0 and encoder is None:
        raise UserError(
            "data.fresh_tasks: fresh tasks have no puzzle identifiers for the puzzle table "
            "(model.puzzle_emb_len) to learn; condition on the demonstrations "
            "(model.demo_encoder)"
        )
    if encoder is not None and encoder.kind == "oracle":
        raise UserError(
            "data.fresh_tasks: the oracle encoder codes puzzle identifiers, which fresh "
            "tasks do not have"
        )
    tc = config.train
    return FreshSkillBatches.from_dataset(
        data, tc.global_batch_size, config.seed, runtime.rank, runtime.world_size
    )


def _advancing(evaluate, judges, loader: CurriculumBatches):
    """`evaluate` plus, before the last stage, an evaluation of the current stage on its
    own test sample (logged as curriculum_exact) that `loader.observe` may advance on.
    Every DDP rank judges the same sample with the same weights, so all advance together."""

    def evaluate_and_advance(model: nn.Module) -> dict[str, float]:
        metrics = evaluate(model)
        if loader.stage < loader.last:
            judged = judges[loader.stage](model)
            metrics["curriculum_exact"] = judged["exact"]
            loader.observe(judged)
        metrics["curriculum_stage"] = float(loader.stage)  # the stage from here on
        return metrics

    return evaluate_and_advance


def _read_resumable(
    config: RunConfig, run_dir: Path, runtime: Runtime, overwrite: bool
) -> tuple[dict, dict]:
    """The last checkpoint of a run to resume, once the run directory (which this writes
    nothing to) and the checkpoint's config are found to match `config`."""
    if runtime.is_main:
        prepare_run_dir(
            run_dir, _comparable(config, run_dir, True), overwrite=overwrite, resume=True
        )
    path = checkpoint_path(run_dir, "last")
    tensors, state = load_resumable(path)
    check_resume_config(state, config, path)
    return tensors, state


def _comparable(config: RunConfig, run_dir: Path, resume: bool) -> dict:
    """The config a resumed run must match: where it runs (device, directory) may change."""
    now = config.to_dict()
    if resume and (run_dir / CONFIG_NAME).is_file():
        saved = read_run_config(run_dir)
        now.update({k: saved[k] for k in ("device", "run_dir", "name") if k in saved})
    return now


def _describe(config, data, model, runtime, run_dir, quiet: bool, skipped: str | None) -> None:
    if quiet:
        return
    print(
        f"run {run_dir}: {config.model.name}, {count_parameters(model):,} parameters, "
        f"{data.train.num_examples} train / {data.test.num_examples} test examples, "
        f"device {runtime.device}, {str(runtime.dtype).removeprefix('torch.')}, "
        f"world size {runtime.world_size}"
    )
    if skipped:
        print(f"no evaluation: {skipped}")


def _write_summary(
    run_dir, config, model, final, seconds, trainer, skipped: str | None, execution: dict
) -> None:
    summary = {
        "model": config.model.name,
        "params": count_parameters(model),
        "steps": trainer.step,
        "train_seconds": seconds,
        "precision": execution["precision"],  # the choice, its source and timings
        "compiled": execution["compiled"],
        "best_exact": trainer.best,
        "stopped_early": trainer.stop_reason,
        "early_stop": config.train.early_stop.model_dump(),
        "fail_fast": [rule.model_dump() for rule in config.train.fail_fast],
        "final_eval": final,
    }
    if skipped:
        summary["evaluation_skipped"] = skipped  # final_eval is empty: there was nothing to judge
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
