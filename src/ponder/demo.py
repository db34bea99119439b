"""`make demo`: build mazes, train a recursive model (HRM, configs/demo.yaml) and the direct
baseline at equal parameters, judge both on held-out mazes, print a side-by-side table and
draw solved mazes; then the recursive model solves larger mazes by thinking longer.

The whole demo file, every run's config and every place the demo writes to (the run
directories, which it replaces only if they hold nothing but a run, and its output files)
are checked before the dataset is built, so a mistake costs nothing and leaves nothing
behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from ponder.config import RunConfig, load_config
from ponder.data import build_dataset
from ponder.errors import UserError
from ponder.eval.evaluate import format_side_by_side
from ponder.experiments.schema import parse_schema
from ponder.fileio import atomic_write_text, check_output_file, read_json_file, read_yaml_file
from ponder.limits import SEED_MAX
from ponder.models.base import FrozenConfig
from ponder.train.rundir import check_run_dir
from ponder.trained import evaluate_run, load_run

DEFAULT_DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
# In the demo's `out`, beside the runs: the table, the pictures (solved_larger.png only with
# an `extrapolate:` section) and the table's figures (results.json, rendered by format_results).
OUTPUT_FILES = ("comparison.md", "solved_mazes.png", "solved_larger.png", "results.json")
# Each run's figures that results.json keeps: those comparison.md's table shows, and n.
RESULT_KEYS = ("params", "n", "exact", "exact_ci_low", "exact_ci_high", "valid", "connected",
               "optimal", "path_f1", "cell_acc", "halt_steps_mean", "train_seconds",
               "precision")  # fmt: skip


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


class DemoExtrapolate(FrozenConfig):
    """`extrapolate:` of a demo file: after the comparison, the named run solves larger
    puzzles of the same task by thinking longer, and a few are drawn."""

    run: str
    out: str = Field(min_length=1)  # the larger puzzles' dataset, from the repository root
    size: int = Field(gt=0)
    min_path: int = Field(0, ge=0)
    count: int = Field(gt=0, le=1000)  # puzzles judged
    segments: int = Field(gt=0, le=1024)
    seed: int = Field(0, ge=0, le=SEED_MAX)
    draw: int = Field(6, ge=0, le=64)


class DemoSpec(FrozenConfig):
    dataset: DemoDataset
    runs: dict[str, str] = Field(min_length=1)  # run name -> preset, from the repository root
    out: str = Field(min_length=1)
    extrapolate: DemoExtrapolate | None = None

    @model_validator(mode="after")
    def _extrapolate_names_a_run(self) -> DemoSpec:
        if self.extrapolate is not None and self.extrapolate.run not in self.runs:
            raise ValueError(f"extrapolate.run '{self.extrapolate.run}' is not one of the runs")
        return self


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
    _check_outputs(out, configs)
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
    if spec.extrapolate is not None:
        more = spec.extrapolate
        judged = dict(reports)
        reports["larger"] = solve_larger(more, base, configs[more.run].resolved_run_dir(), out)
        _write_table(out, demo_results(judged, more, reports["larger"]))
    return reports


def solve_larger(more: DemoExtrapolate, base: Path, run_dir: Path, out: Path) -> dict:
    """The run, trained on the demo's small puzzles, judged on `more.count` larger ones at
    `more.segments` segments (exact by depth on the way); draws `more.draw` of them."""
    from ponder.eval.evaluate import write_samples_png

    data_dir = base / more.out
    print(f"[demo] solving {more.count} {more.size}x{more.size} mazes with {run_dir.name}, "
          f"trained on smaller ones, thinking up to {more.segments} segments", flush=True)  # fmt: skip
    build_dataset("maze", data_dir, train=1, test=more.count, seed=more.seed, size=more.size,
                  min_path=more.min_path)  # fmt: skip
    run = load_run(run_dir, data_dir)
    depth = run.objective.depth(run.runtime.device, segments=more.segments)
    with run.runtime.autocast():
        judged = run.objective.judge(run.model, run.data, depth)
    png = write_samples_png(run.data.task, run.data.test, judged.predictions, judged.details,
                            out / OUTPUT_FILES[2], more.draw)  # fmt: skip
    curve = ", ".join(f"{s}: {100 * e:.1f}%" for s, e in judged.report["exact_by_segments"].items())
    print(f"[demo] {more.size}x{more.size} exact by segments: {curve}; drawn in {png}")
    return judged.report


def _run_config(
    demo_path: Path, base: Path, name: str, preset: str, data_dir: Path, out: Path
) -> RunConfig:
    """A run's preset with the demo's dataset and run directory; errors name the run."""
    overrides = [f"data.path={data_dir}", f"run_dir={out / name}", f"name={name}"]
    try:
        return load_config(base / preset, overrides)
    except UserError as err:
        raise UserError(f"{demo_path}: run {name}: {err}") from None


def _check_outputs(out: Path, configs: dict[str, RunConfig]) -> None:
    """Every run directory may be replaced (it is new, or holds nothing but a run) and the
    demo's own files may be written, before anything is."""
    for config in configs.values():
        check_run_dir(config.resolved_run_dir(), overwrite=True)
    for name in OUTPUT_FILES:
        check_output_file(out / name, "demo output", overwrite=True)


def judge_run(run_dir: Path) -> dict:
    report = evaluate_run(load_run(run_dir))
    summary = read_json_file(run_dir / "summary.json")
    report["params"] = summary["params"]
    report["train_seconds"] = summary["train_seconds"]
    # `precision: auto` times both and keeps the faster, so the choice (and with bf16 the
    # kernels' rounding) depends on the CPU: the figures are exact only on one machine.
    report["precision"] = summary["precision"]["name"]
    return report


def demo_results(
    reports: dict[str, dict], more: DemoExtrapolate | None = None, larger: dict | None = None
) -> dict:
    """The figures of comparison.md's table, as results.json holds them: each run's, and
    after `extrapolate:` the larger puzzles' exact by segments. Passed through JSON, so the
    table rendered from this dict is the one rendered from the file (a curve's keys are
    strings there)."""
    models = {name: {k: r[k] for k in RESULT_KEYS if k in r} for name, r in reports.items()}
    results: dict[str, Any] = {"benchmark": "demo", "machine": machine(), "models": models}
    if more is not None and larger is not None:
        results["larger"] = {
            "run": more.run, "size": more.size, "min_path": more.min_path, "n": larger["n"],
            "exact_by_segments": larger["exact_by_segments"],
        }  # fmt: skip
    return json.loads(json.dumps(results))


def machine() -> dict[str, Any]:
    """What the demo's figures depend on besides the code: the CPU, its threads, torch."""
    import torch

    from ponder.train.precision import cpu_name

    return {"cpu": cpu_name(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def format_results(results: dict) -> str:
    """comparison.md's table from results.json's figures: the runs side by side, then the
    larger puzzles' curve in the column of the run that solved them, then the machine.
    benchmarks/render_docs.py renders the docs' copy of the table with this function too."""
    table = format_side_by_side(results["models"])
    larger = results.get("larger")
    if larger is not None:
        curve = larger["exact_by_segments"]
        side, depths = f"{larger['size']}x{larger['size']}", " / ".join(curve)
        label = f"{side} mazes (n {larger['n']}, paths >= {larger['min_path']}), exact at {depths}"
        cells = [" / ".join(f"{100 * e:.1f}%" for e in curve.values())
                 if name == larger["run"] else "" for name in results["models"]]  # fmt: skip
        table += f"\n| {label} segments | " + " | ".join(cells) + " |"
    where = results.get("machine")
    if where is not None:
        table += (
            f"\n\nMeasured on {where['cpu']}, {where['threads']} threads, torch {where['torch']}."
        )
    return table


def _write_table(out: Path, results: dict) -> str:
    """results.json and comparison.md, the table rendered from the figures beside it."""
    table = format_results(results)
    atomic_write_text(out / OUTPUT_FILES[3], json.dumps(results, indent=2) + "\n")
    atomic_write_text(out / OUTPUT_FILES[0], table + "\n")
    return table


def _finish(out: Path, reports: dict[str, dict]) -> None:
    table = _write_table(out, demo_results(reports))
    print("\n" + table)
    comparison, png = (out / name for name in OUTPUT_FILES[:2])
    first = next(iter(reports.values()))
    shutil.copyfile(first["files"]["samples"], png)
    print(f"\n[demo] table in {comparison} (figures in {OUTPUT_FILES[3]}); solved mazes in {png}")
