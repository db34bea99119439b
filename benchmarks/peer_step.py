"""ponder's TRM training step against a peer's, side by side in one run: lucidrains'
`tiny-recursive-model` 0.0.15 (installed into a virtual environment of its own, never the
project's) at the published Sudoku-like setting: attention, hidden 256, 2 layers, 8 heads,
T = 3, n = 6, batch 64, 81 tokens. For each precision it prints ms per step, FLOPs per step
counted on both sides (torch's FlopCounterMode), achieved GFLOP/s, the fraction of this
machine's measured matmul peak, and ponder's speed-up over the peer.

    .venv/bin/python benchmarks/peer_step.py [--precisions fp32,bf16] [--steps 3]
        [--rounds 2] [--venv .bench/peer-venv] [--no-install] [--compile both|on|off]
        [--out FILE.json]

The peer's step (benchmarks/peer_trm_child.py, run by the peer's Python): its model's
forward with labels (deep refinement, the loss and the halting loss), backward, AdamW.
ponder's: `ponder bench step` of the same setting (one supervision segment, the engine's
loss, clipping and AdamW) on generated 9x9 Sudoku. Only one job runs at a time: timings
of two CPU-heavy processes at once would mean nothing. The sides take turns, `--rounds`
times, and each side's figure is the median of all its timed steps: on a shared machine
the speed drifts by 10-15% within minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

PEER = "tiny-recursive-model==0.0.15"
CHILD = Path(__file__).with_name("peer_trm_child.py")
DEFAULT_VENV = Path(".bench/peer-venv")
# The setting both sides run: the TRM paper's Sudoku network with attention.
SETTING = {"hidden": 256, "layers": 2, "heads": 8, "T": 3, "n": 6, "batch": 64, "seq_len": 81}
FFN_INNER = 768  # ponder's SwiGLU inner width at hidden 256, expansion 4 (2/3 of 4 x 256)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", default="fp32,bf16", type=_precisions)
    parser.add_argument("--steps", type=_positive, default=3, help="timed steps per side")
    parser.add_argument("--warmup", type=_non_negative, default=1, help="untimed steps first")
    parser.add_argument(
        "--rounds", type=_positive, default=2, help="turns each side takes, interleaved"
    )
    parser.add_argument("--batch", type=_positive, default=SETTING["batch"])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument(
        "--no-install", action="store_true", help="use --venv as it is (no pip install)"
    )
    parser.add_argument(
        "--compile",
        choices=["both", "on", "off"],
        default="both",
        help="ponder with compile: true, false or both",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="also write the results here, the table beside"
    )
    return parser.parse_args(argv)


def _precisions(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    bad = [name for name in names if name not in ("fp32", "bf16")]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"precisions are fp32 and/or bf16, got {text!r}")
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


# ----- the peer -----------------------------------------------------------------------------
def ensure_peer_venv(venv: Path, install: bool) -> Path:
    """The peer's Python: a virtual environment with torch (the same version as ponder's,
    the CPU build) and the peer package. Never the project's environment."""
    python = venv / "bin" / "python"
    if not install:
        if not python.exists():
            sys.exit(f"peer_step: no virtual environment at {venv} (drop --no-install)")
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    torch_version = torch.__version__.split("+")[0]
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"torch=={torch_version}"], check=True)
    subprocess.run([*pip, PEER], check=True)
    return python


def time_peer(python: Path, precision: str, args: argparse.Namespace) -> dict:
    """The peer's ms per step and FLOPs per step, from its own process."""
    flags = {**SETTING, "batch": args.batch, "ffn-inner": FFN_INNER, "vocab": 11}
    command = [str(python), str(CHILD), "--precision", precision]
    for key, value in flags.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    command += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    command += ["--threads", str(torch.get_num_threads())]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"step_ms": result["times_ms"], "flops_per_step": result["flops_per_step"]}


# ----- ponder -------------------------------------------------------------------------------
def ponder_config(data_dir: Path, precision: str, compiled: bool, batch: int):
    from ponder.config import config_from_dict

    model = {
        "name": "trm",
        "hidden_size": SETTING["hidden"],
        "num_heads": SETTING["heads"],
        "num_layers": SETTING["layers"],
        "expansion": 4.0,
        "ffn_multiple_of": 256,
        "mixer": "attention",
        "pos_encoding": "rope",
        "n": SETTING["n"],
        "T": SETTING["T"],
    }
    raw = {
        "name": "peer_setting",
        "device": "cpu",
        "precision": precision,
        "compile": compiled,
        "data": {"path": str(data_dir), "task": "sudoku", "seq_len": SETTING["seq_len"]},
        "model": model,
        "train": {"global_batch_size": batch, "N_sup": 16, "halting": "trm"},
    }
    return config_from_dict(raw)


def time_ponder(data_dir: Path, precision: str, compiled: bool, args) -> dict:
    from ponder.train.benchstep import bench_step

    config = ponder_config(data_dir, precision, compiled, args.batch)
    result = bench_step(config, warmup=args.warmup, steps=args.steps)
    return {"step_ms": result.step_ms, "flops_per_step": result.flops_per_step}


def sudoku_data(root: Path) -> Path:
    from ponder.data.sudoku_build import build_sudoku_dataset

    return build_sudoku_dataset(root / "sudoku9", train=512, test=16, seed=0, clues=30)


# ----- the table ----------------------------------------------------------------------------
def summarise(side: dict, peak_flops: float) -> dict:
    """ms, GFLOP and achieved GFLOP/s of one side, and its fraction of the matmul peak."""
    seconds = side["ms_per_step"] / 1e3
    achieved = side["flops_per_step"] / seconds
    return {
        "ms_per_step": side["ms_per_step"],
        "gflop_per_step": side["flops_per_step"] / 1e9,
        "gflop_per_s": achieved / 1e9,
        "of_peak": achieved / peak_flops,
        "step_ms": side.get("step_ms", []),  # every timed step, for the spread
    }


def format_table(results: dict) -> str:
    lines = [
        "| precision | side | ms/step | GFLOP/step | GFLOP/s | of matmul peak | vs peer |",
        "|---|---|---|---|---|---|---|",
    ]
    for precision, sides in results["precisions"].items():
        peer_ms = sides["peer"]["ms_per_step"]
        for name, row in sides.items():
            ratio = peer_ms / row["ms_per_step"]
            lines.append(
                f"| {precision} | {name} | {row['ms_per_step']:,.0f} | "
                f"{row['gflop_per_step']:.0f} | {row['gflop_per_s']:.0f} | "
                f"{100 * row['of_peak']:.0f}% | {ratio:.2f}x |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from ponder.bench import measure_matmul_peak

    python = ensure_peer_venv(args.venv, install=not args.no_install)
    modes = {"both": [False, True], "off": [False], "on": [True]}[args.compile]
    results = {"benchmark": "peer_step", "machine": _machine(),
               "setting": {**SETTING, "batch": args.batch}}  # fmt: skip
    results["rounds"], results["precisions"] = args.rounds, {}
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = sudoku_data(Path(scratch))
        for precision in args.precisions:
            sides = measure_sides(python, data_dir, precision, modes, args)
            dtype = torch.float32 if precision == "fp32" else torch.bfloat16
            peak = measure_matmul_peak("cpu", dtype)
            summary = {name: summarise(side, peak) for name, side in sides.items()}
            results["precisions"][precision] = summary
            results.setdefault("matmul_peak_gflop_s", {})[precision] = peak / 1e9
            print(format_table({"precisions": {precision: summary}}), flush=True)
    print()
    print(format_table(results))
    if args.out is not None:  # and the table beside it: FILE.json -> FILE.md
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(format_results(results) + "\n")


def format_results(results: dict) -> str:
    """The table from the results file (benchmarks/render_docs.py renders the docs' copy with
    it): format_table's rows, then the matmul peaks they are fractions of."""
    peaks = ", ".join(f"{p} {v:.0f} GFLOP/s" for p, v in results["matmul_peak_gflop_s"].items())
    return format_table(results) + f"\n\nMatmul peak measured in the same run: {peaks}."


def measure_sides(python: Path, data_dir: Path, precision: str, modes, args) -> dict:
    """Every side's step times over `args.rounds` rounds, the sides taking turns within a
    round (peer, ponder, ponder compiled), so drift in a shared machine's speed falls on
    all of them alike. Returns {side: {"ms_per_step": median, "flops_per_step", "step_ms"}}."""
    sides: dict[str, dict] = {}
    for _ in range(args.rounds):
        timed = {"peer": time_peer(python, precision, args)}
        for compiled in modes:
            name = "ponder, compiled" if compiled else "ponder"
            timed[name] = time_ponder(data_dir, precision, compiled, args)
        for name, side in timed.items():
            entry = sides.setdefault(name, {"flops_per_step": side["flops_per_step"]})
            entry.setdefault("step_ms", []).extend(side["step_ms"])
    for entry in sides.values():
        entry["ms_per_step"] = statistics.median(entry["step_ms"])
    return sides


def _machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    main()
