"""Sudoku benchmark: the oracle's and the generator's speed, then TRM (MLP mixer and
attention), HRM and the direct transformer at matched parameters on a CPU preset, several
seeds each, exact judged by the rules verifier on every test puzzle.

    .venv/bin/python benchmarks/sudoku.py --preset smoke   # about a minute: checks the plumbing
    .venv/bin/python benchmarks/sudoku.py --preset full    # the README's table (~45 min, 1 thread)

Runs go one at a time on `--threads` threads (default 1). Results: `<out>/results.json` and
`<out>/table.md` (default out: runs/sudoku_bench_<preset>).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ponder.tasks.sudoku_solver import generate_puzzle, search
from runs import markdown, ponder, refuse, summarise, train_and_judge

# Twenty of the hardest known 9x9 puzzles (the set of attractivechaos's solver benchmark,
# many from the forum's "hardest" lists): a stress test, far harder on average than
# magictour's top1465, on which tdoku reports 121,896 puzzles/s.
HARDEST = """\
..............3.85..1.2.......5.7.....4...1...9.......5......73..2.1........4...9
.......12........3..23..4....18....5.6..7.8.......9.....85.....9...4.5..47...6...
.2..5.7..4..1....68....3...2....8..3.4..2.5.....6...1...2.9.....9......57.4...9..
........3..1..56...9..4..7......9.5.7.......8.5.4.2....8..2..9...35..1..6........
12.3....435....1....4........54..2..6...7.........8.9...31..5.......9.7.....6...8
1.......2.9.4...5...6...7...5.9.3.......7.......85..4.7.....6...3...9.8...2.....1
.......39.....1..5..3.5.8....8.9...6.7...2...1..4.......9.8..5..2....6..4..7.....
12.3.....4.....3....3.5......42..5......8...9.6...5.7...15..2......9..6......7..8
..3..6.8....1..2......7...4..9..8.6..3..4...1.7.2.....3....5.....5...6..98.....5.
1.......9..67...2..8....4......75.3...5..2....6.3......9....8..6...4...1..25...6.
..9...4...7.3...2.8...6...71..8....6....1..7.....56...3....5..1.4.....9...2...7..
....9..5..1.....3...23..7....45...7.8.....2.......64...9..1.....8..6......54....7
4...3.......6..8..........1....5..9..8....6...7.2........1.27..5.3....4.9........
7.8...3.....2.1...5.........4.....263...8.......1...9..9.6....4....7.5...........
3.7.4...........918........4.....7.....16.......25..........38..9....5...2.6.....
........8..3...4...9..2..6.....79.......612...6.5.2.7...8...5...1.....2.4.5.....3
.......1.4.........2...........5.4.7..8...3....1.9....3..4..2...5.1........8.6...
.......12....35......6...7.7.....3.....4..8..1...........12.....8.....4..5....6..
1.......2.9.4...5...6...7...5.3.4.......6........58.4...2...6...3...9.8.7.......1
.....1.2.3...4.5.....6....7..2.....1.8..9..3.4.....8..5....2....9..3.4....67.....
"""

# The first 40 of magictour's top95 (the set Norvig's essay solves): hard, but of the kind
# of top1465, the set tdoku's 121,896 puzzles/s is measured on.
TOP95_FIRST40 = """\
4.....8.5.3..........7......2.....6.....8.4......1.......6.3.7.5..2.....1.4......
52...6.........7.13...........4..8..6......5...........418.........3..2...87.....
6.....8.3.4.7.................5.4.7.3..2.....1.6.......2.....5.....8.6......1....
48.3............71.2.......7.5....6....2..8.............1.76...3.....4......5....
....14....3....2...7..........9...3.6.1.............8.2.....1.4....5.6.....7.8...
......52..8.4......3...9...5.1...6..2..7........3.....6...1..........7.4.......3.
6.2.5.........3.4..........43...8....1....2........7..5..27...........81...6.....
.524.........7.1..............8.2...3.....6...9.5.....1.6.3...........897........
6.2.5.........4.3..........43...8....1....2........7..5..27...........81...6.....
.923.........8.1...........1.7.4...........658.........6.5.2...4.....7.....9.....
6..3.2....5.....1..........7.26............543.........8.15........4.2........7..
.6.5.1.9.1...9..539....7....4.8...7.......5.8.817.5.3.....5.2............76..8...
..5...987.4..5...1..7......2...48....9.1.....6..2.....3..6..2.......9.7.......5..
3.6.7...........518.........1.4.5...7.....6.....2......2.....4.....8.3.....5.....
1.....3.8.7.4..............2.3.1...........958.........5.6...7.....8.2...4.......
6..3.2....4.....1..........7.26............543.........8.15........4.2........7..
....3..9....2....1.5.9..............1.2.8.4.6.8.5...2..75......4.1..6..3.....4.6.
45.....3....8.1....9...........5..9.2..7.....8.........1..4..........7.2...6..8..
.237....68...6.59.9.....7......4.97.3.7.96..2.........5..47.........2....8.......
..84...3....3.....9....157479...8........7..514.....2...9.6...2.5....4......9..56
.98.1....2......6.............3.2.5..84.........6.........4.8.93..5...........1..
..247..58..............1.4.....2...9528.9.4....9...1.........3.3....75..685..2...
4.....8.5.3..........7......2.....6.....5.4......1.......6.3.7.5..2.....1.9......
.2.3......63.....58.......15....9.3....7........1....8.879..26......6.7...6..7..4
1.....7.9.4...72..8.........7..1..6.3.......5.6..4..2.........8..53...7.7.2....46
4.....3.....8.2......7........1...8734.......6........5...6........1.4...82......
.......71.2.8........4.3...7...6..5....2..3..9........6...7.....8....4......5....
6..3.2....4.....8..........7.26............543.........8.15........8.2........7..
.47.8...1............6..7..6....357......5....1..6....28..4.....9.1...4.....2.69.
......8.17..2........5.6......7...5..1....3...8.......5......2..4..8....6...3....
38.6.......9.......2..3.51......5....3..1..6....4......17.5..8.......9.......7.32
...5...........5.697.....2...48.2...25.1...3..8..3.........4.7..13.5..9..2...31..
.2.......3.5.62..9.68...3...5..........64.8.2..47..9....3.....1.....6...17.43....
.8..4....3......1........2...5...4.69..1..8..2...........3.9....6....5.....2.....
..8.9.1...6.5...2......6....3.1.7.5.........9..4...3...5....2...7...3.8.2..7....4
4.....5.8.3..........7......2.....6.....5.8......1.......6.3.7.5..2.....1.8......
1.....3.8.6.4..............2.3.1...........958.........5.6...7.....8.2...4.......
1....6.8..64..........4...7....9.6...7.4..5..5...7.1...5....32.3....8...4........
249.6...3.3....2..8.......5.....6......2......1..4.82..9.5..7....4.....1.7...3...
...8....9.873...4.6..7.......85..97...........43..75.......3....3...145.4....2..1
"""

# name -> (preset, overrides). 6x6 parameters: 89,793 / 87,781 / 87,842 / 87,781.
MODELS = {
    "trm_mlp": ("configs/sudoku6_trm.yaml", []),
    "trm_attention": (
        "configs/sudoku6_trm.yaml",
        [
            "model.mixer=attention",
            "model.pos_encoding=rope2d",
            "model.hidden_size=60",
            "model.num_heads=3",
        ],
    ),  # fmt: skip
    "hrm": ("configs/sudoku6_hrm.yaml", []),
    "transformer": ("configs/sudoku6_transformer.yaml", []),
}
# Not in the default set: HRM and the transformer with TRM's MLP mixer (width 64; 89,858 and
# 89,793 parameters), which tell the mixer's share of the gap from the recursion's.
MLP_MIXER = [
    "model.mixer=mlp",
    "model.pos_encoding=none",
    "model.hidden_size=64",
    "model.num_heads=2",
]
EXTRA_MODELS = {
    "hrm_mlp": ("configs/sudoku6_hrm.yaml", MLP_MIXER),
    "transformer_mlp": ("configs/sudoku6_transformer.yaml", MLP_MIXER),
}
# Grid size and dataset, training steps per run, seeds, hard puzzles timed (top95: twice
# as many), 9x9 puzzles generated for the generator's timing.
PRESETS = {
    "smoke": dict(size=4, train=500, test=50, steps=40, seeds=[0], hard=5, generate=100),
    "full": dict(
        size=6, train=20000, test=1000, steps=1000, seeds=[0, 1, 2], hard=20, generate=10000
    ),
}


def digits(line: str) -> list[int]:
    return [0 if ch == "." else int(ch) for ch in line.strip()]


def rate(puzzles: list[list[int]], limit: int) -> dict:
    """Puzzles per second solving each (counting solutions up to `limit`), mean guesses.
    One untimed call first: the compiled search loads (or compiles) on its first use."""
    search(puzzles[0], 9, limit=limit)
    start = time.perf_counter()
    results = [search(p, 9, limit=limit) for p in puzzles]
    seconds = time.perf_counter() - start
    assert all(r.count == 1 for r in results), "a benchmark puzzle is not unique"
    return {"puzzles": len(puzzles), "per_second": len(puzzles) / seconds,
            "mean_guesses": float(np.mean([r.guesses for r in results]))}  # fmt: skip


def oracle_benchmark(cfg: dict) -> dict:
    hardest = [digits(line) for line in HARDEST.splitlines()[: cfg["hard"]]]
    rng = np.random.default_rng(0)
    rated = [generate_puzzle(rng, 9, None, 5, 1000)[0] for _ in range(cfg["hard"])]
    top95 = [digits(line) for line in TOP95_FIRST40.splitlines()[: 2 * cfg["hard"]]]
    out = {
        "top95_solve": rate(top95, 1),
        "top95_unique": rate(top95, 2),
        "hardest_solve": rate(hardest, 1),
        "hardest_unique": rate(hardest, 2),
        "generated_rating5_unique": rate(rated, 2),
    }
    for clues in (None, 30):
        start = time.perf_counter()
        for _ in range(cfg["generate"]):
            generate_puzzle(rng, 9, clues, 0, 1000)
        seconds = time.perf_counter() - start
        out[f"generate_{clues or 'minimal'}"] = {"puzzles": cfg["generate"], "seconds": seconds}
    return out


def ensure_data(cfg: dict, path: Path, threads: int) -> Path:
    if not (path / "ponder.json").is_file():
        ponder("data", "build", "sudoku", "--size", str(cfg["size"]), "--train", str(cfg["train"]),
               "--test", str(cfg["test"]), "--seed", "0", "--out", str(path), threads=threads)  # fmt: skip
    return path


def previous_runs(path: Path, results: dict) -> list[dict]:
    """Finished runs of an earlier call with the same preset (its oracle figures go into
    `results`); none when there is no such file."""
    if not path.is_file():
        return []
    old = json.loads(path.read_text())
    if old.get("config") != results["config"]:
        refuse(f"{path} holds another preset's results; pass another --out")
    if "oracle" in old:
        results["oracle"] = old["oracle"]
    return old.get("runs", [])


def time_oracle_only(cfg: dict, path: Path, results: dict) -> None:
    """Re-time the oracle into results.json, keeping the runs it holds."""
    previous = json.loads(path.read_text()) if path.is_file() else {}
    if previous and previous.get("config") != cfg:
        refuse(f"{path} holds another preset's results; pass another --out")
    results = {**results, **previous, "oracle": oracle_benchmark(cfg)}
    path.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["oracle"], indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=list(PRESETS), default="smoke")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=None, help="default: data/sudoku<size>")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--skip-oracle", action="store_true")
    parser.add_argument(
        "--oracle-only",
        action="store_true",
        help="time the oracle and the generator only (into <out>/results.json, runs kept)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the runs (and oracle figures) already in <out>/results.json; train the rest",
    )
    args = parser.parse_args()
    known = {**MODELS, **EXTRA_MODELS}
    unknown = [m for m in args.models if m not in known]
    if unknown:
        refuse(f"unknown model {unknown[0]!r}; known: {', '.join(known)}")
    cfg = PRESETS[args.preset]
    out = args.out or Path(f"runs/sudoku_bench_{args.preset}")
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"benchmark": "sudoku", "preset": args.preset, "config": cfg,
                     "threads": args.threads}  # fmt: skip
    if args.oracle_only:
        return time_oracle_only(cfg, out / "results.json", results)
    done = previous_runs(out / "results.json", results) if args.reuse else []
    if not args.skip_oracle and "oracle" not in results:
        results["oracle"] = oracle_benchmark(cfg)
        print(json.dumps(results["oracle"], indent=1), flush=True)
    suffix = "" if args.preset == "full" else f"_{args.preset}"
    data = ensure_data(cfg, args.data or Path(f"data/sudoku{cfg['size']}{suffix}"), args.threads)
    runs = list(done)
    for seed in cfg["seeds"]:
        for name in args.models:
            if any(r["model"] == name and r["seed"] == seed for r in done):
                continue
            preset, extra = known[name]
            overrides = [*extra, f"data.path={data}", f"seed={seed}", f"train.steps={cfg['steps']}",
                         f"data.seq_len={cfg['size'] ** 2}", "eval.samples_png=2"]  # fmt: skip
            run = train_and_judge(name, preset, overrides, out / f"{name}_seed{seed}", args.threads)
            runs.append({**run, "seed": seed})
            print(f"{name} seed {seed}: exact {100 * run['exact']:.1f}% of {run['n']} "
                  f"({run['train_seconds']:.0f} s)", flush=True)  # fmt: skip
            results["runs"] = runs
            results["table"] = summarise(runs)
            (out / "results.json").write_text(json.dumps(results, indent=1))
    results["runs"] = runs
    results["table"] = summarise(runs)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    table = format_results(results)
    (out / "table.md").write_text(table + "\n")
    print(table)


def format_results(results: dict) -> str:
    """table.md's text from results.json (benchmarks/render_docs.py renders the docs' copy
    with it): per model, the seeds' exact, mean and pooled CI."""
    return markdown(summarise(results["runs"]))


if __name__ == "__main__":
    main()
