"""`ponder bench step`: time real training steps of a config on synthetic-free real data."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ponder.bench import StepBenchResult, count_flops, measure_matmul_peak, time_steps
from ponder.config import RunConfig
from ponder.data.loader import TrainBatches
from ponder.errors import UserError
from ponder.models import build_model
from ponder.runs import open_run_data
from ponder.train.engine import Trainer
from ponder.train.launch import settle_execution
from ponder.train.runtime import make_runtime, seed_everything
from ponder.train.sizing import check_model_fits

# A benchmark times a handful of steps; this bounds a typo's running time.
MAX_BENCH_STEPS = 100_000


def bench_step(config: RunConfig, warmup: int, steps: int) -> StepBenchResult:
    """ms per step, examples/s and achieved matmul FLOP/s as a fraction of this machine's
    measured matmul peak in the run's precision. Nothing is written to disk."""
    if not 1 <= steps <= MAX_BENCH_STEPS:
        raise UserError(f"--steps must be in 1..{MAX_BENCH_STEPS} (timed steps), got {steps}")
    if not 0 <= warmup <= MAX_BENCH_STEPS:
        raise UserError(f"--warmup must be in 0..{MAX_BENCH_STEPS} (untimed steps), got {warmup}")
    runtime = make_runtime(config.device, config.precision, config.flush_denormal)
    data, objective = open_run_data(config)
    check_model_fits(config, data.spec, runtime.device)
    seed_everything(config.seed, deterministic=False)
    model = build_model(config.model, data.spec).to(runtime.device)
    loader = TrainBatches(data.train, config.train.global_batch_size, config.seed)
    # The precision and compilation a training run of this config would get.
    runtime, execution = settle_execution(config, model, runtime, loader.batch(0), objective)
    with tempfile.TemporaryDirectory() as scratch:  # the trainer writes nothing here
        trainer = Trainer(
            config,
            model,
            loader,
            runtime,
            run_dir=Path(scratch),
            evaluate=lambda m: {},
            objective=objective,
        )
        counter = iter(range(10**9))

        def one_step() -> None:
            trainer.train_step(loader.batch(next(counter)))

        seconds = time_steps(one_step, warmup, steps, runtime.device)
        flops = count_flops(one_step)
    peak = measure_matmul_peak(runtime.device, runtime.dtype)
    return StepBenchResult.from_timings(
        seconds,
        config.train.global_batch_size,
        flops,
        peak,
        str(runtime.dtype),
        str(runtime.device),
        compiled=execution["compiled"],
    )
