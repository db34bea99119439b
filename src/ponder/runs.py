"""A run's pieces assembled from its config: the dataset, checked against the recipe's
data.* pins, with its objective bound to it.

Training (ponder.train.launch), a trained run reloaded (ponder.trained), `ponder bench`,
`ponder parity` and the benchmarks open a run's data through here, so they all see the same
checks.
"""

from __future__ import annotations

from pathlib import Path

from ponder.config import RunConfig
from ponder.data.dataset import Dataset, check_spec, open_dataset
from ponder.objectives import Objective, build_objective


def open_run_data(
    config: RunConfig, path: str | Path | None = None, any_size: bool = False
) -> tuple[Dataset, Objective]:
    """The run's dataset (data.path, or `path`), checked against the recipe's data.* pins
    (with `any_size`, all but data.seq_len: the caller checks the grid size against the
    model), and its objective bound to it; the dataset's spec is the one the model is built
    for."""
    data = open_dataset(path or config.data.path, config.data.task)
    pins = config.data.model_dump()
    if any_size:
        pins["seq_len"] = None
    check_spec(data, pins, "the config (data.*)")
    objective = build_objective(config, data)
    data.spec = objective.data_spec(data.spec)
    return data, objective
