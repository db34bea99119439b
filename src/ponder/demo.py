"""`make demo`: build mazes, train TRM and the direct baseline at equal parameters, judge
both on held-out mazes, print a side-by-side table and draw solved mazes.

The whole demo file and every run's config are checked before the dataset is built, so a
mistake in the file costs nothing and leaves nothing behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from ponder.config import SEED_MAX, RunConfig, load_config
from ponder.data import build_dataset
from ponder.errors import UserError
from ponder.eval.evaluate import format_side_by_side
from ponder.eval.run import evaluate_run
from ponder.experiments.schema import parse_schema
from ponder.fileio import atomic_write_text, read_json_file, read_yaml_file
from ponder.models.base import FrozenConfig
from ponder.runs import load_run

DEFAULT_DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


class DemoDataset(FrozenConfig):
    """`dataset:` of a demo file: build_dataset's arguments. Other keys (size, min_path,
    ...) are the task's parameters; the task refuses those it does not take."""

    model_config = ConfigDict(frozen=True, extra="allow")
    task: str
    out: str = Field(min_length=1)  # relative to the repository root, as the presets
    train: int = Field(ge=0)
    test: int = Field(ge=0)
    seed: int = Field(ge=0, le=SEED_MAX)
    aug: str | None = None

    @model_validator(mode="after")
    def _no_build_arguments_as_task_parameters(self) -> DemoDataset:
        taken = sorted(set(self.model_extra or {}) & {"task_name", "out_dir", "overwrite"})
        if taken:
            raise ValueError(f"'{taken[0]}' cannot be set in a demo's dataset")
        return self

    def task_parameters(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DemoSpec(FrozenConfig):
    dataset: DemoDataset
    runs: dict[str, str] = Field(min_length=1)  # run name -> preset, from the repository root
    out: str = Field(min_length=1)


def read_demo_spec(path: Path) -> DemoSpec:
    raw = read_yaml_file(path, "demo config")
    return parse_schema(DemoSpec, raw, path)


def run_demo(path: str | Path | None = None) -> dict[str, dict]:
    from ponder.train.launch import train

    demo_path = Path(path) if path else DEFAULT_DEMO
    spec = read_demo_spec(demo_path)
    base = demo_path.parent.parent  # repository root: presets are named relative to it
    data_dir, out = base / spec.dataset.out, base / spec.out
    configs = {name: _run_config(demo_path, base, name, preset, data_dir, out)
               for name, preset in spec.runs.items()}  # fmt: skip
    ds = spec.dataset
    print(f"[demo] building {ds.task} dataset in {data_dir}", flush=True)
    build_dataset(
        ds.task, data_dir, train=ds.train, test=ds.test, seed=ds.seed, aug=ds.aug,
        **ds.task_parameters(),
    )  # fmt: skip
    reports: dict[str, dict] = {}
    for name, config in configs.items():
        print(f"[demo] training {name} ({spec.runs[name]})", flush=True)
        run_dir = train(config, overwrite=True)
        reports[name] = judge_run(run_dir)
    _finish(out, reports)
    return reports


def _run_config(
    demo_path: Path, base: Path, name: str, preset: str, data_dir: Path, out: Path
) -> RunConfig:
    """A run's preset with the demo's dataset and run directory; errors name the run."""
    overrides = [f"data.path={data_dir}", f"run_dir={out / name}", f"name={name}"]
    try:
        return load_config(base / preset, overrides)
    except UserError as err:
        raise UserError(f"{demo_path}: run {name}: {err}") from None


def judge_run(run_dir: Path) -> dict:
    report = evaluate_run(load_run(run_dir))
    summary = read_json_file(run_dir / "summary.json")
    report["params"] = summary["params"]
    report["train_seconds"] = summary["train_seconds"]
    return report


def _finish(out: Path, reports: dict[str, dict]) -> None:
    table = format_side_by_side(reports)
    print("\n" + table)
    atomic_write_text(out / "comparison.md", table + "\n")
    first = next(iter(reports.values()))
    png = out / "solved_mazes.png"
    shutil.copyfile(first["files"]["samples"], png)
    print(f"\n[demo] table in {out / 'comparison.md'}; solved mazes in {png}")
