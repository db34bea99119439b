"""Few-shot skills benchmark (CPU scale): the puzzle-embedding TRM, encoder TRMs and the
champion sequence model, pass@2 on new instances of the trained skills ("seen") and on the
4 held-out skills ("unseen"), with the encoder collapse statistic.

    python benchmarks/skills.py [--out runs/skills_bench] [--threads 1] [--report-only]
        [--models trm_puzzle,trm_encoder,...] [--seeds 0,1,2]

Builds data/skills (canvas 8, 2000 training tasks, 200 + 200 test tasks) if missing, trains
each model that has no summary.json in <out>/<name> yet (so an interrupted benchmark goes on
where it stopped), and writes <out>/table.md and <out>/results.json. Every figure is read
from the runs' final evaluations on every test task. Seed 0 trains in <out>/<name>, seed s
in <out>/<name>-s<s>; a model with several seeds also gets its mean and range.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from runs import ponder, refuse  # noqa: E402

DATA = Path("data/skills")
DATA_ARGS = ["--size", "8", "--train", "2000", "--test", "200", "--seed", "0"]
ENCODER = "configs/skills_trm_encoder.yaml"
# name -> (preset, overrides)
MODELS = {
    "trm_puzzle": ("configs/skills_trm_puzzle.yaml", []),
    "trm_encoder": (ENCODER, []),
    "trm_attention": (ENCODER, ["model.demo_encoder.kind=attention"]),
    "trm_lpn_variational": (
        ENCODER,
        ["model.demo_encoder.kind=lpn_variational", "model.demo_encoder.num_layers=4"],
    ),
    "champion": ("configs/skills_champion.yaml", []),
    # part 11: a new instance in every batch row instead of the fixed 2000 tasks
    "trm_encoder_fresh": (ENCODER, ["data.fresh_tasks=true"]),
    "trm_memory_fresh": ("configs/skills_trm_memory.yaml", []),
    "trm_memory_wide": ("configs/skills_trm_memory_wide.yaml", []),
    "champion_fresh": ("configs/skills_champion.yaml", ["data.fresh_tasks=true"]),
}


def main() -> None:
    args = parse_args()
    if not args.report_only:
        if not DATA.is_dir():
            ponder("data", "build", "skills", "--out", str(DATA), *DATA_ARGS, threads=args.threads)
        for name in args.models:
            for seed in args.seeds:
                train_model(name, seed, args)
    runs = [(name, seed) for name in MODELS for seed in range(MAX_SEED + 1)]
    done = [(n, s) for n, s in runs if (run_dir_of(args.out, n, s) / "summary.json").is_file()]
    rows = [row(n, s, run_dir_of(args.out, n, s)) for n, s in done]  # unfinished: left out
    if not rows:
        refuse(f"no finished runs in {args.out}; run without --report-only first")
    results = {"benchmark": "skills", "rows": rows}
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = format_results(results)
    (args.out / "table.md").write_text(table + "\n")
    print(table)


def format_results(results: dict) -> str:
    """table.md's text from results.json (benchmarks/render_docs.py renders the docs' copy
    with it): one row per finished run, then each model's mean over seeds."""
    return markdown(results["rows"])


MAX_SEED = 9


def run_dir_of(out: Path, name: str, seed: int) -> Path:
    return out / name if seed == 0 else out / f"{name}-s{seed}"


def train_model(name: str, seed: int, args: argparse.Namespace) -> None:
    preset, overrides = MODELS[name]
    run_dir = run_dir_of(args.out, name, seed)
    if not (run_dir / "summary.json").is_file():
        print(f"training {name} seed {seed} ...", flush=True)
        ponder(
            "train", preset, *overrides, f"seed={seed}", f"run_dir={run_dir}", threads=args.threads
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/skills_bench"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--models", type=_model_names, default=list(MODELS), help="comma list (default: all)"
    )
    parser.add_argument("--seeds", type=_seeds, default=[0], help="comma list (default: 0)")
    return parser.parse_args()


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or not all(0 <= seed <= MAX_SEED for seed in seeds):
        raise argparse.ArgumentTypeError(f"seeds are whole numbers 0..{MAX_SEED}; got {text!r}")
    return seeds


def _model_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"models are {', '.join(MODELS)}; got {text!r}")
    return names


def row(name: str, seed: int, run_dir: Path) -> dict:
    """One run's figures from its summary.json and the last logged training statistics."""
    summary = json.loads((run_dir / "summary.json").read_text())
    final = summary["final_eval"]
    logged = _last_logged(run_dir / "metrics.jsonl")
    keys = ("seen_pass1", "seen_pass2", "unseen_pass1", "unseen_pass2", "seen_n", "unseen_n")
    out = {"model": name, "seed": seed, "params": summary["params"], "steps": summary["steps"]}
    out["train_seconds"] = summary["train_seconds"]
    out.update({k: final.get(k) for k in (*keys, "task_pass2", "val_loss")})
    out["collapse_spread"] = final.get("eval_encoder_spread_relative")
    out["collapse_cosine"] = final.get("eval_encoder_cosine")
    out["prefix_norm"] = logged.get("train/prefix_norm")
    return out


def _last_logged(path: Path) -> dict:
    last: dict = {}
    for line in path.read_text().splitlines():
        last.update({k: v for k, v in json.loads(line).items() if k.startswith("train/")})
    return last


def markdown(rows: list[dict]) -> str:
    def pct(value):
        return "" if value is None else f"{100 * value:.1f}"

    def num(value):
        return "" if value is None else f"{value:.3g}"

    lines = [
        "| model | seed | params | train s | seen pass@1 | seen pass@2 | unseen pass@1 | "
        "unseen pass@2 | val loss | encoder spread / size | encoder cosine | prefix norm |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['seed']} | {r['params']:,} | {r['train_seconds']:.0f} | "
            f"{pct(r['seen_pass1'])} | {pct(r['seen_pass2'])} | {pct(r['unseen_pass1'])} | "
            f"{pct(r['unseen_pass2'])} | {num(r['val_loss'])} | {num(r['collapse_spread'])} | "
            f"{num(r['collapse_cosine'])} | {num(r['prefix_norm'])} |"
        )
    n = rows[0]
    lines.append(f"\nn = {n['seen_n']:.0f} seen and {n['unseen_n']:.0f} unseen test tasks.")
    lines.extend(seed_summaries(rows))
    return "\n".join(lines)


def seed_summaries(rows: list[dict]) -> list[str]:
    """Mean and range of pass@2 for each model with more than one seed."""
    out = []
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        if len(mine) < 2:
            continue
        parts = []
        for key in ("seen_pass2", "unseen_pass2"):
            values = [100 * r[key] for r in mine]
            mean = sum(values) / len(values)
            parts.append(f"{key} {mean:.1f} ({min(values):.1f}-{max(values):.1f})")
        out.append(f"{name}, {len(mine)} seeds, mean (range): " + ", ".join(parts))
    return out


if __name__ == "__main__":
    main()
