"""Think longer on bigger mazes: train configs/maze_extrapolate.yaml on small mazes (several
seeds), then judge every seed on larger mazes of each family at several depths.

For each seed the preset trains once; each test set (family x side) is judged once with
`ponder eval RUN --data SET --segments MAX --json`, whose exact-by-segments curve gives
exact at 1, 2, 4, ... MAX segments from the same answers. Writes results.json, table.md (per
family and side: exact at each depth, mean over seeds, with the pooled 95% Wilson interval
at the deepest) and exact_vs_size.png to --out.

    .venv/bin/python benchmarks/maze_extrapolation.py --preset cpu --out runs/maze_extrapolation
    .venv/bin/python benchmarks/maze_extrapolation.py --report-only --out runs/maze_extrapolation

Shortest-path floors: perfect (dfs) mazes keep 0.115 x side^2 moves (110 at 31x31, the
Maze-Hard floor), mazes with loops and obstacle grids the floors in FAMILIES (their routes
are shorter: shortcuts, open space).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ponder.data import build_dataset
from runs import ponder, refuse, seed_spread

PRESET = Path("configs/maze_extrapolate.yaml")  # --config picks another (configs/maze_dt.yaml)
# The preset's training data: the demo's, 11x11 perfect mazes with paths of at least 10 moves.
# (Mixed sizes 7..15 on a 15x15 grid of walls were tried and gave no gain at twice the cost:
# README, "Thinking longer".)
TRAIN_DATA = {"size": 11, "min_path": 10, "train": 20000, "test": 200}
FAMILIES = {
    "dfs": {"params": {}, "floor": 0.115},
    "loops": {"params": {"loop_fraction": 0.1}, "floor": 0.06},
    "obstacles": {"params": {"family": "obstacles", "wall_density": 0.3}, "floor": 0.05},
}
PRESETS = {
    # the full grid: 500 mazes per set, up to 128 segments (many CPU hours)
    "full": {"seeds": [0, 1, 2], "segments": 128, "steps": None,
             "sets": {"dfs": {s: 500 for s in (11, 15, 21, 31, 45, 59)},
                      "loops": {31: 500}, "obstacles": {30: 500}}},
    # what fits a CPU session (about 15 min on one core per seed): fewer mazes
    "cpu": {"seeds": [0, 1, 2], "segments": 128, "steps": None,
            "sets": {"dfs": {11: 200, 15: 200, 21: 200, 31: 200, 45: 50, 59: 50},
                     "loops": {31: 100}, "obstacles": {30: 100}}},
    # DeepThinking (--config configs/maze_dt.yaml): one segment is one iteration, so deeper
    "dt": {"seeds": [0, 1, 2], "segments": 512, "steps": None, "stable_k": 8,
           "sets": {"dfs": {11: 200, 31: 200, 59: 100}}},
    # two sets and half the depth, to compare recipes over 3 seeds in a CPU session
    "dt-compare": {"seeds": [0, 1, 2], "segments": 256, "steps": None, "stable_k": 8,
                   "sets": {"dfs": {11: 200, 31: 200}}},
    "smoke": {"seeds": [0], "segments": 4, "steps": 4,
              "sets": {"dfs": {9: 8, 13: 8}, "loops": {13: 8}, "obstacles": {12: 8}}},
}  # fmt: skip


def min_path(family: str, side: int) -> int:
    return round(FAMILIES[family]["floor"] * side * side)


def build_sets(preset: dict, root: Path, train: Path | None = None) -> dict[str, Path]:
    """The training set (`train`, or built) and every test set (family x side), built once
    and reused."""
    sets = {"train": train or _build(root / "train11", seed=0, test=TRAIN_DATA["test"], **{
        k: v for k, v in TRAIN_DATA.items() if k != "test"})}  # fmt: skip
    for family, sides in preset["sets"].items():
        for side, count in sides.items():
            params = {
                **FAMILIES[family]["params"],
                "size": side,
                "min_path": min_path(family, side),
            }
            sets[f"{family}{side}"] = _build(
                root / f"{family}{side}", seed=1, train=1, test=count, **params
            )
    return sets


def _build(out: Path, **recipe) -> Path:
    return build_dataset("maze", out, **recipe)


def train_seed(seed: int, preset: dict, data: Path, out: Path, threads: int) -> dict:
    """Train one seed into out/seed<N>; with preset["reuse"], a seed whose run there has
    finished (summary.json) is read back, not trained again."""
    run_dir = out / f"seed{seed}"
    if preset.get("reuse") and (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
        return {"seed": seed, "run_dir": str(run_dir), "params": summary["params"],
                "train_seconds": summary["train_seconds"], "reused": True}  # fmt: skip
    overrides = [f"seed={seed}", f"data.path={data}", f"run_dir={run_dir}", "device=cpu"]
    if preset["steps"]:
        overrides.append(f"train.steps={preset['steps']}")
    overrides += preset.get("overrides", [])
    started = time.perf_counter()
    ponder("train", str(preset["config"]), *overrides, "--overwrite", threads=threads)
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"seed": seed, "run_dir": str(run_dir), "params": summary["params"],
            "train_seconds": summary["train_seconds"], "wall_seconds": time.perf_counter() - started}  # fmt: skip


def judge(run_dir: str, test_set: Path, segments: int, threads: int, stable_k: int = 0) -> dict:
    """Exact by depth up to `segments`; with `stable_k`, also `--segments auto --halt
    stable` capped at `segments`: the stop rule's precision and the segments it used."""
    done = ponder("eval", run_dir, "--data", str(test_set), "--segments", str(segments),
                  "--json", threads=threads)  # fmt: skip
    report = json.loads(done.stdout)
    keep = ("n", "exact", "halt_steps_mean", "halted_early", "halt_precision", "exact_by_segments")
    judged = {k: report.get(k) for k in keep}
    if stable_k:
        done = ponder("eval", run_dir, "--data", str(test_set), "--segments", "auto", "--halt",
                      "stable", "--stable-k", str(stable_k), "--max-segments", str(segments),
                      "--json", threads=threads)  # fmt: skip
        auto = json.loads(done.stdout)
        judged["stable"] = {k: auto.get(k) for k in ("exact", "halt_steps_mean", "halted_early",
                                                      "halt_precision")}  # fmt: skip
    return judged


def summarise(results: list[dict], depths: list[str]) -> dict:
    """Per test set and depth: exact per seed, mean, sd, pooled Wilson interval."""
    table: dict = {}
    for name in dict.fromkeys(r["set"] for r in results):
        mine = [r for r in results if r["set"] == name]
        n = sum(r["n"] for r in mine)
        row = {}
        for depth in depths:
            at_depth = [{"exact": r["exact_by_segments"][depth], "n": r["n"]} for r in mine]
            mean, sd, ci, _ = seed_spread(at_depth)
            row[depth] = {"per_seed": [r["exact"] for r in at_depth], "mean": mean, "sd": sd,
                          "ci": ci}  # fmt: skip
        table[name] = {"n": n, "depths": row, "halt_precision": [r["halt_precision"] for r in mine]}
        if all("stable" in r for r in mine):
            table[name]["stable"] = {
                key: _mean([r["stable"][key] for r in mine])
                for key in ("exact", "halt_precision", "halt_steps_mean", "halted_early")
            }
    return table


def _mean(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def overthinking(row: dict, depths: list[str]) -> dict:
    """The depth where the mean exact peaks (the first that reaches the maximum), and exact
    at 2x, 4x and 8x that depth where the curve goes so deep (None beyond it)."""
    means = {int(d): row["depths"][d]["mean"] for d in depths}
    peak = min(d for d, m in means.items() if m == max(means.values()))
    return {"peak": peak, "at_peak": means[peak],
            **{f"x{k}": means.get(peak * k) for k in (2, 4, 8)}}  # fmt: skip


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def stop_and_overthinking_table(table: dict, depths: list[str]) -> str:
    """Per set: the stable rule's exact, precision and segments used; where exact peaks,
    and exact at 2x / 4x / 8x that depth ("-": not judged that deep)."""
    lines = ["| test set | stable rule: exact | precision | mean segments | peak depth | "
             "exact at peak | 2x | 4x | 8x |", "|---" * 9 + "|"]  # fmt: skip
    for name, row in table.items():
        stable = row.get("stable") or {}
        over = overthinking(row, depths)
        segments = stable.get("halt_steps_mean")
        lines.append(
            f"| {name} | {_pct(stable.get('exact'))} | {_pct(stable.get('halt_precision'))} | "
            f"{'-' if segments is None else f'{segments:.1f}'} | {over['peak']} | "
            f"{_pct(over['at_peak'])} | {_pct(over['x2'])} | {_pct(over['x4'])} | "
            f"{_pct(over['x8'])} |"
        )
    return "\n".join(lines)


def shown_depths(depths: list[str]) -> list[str]:
    """The depths worth a column: 8 segments (the training depth) and more."""
    return [d for d in depths if int(d) >= 8] or depths[-1:]


def markdown(table: dict, depths: list[str]) -> str:
    shown = shown_depths(depths)
    head = "| test set | n per seed | " + " | ".join(f"{d} seg." for d in shown)
    lines = [head + f" | {shown[-1]} seg. per seed | pooled 95% CI at {shown[-1]} |",
             "|---" * (len(shown) + 4) + "|"]  # fmt: skip
    for name, row in table.items():
        cells = [f"{100 * row['depths'][d]['mean']:.1f}" for d in shown]
        deepest = row["depths"][shown[-1]]
        seeds = " / ".join(f"{100 * e:.1f}" for e in deepest["per_seed"])
        lo, hi = deepest["ci"]
        n_seed = row["n"] // max(1, len(deepest["per_seed"]))
        lines.append(
            f"| {name} | {n_seed} | "
            + " | ".join(cells)
            + f" | {seeds} | {100 * lo:.1f}-{100 * hi:.1f} |"
        )
    return "\n".join(lines)


def plot(table: dict, depths: list[str], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    dfs = {int(name[3:]): row for name, row in table.items() if name.startswith("dfs")}
    sides = sorted(dfs)
    for depth in shown_depths(depths):
        means = [100 * dfs[s]["depths"][depth]["mean"] for s in sides]
        low = [100 * dfs[s]["depths"][depth]["ci"][0] for s in sides]
        high = [100 * dfs[s]["depths"][depth]["ci"][1] for s in sides]
        ax.plot(sides, means, marker="o", label=f"{depth} segments")
        ax.fill_between(sides, low, high, alpha=0.15)
    ax.axvline(TRAIN_DATA["size"], color="grey", linestyle=":", label="training maze size")
    ax.set(xlabel="maze side (cells)", ylabel="exact, %", ylim=(0, 101),
           title="Perfect mazes: trained on 11x11, judged larger")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "exact_vs_size.png"
    fig.savefig(path, dpi=120)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", choices=list(PRESETS), default="cpu")
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=Path("runs/maze_extrapolation"))
    parser.add_argument("--data", type=Path, default=Path("data/maze_extrapolation"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config", type=Path, default=PRESET, help="the recipe trained")
    parser.add_argument("--segments", type=int, default=None, help="deepest judged depth")
    parser.add_argument("--report-only", action="store_true", help="redraw from results.json")
    parser.add_argument("--reuse", action="store_true",
                        help="judge a seed already trained in --out/seed<N> instead of training it")  # fmt: skip
    parser.add_argument("--train-data", type=Path, default=None,
                        help="the training dataset (default: built under --data)")  # fmt: skip
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a config override for training, e.g. grid.loss_cells=open (repeatable)")  # fmt: skip
    args = parser.parse_args()
    out = args.out
    if args.report_only:
        if not (out / "results.json").is_file():
            refuse(f"no results.json in {out}: run the benchmark first")
        results = json.loads((out / "results.json").read_text())
    else:
        preset = {**PRESETS[args.preset], "config": str(args.config)}
        if args.segments:
            preset["segments"] = args.segments
        preset["reuse"] = args.reuse
        preset["overrides"] = args.override
        results = run(preset, args, out)
    depths = list(results["runs"][0]["exact_by_segments"])
    table = summarise(results["runs"], depths)
    text = format_results(results)
    (out / "table.md").write_text(text + "\n")
    print(text)
    print(f"wrote {out / 'table.md'} and {plot(table, depths, out)}")


def format_results(results: dict) -> str:
    """table.md's text from results.json (benchmarks/render_docs.py renders the docs' copy
    with it): per test set, exact at each depth of the judgements' curves."""
    depths = list(results["runs"][0]["exact_by_segments"])
    table = summarise(results["runs"], depths)
    return markdown(table, depths) + "\n\n" + stop_and_overthinking_table(table, depths)


def run(preset: dict, args, out: Path) -> dict:
    """Train each seed, then judge it on every test set; results.json is rewritten after
    every judgement, so an interrupted benchmark keeps what it measured."""
    out.mkdir(parents=True, exist_ok=True)
    sets = build_sets(preset, args.data, args.train_data)
    seeds = args.seeds if args.seeds else preset["seeds"]
    results: dict = {"benchmark": "maze_extrapolation", "preset": preset, "trained": [],
                     "runs": []}  # fmt: skip
    for seed in seeds:
        seed_run = train_seed(seed, preset, sets["train"], out, args.threads)
        results["trained"].append(seed_run)
        for name, path in sets.items():
            if name == "train":
                continue
            judged = judge(seed_run["run_dir"], path, preset["segments"], args.threads,
                           preset.get("stable_k", 0))  # fmt: skip
            results["runs"].append({"set": name, "seed": seed, **judged})
            print(f"seed {seed} {name}: exact {100 * judged['exact']:.1f}%", flush=True)
            (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
