"""`precision: auto`: the faster of fp32 and bf16 for this model on this machine, measured.

Whether bf16 autocast pays off on a CPU depends on the matmul shapes: on the project's CPU
(AVX512-BF16, no AMX) a bf16 matmul is 2.7x faster than fp32 at 5184x256x768 but slower
at 256x256 (docs/results.md, "Speed"). So on a CPU with native bf16, auto times forward and backward
passes of the actual model on a real batch in both precisions and takes the faster; the
choice and both timings are printed and kept in the run (summary.json, checkpoints). A
measurement is cached per machine and model shape (PONDER_CACHE_DIR, else
$XDG_CACHE_HOME/ponder or ~/.cache/ponder), so it is paid once. A resumed run keeps the
precision it started with. On CUDA, auto is bf16 where the GPU supports it (no
measurement); a CPU without native bf16 (emulated: up to 100x slower) gets fp32.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ponder.bench import synchronize
from ponder.fileio import atomic_write_text
from ponder.train.runtime import cpu_has_fast_bf16

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
# Timed passes per precision stop once this many seconds have gone into measuring, with
# at least one timed pass each (a wide model's pass takes seconds).
MEASURE_BUDGET_S = 3.0
MAX_TIMED_PASSES = 3


@dataclass(frozen=True)
class PrecisionChoice:
    name: str  # "fp32", "bf16" or "fp16"
    source: str  # configured, measured, cached, resumed, or the device's rule
    timings_ms: dict[str, float] = field(default_factory=dict)  # ms per forward+backward

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]

    def describe(self) -> str:
        """One line for the run's log: the choice and, when measured, both timings."""
        if not self.timings_ms:
            return f"precision {self.name} ({self.source})"
        times = ", ".join(f"{k} {v:.1f} ms" for k, v in sorted(self.timings_ms.items()))
        return f"precision {self.name} ({self.source}: {times} per forward+backward)"

    def to_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "timings_ms": self.timings_ms}


def choose_faster(timings_ms: dict[str, float]) -> str:
    """The precision with the least time; a tie goes to fp32 (it is exact)."""
    return min(sorted(timings_ms), key=lambda name: (timings_ms[name], name != "fp32"))


def measure_precisions(
    time_pass: Callable[[torch.dtype], float],
    budget_s: float = MEASURE_BUDGET_S,
    max_passes: int = MAX_TIMED_PASSES,
) -> dict[str, float]:
    """ms of the fastest timed pass in fp32 and in bf16. Each precision gets one untimed
    warm-up pass, then timed passes alternate (fp32, bf16, fp32, ...) so drift in the
    machine's speed hits both alike, while the budget lasts."""
    names = ("fp32", "bf16")
    for name in names:
        time_pass(DTYPES[name])
    best = {name: float("inf") for name in names}
    started = time.perf_counter()
    for round_ in range(max_passes):
        if round_ > 0 and time.perf_counter() - started > budget_s:
            break
        for name in names:
            best[name] = min(best[name], 1e3 * time_pass(DTYPES[name]))
    return best


def pick_precision(
    configured: str,
    device: torch.device,
    time_pass: Callable[[torch.dtype], float],
    cache_key: str,
    resumed: str | None = None,
) -> PrecisionChoice:
    """The run's precision: as configured, else (auto) the resumed run's, the device's rule,
    a cached measurement, or a new measurement through `time_pass(dtype) -> seconds`."""
    if configured != "auto":
        return PrecisionChoice(configured, "configured")
    if resumed is not None:
        return PrecisionChoice(resumed, "kept from the run being resumed")
    if device.type == "cuda":
        fast = torch.cuda.is_bf16_supported()
        return PrecisionChoice("bf16" if fast else "fp32", "auto on this GPU")
    if device.type != "cpu" or not cpu_has_fast_bf16():
        return PrecisionChoice("fp32", "auto: no native bf16 on this device")
    cache = PrecisionCache(cache_path())
    cached = cache.get(cache_key)
    if cached is not None:
        return PrecisionChoice(choose_faster(cached), "auto, cached measurement", cached)
    timings = measure_precisions(time_pass)
    cache.put(cache_key, timings)
    return PrecisionChoice(choose_faster(timings), "auto, measured", timings)


def time_segment_pass(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    loss_of: Callable[[object], torch.Tensor],
    dtype: torch.dtype,
) -> float:
    """Seconds of one training segment's forward and backward from a fresh carry on `batch`
    under `dtype` autocast (no optimizer step). The gradients are cleared afterwards and
    the random state restored, so timing leaves no trace in the run."""
    device = batch["inputs"].device
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        start = time.perf_counter()
        run_segment(model, batch, loss_of, dtype)
        synchronize(device)  # queued kernels count on an asynchronous device
        seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return seconds


def run_segment(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    loss_of: Callable[[object], torch.Tensor],
    dtype: torch.dtype,
) -> None:
    """One forward and backward of a segment from a fresh carry (inputs (B, L))."""
    device = batch["inputs"].device
    carry = model.init_carry(batch["inputs"].shape[0], device, batch["inputs"].shape[1])
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    with autocast:
        _, outputs = model(carry, batch)
    loss_of(outputs).backward()


# ----- the cache of measurements -----------------------------------------------------------
def cache_path() -> Path:
    root = os.environ.get("PONDER_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(xdg) / "ponder")
    return Path(root) / "precision.json"


def machine_key(device: torch.device) -> str:
    """What a measurement depends on besides the model: CPU model, threads, torch."""
    return "|".join(
        [device.type, cpu_name(), platform.machine(), str(torch.get_num_threads()),
         torch.__version__]
    )  # fmt: skip


def shape_key(device: torch.device, model_config, batch_shape: tuple[int, ...]) -> str:
    """Cache key of a measurement: this machine, the model's whole config and the batch."""
    text = json.dumps([machine_key(device), model_config.model_dump(), list(batch_shape)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), or what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


class PrecisionCache:
    """A JSON file of {key: {"fp32": ms, "bf16": ms}}. A cache only saves time: a file that
    cannot be read or written is ignored, never an error."""

    def __init__(self, path: Path):
        self.path = path

    def get(self, key: str) -> dict[str, float] | None:
        entry = self._read().get(key)
        valid = isinstance(entry, dict) and set(entry) == {"fp32", "bf16"}
        if not valid or not all(isinstance(v, (int, float)) for v in entry.values()):
            return None
        return {k: float(v) for k, v in entry.items()}

    def put(self, key: str, timings_ms: dict[str, float]) -> None:
        entries = self._read()
        entries[key] = timings_ms
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(entries, indent=1) + "\n")
        except OSError:
            pass

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
