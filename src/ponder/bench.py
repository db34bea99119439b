"""Helpers for ``ponder bench``: matmul peak, FLOP counting, step timing and a result table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode


def synchronize(device: torch.device | str) -> None:
    """Wait for queued kernels so wall-clock timings mean something on async devices."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@torch.no_grad()
def measure_matmul_peak(
    device: torch.device | str, dtype: torch.dtype, size: int = 1024, seconds: float = 1.0
) -> float:
    """FLOP/s of repeated ``size`` x ``size`` matmuls in ``dtype``: a practical roofline."""
    device = torch.device(device)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(3):  # warm-up: kernel selection, caches, clocks
        torch.matmul(a, b, out=out)
    synchronize(device)
    done, chunk = 0, 1
    start = time.perf_counter()
    while True:
        for _ in range(chunk):
            torch.matmul(a, b, out=out)
        synchronize(device)  # once per chunk, so the sync cost does not dominate small sizes
        done += chunk
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
        remaining_iters = int((seconds - elapsed) / (elapsed / done)) + 1
        chunk = max(1, min(2 * chunk, remaining_iters))
    return 2.0 * size**3 * done / elapsed


def count_flops(fn: Callable[[], object]) -> int:
    """Total FLOPs of one call of ``fn`` (matmuls, attention, convolutions; fwd and bwd)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def time_steps(
    step_fn: Callable[[], object], warmup: int, steps: int, device: torch.device | str
) -> list[float]:
    """Seconds per call of ``step_fn`` for ``steps`` calls after ``warmup`` untimed ones."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    for _ in range(warmup):
        step_fn()
    synchronize(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step_fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times


@dataclass
class StepBenchResult:
    ms_per_step: float
    examples_per_s: float
    flops_per_step: int
    achieved_flops: float  # FLOP/s
    peak_flops: float  # FLOP/s of a plain matmul on the same device and dtype
    peak_fraction: float
    dtype: str
    device: str
    compiled: bool = False  # the recursion blocks ran through torch.compile
    step_ms: list[float] = field(default_factory=list)  # every timed step, in order

    @classmethod
    def from_timings(
        cls,
        step_seconds: list[float],
        batch_size: int,
        flops_per_step: int,
        peak_flops: float,
        dtype: torch.dtype | str,
        device: torch.device | str,
        compiled: bool = False,
    ) -> StepBenchResult:
        """Summarise step times by their median, which shrugs off the odd slow step."""
        seconds = statistics.median(step_seconds)
        achieved = flops_per_step / seconds if seconds > 0 else 0.0
        return cls(
            ms_per_step=seconds * 1e3,
            examples_per_s=batch_size / seconds if seconds > 0 else 0.0,
            flops_per_step=int(flops_per_step),
            achieved_flops=achieved,
            peak_flops=peak_flops,
            peak_fraction=achieved / peak_flops if peak_flops > 0 else 0.0,
            dtype=str(dtype).removeprefix("torch."),
            device=str(device),
            compiled=compiled,
            step_ms=[1e3 * t for t in step_seconds],
        )

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)

    def format(self) -> str:
        rows = [
            ("device", self.device),
            ("dtype", self.dtype),
            ("compiled", "yes" if self.compiled else "no"),
            ("ms/step", f"{self.ms_per_step:.3f}"),
            ("examples/s", f"{self.examples_per_s:,.1f}"),
            ("FLOPs/step", _si(self.flops_per_step, "FLOP")),
            ("achieved", _si(self.achieved_flops, "FLOP/s")),
            ("matmul peak", _si(self.peak_flops, "FLOP/s")),
            ("of peak", f"{100 * self.peak_fraction:.1f}%"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _si(value: float, unit: str) -> str:
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"
