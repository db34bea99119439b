"""Assemble a run from a config: dataset, task, model, runtime, trainer; and reload one."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.distributed
from torch import nn

from ponder.config import RunConfig, TrainConfig, config_from_dict
from ponder.data.check import check_opened, dataset_task
from ponder.data.fewshot import read_task_names
from ponder.data.format import Split, load_split, read_ponder_json
from ponder.data.loader import TrainBatches
from ponder.errors import UserError
from ponder.eval.evaluate import evaluate_model, scalar_metrics
from ponder.eval.fewshot import SearchSettings, fewshot_report, predict_fewshot
from ponder.eval.paths import evaluate_paths
from ponder.fileio import atomic_write_text
from ponder.models import SEQUENCE_MODELS, DataSpec, build_model, count_parameters
from ponder.tasks.maze_path import extract_routes
from ponder.train import checkpoint as ckpt
from ponder.train.curriculum import CurriculumBatches
from ponder.train.engine import Trainer, check_resume_config, load_resumable
from ponder.train.losses import segment_loss
from ponder.train.mlm_u import mlm_u_transform
from ponder.train.path_loss import path_segment_loss
from ponder.train.route_aids import class_weight_table, enabled_route_keys, route_aids_from_config
from ponder.train.rundir import (
    CONFIG_NAME,
    checkpoint_path,
    prepare_run_dir,
    read_run_config,
)
from ponder.train.runtime import Runtime, make_runtime, seed_everything
from ponder.train.sizing import check_model_fits


@dataclass
class Dataset:
    root: Path
    task: object
    spec: DataSpec
    train: Split
    test: Split


def open_dataset(path: str | Path, task_name: str | None = None) -> Dataset:
    """Load both splits, find the task (from ponder.json, or given for HRM-built data) and
    check them as `ponder data check` does (see check_opened), before anything uses them."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"dataset directory not found: {root} (build one with `ponder data build`)")
    ponder = read_ponder_json(root)
    task = dataset_task(root, ponder, task_name)
    if task is None:
        raise UserError(f"dataset {root} has no ponder.json; name its task (data.task=maze)")
    train, test = load_split(root, "train"), load_split(root, "test")
    check_opened(root, train, test, task, ponder)
    md = train.metadata
    spec = DataSpec(
        vocab_size=md.vocab_size,
        seq_len=md.seq_len,
        grid_shape=task.grid_shape(md.seq_len),
        num_puzzle_identifiers=md.num_puzzle_identifiers,
    )
    return Dataset(root=root, task=task, spec=spec, train=train, test=test)


def open_run_dataset(config: RunConfig, path: str | Path | None = None) -> Dataset:
    """The run's dataset, with each maze's route (S ... G as cell indices, -1 padded) in
    `extras["routes"]` when the model answers with a path head."""
    data = open_dataset(path or config.data.path, config.data.task)
    _needs_demonstrations(config, data)
    if config.model.head == "path":
        if data.task.name != "maze":
            raise UserError(
                f"model.head=path is for mazes; this dataset's task is {data.task.name}"
            )
        for split in (data.train, data.test):
            split.extras["routes"] = extract_routes(
                split.inputs, split.labels, data.spec.grid_shape
            )
    return data


def _needs_demonstrations(config: RunConfig, data: Dataset) -> None:
    """Sequence models and demonstration encoders read a few-shot batch's demonstrations."""
    fewshot = bool(data.train.fewshot)
    if config.model.name in SEQUENCE_MODELS and not fewshot:
        raise UserError(f"model {config.model.name} needs a few-shot dataset (skills, arc)")
    if getattr(config.model, "demo_encoder", None) is not None and not fewshot:
        raise UserError("model.demo_encoder needs a few-shot dataset (skills, arc)")


SPEC_KEYS = ("vocab_size", "seq_len", "num_puzzle_identifiers")


def check_spec(data: Dataset, expected: dict, source: str) -> None:
    """Refuse a dataset whose shape differs from what a recipe or checkpoint expects:
    `expected` maps DataSpec keys to values (None: anything)."""
    for key in SPEC_KEYS:
        want, have = expected.get(key), getattr(data.spec, key)
        if want is not None and want != have:
            raise UserError(f"dataset {data.root} has {key} {have} but {source} expects {want}")


def make_evaluator(config: RunConfig, data: Dataset, runtime: Runtime):
    def evaluate(model: nn.Module) -> dict[str, float]:
        if data.test.num_examples == 0:
            return {}  # an empty test split: train says it skips evaluation (skipped_evaluation)
        report, _, _ = judge_model(config, data, model, runtime, config.train.eval_examples)
        return scalar_metrics(report)

    return evaluate


def judge_model(config: RunConfig, data: Dataset, model: nn.Module, runtime: Runtime, limit=0):
    """Run the test split through the model and judge it: (report, predictions, verdicts)
    for the model's answer head (grid tokens, or a route from the path pointers)."""
    common = dict(
        n_sup=config.train.N_sup,
        batch_size=config.eval.batch_size,
        device=runtime.device,
        limit=limit,
        halt_rule=config.train.halting,
    )
    if getattr(data.task, "fewshot", False):
        return judge_fewshot(config, data, model, common)
    if config.model.head == "path":
        constrained = config.eval.constrained_decoding
        legal_only = config.train.validity_mask  # the choice set the model was trained on
        return evaluate_paths(
            model, data.test, constrained=constrained, legal_only=legal_only, **common
        )
    return evaluate_model(model, data.task, data.test, **common)


def judge_fewshot(config: RunConfig, data: Dataset, model: nn.Module, common: dict):
    """Few-shot tasks: (report, predictions, ranked candidates per task); see eval.fewshot."""
    search = SearchSettings(config.eval.latent_search_steps, config.eval.latent_search_lr)
    if search.steps and getattr(model.embed, "demo", None) is None:
        raise UserError("eval.latent_search_steps needs a model with model.demo_encoder")
    common = {k: v for k, v in common.items() if k != "halt_rule"}
    preds = predict_fewshot(model, data.test, search=search, **common)
    report, ranked = fewshot_report(data.test, preds, read_task_names(data.root, "test"))
    return report, preds, ranked


def train(
    config: RunConfig, *, resume: bool = False, overwrite: bool = False, quiet: bool = False
) -> Path:
    """Train a run from its config; returns the run directory."""
    runtime = make_runtime(config.device, config.precision)
    data = open_run_dataset(config)
    check_spec(data, config.data.model_dump(), "the config (data.*)")
    stages = open_stages(config, data)  # the curriculum's datasets, then data
    skipped = skipped_evaluation(config, stages)
    loss_fn = make_loss(config, data)  # before the run directory: it may refuse the config
    run_dir = config.resolved_run_dir()
    saved = _read_resumable(config, run_dir, runtime, overwrite) if resume else None
    check_model_fits(config, data.spec, runtime.device)  # on the meta device, before seeding
    # Every rank builds the same initial model (DDP syncs parameters, but not the fixed
    # random initial states, which are buffers); then each rank draws its own randomness.
    seed_everything(config.seed, config.deterministic)
    model = build_model(config.model, data.spec)
    if runtime.world_size > 1:
        seed_everything(config.seed + runtime.rank, config.deterministic)
    loader, evaluate = make_loader(config, stages, runtime)
    trainer = Trainer(
        config,
        model,
        loader,
        runtime,
        run_dir,
        evaluate,
        loss_fn=loss_fn,
        batch_transform=_batch_transform(config, data),
        data_spec={key: getattr(data.spec, key) for key in SPEC_KEYS},
    )
    # Only now, with the model and trainer built, is the run directory made: whatever
    # refuses the run above leaves nothing behind that a rerun would trip over.
    if not resume and runtime.is_main:
        prepare_run_dir(run_dir, config.to_dict(), overwrite=overwrite, resume=False)
    if saved is not None:
        path = checkpoint_path(run_dir, "last")
        trainer.restore_from(*saved, path, on_spec=partial(check_spec, data))
    elif runtime.is_main:
        _describe(config, data, model, runtime, run_dir, quiet, skipped)
    started = time.perf_counter()
    final = trainer.fit()
    if runtime.is_main:
        seconds = time.perf_counter() - started
        _write_summary(run_dir, config, model, final, seconds, trainer, skipped)
    if runtime.world_size > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return run_dir


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


def open_stages(config: RunConfig, data: Dataset) -> list[Dataset]:
    """train.curriculum.datasets, then the run's own `data` (the last stage). Every stage
    must have data's task and shape, as one model trains on all of them."""
    stages = []
    for path in config.train.curriculum.datasets:
        stage = open_run_dataset(config, path)
        source = f"data.path ({data.root})"
        if stage.task.name != data.task.name:
            raise UserError(
                f"curriculum dataset {stage.root} has task {stage.task.name} but {source} "
                f"has task {data.task.name}"
            )
        # same task and seq_len: the same grid shape, which the task derives from seq_len
        check_spec(stage, {key: getattr(data.spec, key) for key in SPEC_KEYS}, source)
        stages.append(stage)
    return [*stages, data]


def make_loader(config: RunConfig, stages: list[Dataset], runtime: Runtime):
    """(loader, evaluate) for the engine: plain batches of the one dataset, or a
    curriculum over `stages`. The evaluation is always of the last stage (data.path); in
    accuracy mode it also judges the current stage, whose exact moves the curriculum on."""
    tc = config.train

    def batches(data: Dataset) -> TrainBatches:
        return TrainBatches(
            data.train, tc.global_batch_size, config.seed, runtime.rank, runtime.world_size
        )

    evaluate = make_evaluator(config, stages[-1], runtime)
    if len(stages) == 1:
        return batches(stages[0]), evaluate
    cur = tc.curriculum
    loader = CurriculumBatches([batches(s) for s in stages], cur.at_steps, cur.threshold)
    if loader.by_accuracy:
        judges = [make_evaluator(config, s, runtime) for s in stages]
        evaluate = _advancing(evaluate, judges, loader)
    return loader, evaluate


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


def make_loss(config: RunConfig, data: Dataset):
    """The training objective of one segment for the model's answer head."""
    tc = config.train
    if config.model.head == "path":
        _refuse_grid_aids(tc)
        return partial(
            path_segment_loss,
            grid_shape=data.spec.grid_shape,
            halt_weight=tc.halt_loss_weight,
            label_smoothing=tc.label_smoothing,
            validity_mask=tc.validity_mask,
        )
    spec = data.spec
    weights = class_weight_table(tc.class_weights, spec.vocab_size)
    aids = route_aids_from_config(tc, data.task.name, spec.grid_shape, spec.vocab_size)

    def grid_loss(out, batch, q_continue_target):
        return segment_loss(
            out,
            batch,
            kind=tc.loss,
            ignore_label=ignore_label(data),
            halt_weight=tc.halt_loss_weight,
            change_weight=tc.label_change_weight,
            q_continue_target=q_continue_target,
            label_smoothing=tc.label_smoothing,
            class_weights=weights,
            route_aids=aids,
        )

    return grid_loss


def _refuse_grid_aids(tc: TrainConfig) -> None:
    """The path head answers with pointers, not tokens: the grid-loss aids do not apply."""
    keys = enabled_route_keys(tc) + (["train.class_weights"] if tc.class_weights else [])
    if keys:
        raise UserError(f"{keys[0]} is for grid answers; model.head=path answers with pointers")


def _batch_transform(config: RunConfig, data: Dataset):
    if not config.train.mlm_u:
        return None
    if data.task.name != "maze":
        raise UserError(
            f"train.mlm_u reveals maze path cells; this dataset's task is {data.task.name}"
        )
    return mlm_u_transform


def ignore_label(data: Dataset) -> int:
    """The label id the loss skips (-100, matching nothing, when the dataset has none)."""
    ignore = data.train.metadata.ignore_label_id
    return -100 if ignore is None else ignore


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


def _write_summary(run_dir, config, model, final, seconds, trainer, skipped: str | None) -> None:
    summary = {
        "model": config.model.name,
        "params": count_parameters(model),
        "steps": trainer.step,
        "train_seconds": seconds,
        "best_exact": trainer.best,
        "stopped_early": trainer.stop_reason,
        "early_stop": config.train.early_stop.model_dump(),
        "fail_fast": [rule.model_dump() for rule in config.train.fail_fast],
        "final_eval": final,
    }
    if skipped:
        summary["evaluation_skipped"] = skipped  # final_eval is empty: there was nothing to judge
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")


@dataclass
class TrainedRun:
    config: RunConfig
    model: nn.Module
    data: Dataset
    runtime: Runtime
    checkpoint: Path


def load_run(
    run_dir: str | Path, data_path: str | Path | None = None, device: str | None = None
) -> TrainedRun:
    """Rebuild a run's model from its config and best (else last) checkpoint, with the EMA
    weights when the run kept them."""
    run_dir = Path(run_dir)
    config = config_from_dict(read_run_config(run_dir))
    runtime = make_runtime(device or config.device, config.precision)
    data = open_run_dataset(config, data_path)
    path = checkpoint_path(run_dir, "best")
    if not path.exists():
        path = checkpoint_path(run_dir, "last")
    tensors, state = ckpt.load_checkpoint(path)
    check_spec(data, state.get("data_spec", {}), f"the model in {path}")
    model = build_model(config.model, data.spec).to(runtime.device)
    prefix = "ema.module." if any(k.startswith("ema.module.") for k in tensors) else "model."
    ckpt.load_module_state(model, tensors, prefix, path)  # a mismatch names the tensor
    model.eval()
    return TrainedRun(config=config, model=model, data=data, runtime=runtime, checkpoint=path)
