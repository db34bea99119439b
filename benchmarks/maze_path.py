"""Path-sequence mazes at matched parameter counts: the direct transformer against PoH and
TRM, each resized to the transformer's parameter count (ponder.parity, depth held, width
searched), several seeds each, judged on every test maze by the maze verifier.

    parity:  12x12 grids (walls are cells), transformer vs PoH vs TRM at equal parameters
    scaling: 16x16 grids, the same models at several sizes (the transformer's width sets
             each size; the others are matched to it)

Writes results.json, a markdown table (with 95% CIs and steps/s) and accuracy-vs-parameters
PNG to --out. `--preset cpu` finishes in under 30 minutes on 2 cores (small models, few
steps); `--preset gpu` is the full-scale version.

    .venv/bin/python benchmarks/maze_path.py parity --preset cpu --out runs/maze_path_parity
    .venv/bin/python benchmarks/maze_path.py scaling --preset gpu --out runs/maze_path_scaling
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from ponder.config import config_from_dict, dump_config, load_config
from ponder.data import build_dataset
from ponder.parity import match_parameters
from ponder.runs import open_run_data
from runs import markdown, refuse, seconds_per_step, summarise, train_and_judge

# Per benchmark and preset: grid side, train / test mazes, min path, steps, batch, the
# transformer widths (each sets one size; heads = width / 16, so head dim stays 16), seeds
# and the models run by default. CPU figures: 2 cores, 2 runs at a time, 1 thread each.
PRESETS = {
    "parity": {
        # about 25 min: 9 runs, TRM and PoH ~1.7-2x the transformer's step time
        "cpu": {"size": 12, "train": 10000, "test": 1000, "min_path": 10, "steps": 700,
                "batch": 32, "widths": [64], "seeds": [0, 1, 2],
                "models": ["transformer", "poh", "trm"]},
        "gpu": {"size": 12, "train": 100000, "test": 1000, "min_path": 10, "steps": 20000,
                "batch": 256, "widths": [256], "seeds": [0, 1, 2],
                "models": ["transformer", "poh", "trm"]},
        "smoke": {"size": 8, "train": 200, "test": 50, "min_path": 4, "steps": 5, "batch": 8,
                  "widths": [32], "seeds": [0], "models": ["transformer", "poh", "trm"]},
    },
    "scaling": {
        # about 25 min: at 16x16 attention over 256 cells dominates, so the CPU sizes are
        # small and PoH (the slowest per step) is left to --models
        "cpu": {"size": 16, "train": 10000, "test": 1000, "min_path": 10, "steps": 900,
                "batch": 32, "widths": [16, 32], "seeds": [0, 1, 2],
                "models": ["transformer", "trm"]},
        "gpu": {"size": 16, "train": 100000, "test": 1000, "min_path": 10, "steps": 20000,
                "batch": 256, "widths": [64, 128, 256, 512], "seeds": [0, 1, 2],
                "models": ["transformer", "poh", "trm"]},
        "smoke": {"size": 8, "train": 200, "test": 50, "min_path": 4, "steps": 5, "batch": 8,
                  "widths": [16, 32], "seeds": [0], "models": ["transformer", "trm"]},
    },
}  # fmt: skip
CONFIGS = {
    "transformer": "configs/path_transformer.yaml",
    "poh": "configs/path_poh.yaml",
    "trm": "configs/path_trm.yaml",
}


def dataset(size: int, preset: dict, root: Path) -> Path:
    out = root / f"maze{size}_path"
    build_dataset("maze", out, train=preset["train"], test=preset["test"], seed=0, size=size,
                  min_path=preset["min_path"])  # fmt: skip
    return out


def matched_configs(data: Path, width: int, preset: dict, out: Path) -> dict[str, Path]:
    """The three presets on `data`, the transformer at `width`, the others resized to its
    parameter count; written to `out` so every run's config can be inspected."""
    common = [f"data.path={data}", f"train.steps={preset['steps']}",
              f"train.global_batch_size={preset['batch']}"]  # fmt: skip
    heads = [f"model.num_heads={max(1, width // 16)}"]
    reference = load_config(CONFIGS["transformer"], [*common, *heads, f"model.hidden_size={width}"])
    spec = open_run_data(reference)[0].spec
    paths = {}
    for name, preset_path in CONFIGS.items():
        if name == "transformer":
            config = reference
        else:  # PoH's heads follow the width too; TRM's conv mixer has none
            config = load_config(preset_path, [*common, *(heads if name == "poh" else [])])
            match = match_parameters(reference.model, config.model, spec, accept_closest=True)
            print(
                f"{name} at width {width}: {match.changed}, {match.candidate_params:,} params "
                f"({100 * match.relative_gap:+.1f}% of {match.reference_params:,})",
                flush=True,
            )
            raw = yaml.safe_load(dump_config(config))
            raw["model"] = match.candidate.model_dump(mode="json")
            config = config_from_dict(raw)
        paths[name] = out / f"{name}_w{width}.yaml"
        paths[name].write_text(dump_config(config))
    return paths


def run_all(jobs: list[tuple[str, Path, int]], out: Path, args) -> list[dict]:
    def one(job):
        name, config, seed = job
        run_dir = out / f"{config.stem}_seed{seed}"
        return {
            **train_and_judge(name, config, [f"seed={seed}"], run_dir, args.threads),
            "seed": seed,
        }

    with ThreadPoolExecutor(args.parallel) as pool:
        return list(pool.map(one, jobs))


def plot(runs: list[dict], path: Path, title: str) -> None:
    """Each run's exact % as a faint dot, each (model, size) mean with its pooled 95% CI as
    a bar; log-scaled parameters only when the sizes span more than 2x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == name]
        rows = summarise([{**r, "model": r["params"]} for r in mine])  # per size
        sizes = sorted(rows)
        means = [100 * rows[n]["exact_mean"] for n in sizes]
        low = [m - 100 * rows[n]["pooled_ci"][0] for m, n in zip(means, sizes, strict=True)]
        high = [100 * rows[n]["pooled_ci"][1] - m for m, n in zip(means, sizes, strict=True)]
        line = ax.errorbar(sizes, means, yerr=[low, high], marker="o", capsize=3, label=name)
        dots = [(r["params"], 100 * r["exact"]) for r in mine]
        ax.scatter(*zip(*dots, strict=True), color=line[0].get_color(), alpha=0.3, s=12)
    params = [r["params"] for r in runs]
    if max(params) > 2 * min(params):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 10k, 20k, 50k, ...
    else:  # a parity plot: sizes within a few percent, a handful of ticks
        ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("parameters")
    ax.set_ylabel("exact % (test mazes)")
    ax.set_ylim(-2, 102)
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary_table(runs: list[dict]) -> dict:
    """Per model and size (a model's name with its parameter count): seeds and pooled CI."""
    return summarise([{**r, "model": f"{r['model']} ({r['params']:,})"} for r in runs])


def format_results(result: dict) -> str:
    """table.md's text from results.json (benchmarks/render_docs.py renders the docs' copy
    with it): the summary table, then each config's steps/s."""
    speed = json.dumps({k: round(v, 2) for k, v in result["steps_per_s"].items()})
    return markdown(summary_table(result["runs"])) + "\n\nsteps/s (1 thread): " + speed


def report(result: dict, out: Path) -> str:
    """Write results.json, table.md and the plot for `result`; the table's text."""
    result.setdefault("benchmark", "maze_path")  # results.json written before it was named
    result["table"] = summary_table(result["runs"])
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    text = format_results(result)
    (out / "table.md").write_text(text + "\n")
    title = f"{result['grid']}x{result['grid']} mazes, preset {result['preset']}"
    plot(result["runs"], out / "exact_vs_params.png", title)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["parity", "scaling"])
    parser.add_argument("--preset", choices=["cpu", "gpu", "smoke"], default="cpu")
    parser.add_argument("--models", nargs="+", choices=list(CONFIGS), help="default: the preset's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite table and plot from --out's results.json, train nothing",
    )
    args = parser.parse_args()
    preset = PRESETS[args.what][args.preset]
    out = args.out or Path("runs") / f"maze_path_{args.what}_{args.preset}"
    if args.report_only:
        if not (out / "results.json").is_file():
            refuse(f"no results.json in {out}: run the benchmark there first")
        print(report(json.loads((out / "results.json").read_text()), out))
        return
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    size = preset["size"]
    data = dataset(size, preset, args.data_root)
    jobs, speed = [], {}
    models = args.models or preset["models"]
    for width in preset["widths"]:
        configs = matched_configs(data, width, preset, out)
        for name in models:
            speed[configs[name].stem] = 1 / seconds_per_step(configs[name], [], args.threads)
            jobs += [(name, configs[name], seed) for seed in preset["seeds"]]
    jobs.sort(key=lambda job: speed[job[1].stem])  # slowest first: the pool ends together
    runs = sorted(run_all(jobs, out, args), key=lambda r: (models.index(r["model"]), r["params"]))
    result = {"benchmark": "maze_path", "preset": args.preset, "grid": size,
              "steps_per_s": speed, "runs": runs,
              "wall_minutes": (time.time() - started) / 60}  # fmt: skip
    print(report(result, out))


if __name__ == "__main__":
    main()
