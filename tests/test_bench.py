import time

import pytest
import torch

from ponder.bench import StepBenchResult, count_flops, measure_matmul_peak, time_steps


def test_count_flops_matmul() -> None:
    a, b = torch.randn(64, 128), torch.randn(128, 32)
    assert count_flops(lambda: a @ b) == 2 * 64 * 128 * 32


def test_count_flops_includes_backward() -> None:
    w = torch.randn(128, 32, requires_grad=True)
    a = torch.randn(64, 128)
    # Backward of a @ w needs only grad_w = a.T @ grad_out (a has no grad): one more matmul.
    assert count_flops(lambda: (a @ w).sum().backward()) == 2 * (2 * 64 * 128 * 32)


def test_measure_matmul_peak_is_quick_and_positive() -> None:
    start = time.perf_counter()
    peak = measure_matmul_peak(torch.device("cpu"), torch.float32, size=256, seconds=0.2)
    assert time.perf_counter() - start < 2.0
    assert peak > 0


def test_time_steps() -> None:
    calls = []
    times = time_steps(lambda: calls.append(1), warmup=2, steps=3, device="cpu")
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert len(calls) == 5
    with pytest.raises(ValueError):
        time_steps(lambda: None, warmup=0, steps=0, device="cpu")


def test_step_bench_result_arithmetic() -> None:
    result = StepBenchResult.from_timings(
        [0.5, 0.25, 0.25],
        batch_size=32,
        flops_per_step=10**9,
        peak_flops=1e10,
        dtype=torch.bfloat16,
        device=torch.device("cpu"),
    )
    assert result.ms_per_step == pytest.approx(250.0)
    assert result.examples_per_s == pytest.approx(128.0)
    assert result.achieved_flops == pytest.approx(4e9)
    assert result.peak_fraction == pytest.approx(result.achieved_flops / result.peak_flops)
    assert result.to_dict()["dtype"] == "bfloat16"
    table = result.format()
    assert "40.0%" in table and "4 GFLOP/s" in table and "bfloat16" in table
    values_start = {line.index(line.split("  ")[-1].strip()) for line in table.splitlines()}
    assert len(values_start) == 1  # aligned column
