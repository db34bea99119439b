"""benchmarks/peer_step.py: its argument parsing, FLOP counting and table (the peer itself
is not installed by the test suite)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer_step = load("peer_step")
child = load("peer_trm_child")


def test_arguments_default_to_the_published_setting():
    args = peer_step.parse_args([])
    assert args.precisions == ["fp32", "bf16"] and args.batch == 64 and args.steps == 3
    assert args.compile == "both" and args.venv == peer_step.DEFAULT_VENV
    assert peer_step.parse_args(["--precisions", "bf16", "--no-install"]).precisions == ["bf16"]


@pytest.mark.parametrize(
    "argv", [["--precisions", "fp16"], ["--precisions", ""], ["--steps", "0"], ["--warmup", "-1"]]
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        peer_step.parse_args(argv)
    assert exit_.value.code == 2


def test_the_childs_arguments_carry_the_setting():
    args = child.parse_args(["--hidden", "64", "--precision", "bf16", "--seq-len", "16"])
    assert (args.hidden, args.precision, args.seq_len, args.n, args.T) == (64, "bf16", 16, 6, 3)


def test_flops_of_a_toy_training_step_are_counted_forward_and_backward():
    """Linear 8 -> 4 without bias on a batch of 2: forward 2*2*8*4 = 128 FLOPs, backward
    (the weight's gradient only: the input needs none) another 128."""
    model = torch.nn.Linear(8, 4, bias=False)
    x = torch.randn(2, 8)

    def step():
        model(x).sum().backward()

    assert child.count_step_flops(step) == 256


def test_the_toy_steps_are_timed_after_the_warmup():
    calls = []
    times = child.time_steps(lambda: calls.append(1), warmup=2, steps=3)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_the_table_gives_each_sides_speed_up_over_the_peer():
    peak = 100e9
    sides = {
        "peer": peer_step.summarise({"ms_per_step": 3000.0, "flops_per_step": 600e9}, peak),
        "ponder": peer_step.summarise({"ms_per_step": 2000.0, "flops_per_step": 600e9}, peak),
    }
    assert sides["ponder"]["gflop_per_s"] == pytest.approx(300.0)
    assert sides["ponder"]["of_peak"] == pytest.approx(3.0)
    table = peer_step.format_table({"precisions": {"bf16": sides}})
    assert "| bf16 | ponder | 2,000 | 600 | 300 | 300% | 1.50x |" in table
    assert "| bf16 | peer | 3,000 | 600 | 200 | 200% | 1.00x |" in table
