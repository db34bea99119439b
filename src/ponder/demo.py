"""`make demo`: build mazes, train TRM and the direct baseline at equal parameters, judge
both on held-out mazes, print a side-by-side table and draw solved mazes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from ponder.config import load_config
from ponder.data import build_dataset
from ponder.errors import UserError
from ponder.eval.evaluate import format_side_by_side
from ponder.eval.run import evaluate_run
from ponder.fileio import atomic_write_text

DEFAULT_DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def read_demo_spec(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"demo config not found: {path}")
    spec = yaml.safe_load(path.read_text()) or {}
    for key in ("dataset", "runs", "out"):
        if key not in spec:
            raise UserError(f"demo config {path} lacks '{key}'")
    return spec


def run_demo(path: str | Path | None = None) -> dict[str, dict]:
    from ponder.train.launch import train

    demo_path = Path(path) if path else DEFAULT_DEMO
    spec = read_demo_spec(demo_path)
    base = demo_path.parent.parent  # repository root: presets are named relative to it
    ds = dict(spec["dataset"])
    data_dir = base / ds.pop("out")
    task = ds.pop("task")
    print(f"[demo] building {task} dataset in {data_dir}", flush=True)
    build_dataset(task, data_dir, **ds)
    out = base / spec["out"]
    reports: dict[str, dict] = {}
    for name, preset in spec["runs"].items():
        overrides = [f"data.path={data_dir}", f"run_dir={out / name}", f"name={name}"]
        config = load_config(base / preset, overrides)
        print(f"[demo] training {name} ({preset})", flush=True)
        run_dir = train(config, overwrite=True)
        reports[name] = judge_run(run_dir)
    _finish(out, reports)
    return reports


def judge_run(run_dir: Path) -> dict:
    report = evaluate_run(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
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
