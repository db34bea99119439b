"""Metric accumulation, JSONL + TensorBoard logging and the progress bar.

Metrics are kept as sums with a count and divided only when reported, so averages over
uneven batches, accumulation steps and DDP ranks stay exact.
"""

from __future__ import annotations

import json
import math
import numbers
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import torch
import torch.distributed as dist
from tqdm import tqdm

_warned_no_tensorboard = False


Number = float | torch.Tensor  # a tensor is a 0-dim value still on its device


class MetricSums:
    """Running ``sum`` and ``count`` per metric name. Values may be 0-dim tensors: they are
    summed where they are (no host sync per training step, which on a GPU stalls the
    queue) and read back together, once per log."""

    def __init__(self) -> None:
        self.sums: dict[str, Number] = {}
        self.counts: dict[str, Number] = {}

    def add(self, name: str, total: Number, count: Number) -> None:
        """Add a sum ``total`` over ``count`` items (e.g. correct answers over a batch)."""
        self.sums[name] = self.sums.get(name, 0.0) + _value(total)
        self.counts[name] = self.counts.get(name, 0.0) + _value(count)

    def add_mean(self, name: str, value: Number, count: Number) -> None:
        """Add a mean ``value`` taken over ``count`` items."""
        self.add(name, _value(value) * _value(count), count)

    def means(self) -> dict[str, float]:
        """Sum / count for every metric with a non-zero count."""
        self._to_floats()
        return {k: self.sums[k] / c for k, c in self.counts.items() if c != 0}

    def _to_floats(self) -> None:
        """Read every tensor back to a float: one transfer per device."""
        held = [
            (d, k) for d in (self.sums, self.counts) for k, v in d.items() if torch.is_tensor(v)
        ]
        by_device: dict[torch.device, list] = {}
        for d, k in held:
            by_device.setdefault(d[k].device, []).append((d, k))
        for entries in by_device.values():
            values = torch.stack([d[k].reshape(()) for d, k in entries]).tolist()
            for (d, k), value in zip(entries, values, strict=True):
                d[k] = float(value)

    def reset(self) -> None:
        self.sums.clear()
        self.counts.clear()

    def all_reduce(self) -> None:
        """Sum sums and counts over DDP ranks; a no-op when torch.distributed is not running."""
        if not (dist.is_available() and dist.is_initialized()):
            return
        self._to_floats()
        names = _union_of_names(sorted(self.counts))
        device = _collective_device()
        values = [self.sums.get(n, 0.0) for n in names] + [self.counts.get(n, 0.0) for n in names]
        buf = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        reduced = buf.tolist()
        self.sums = dict(zip(names, reduced[: len(names)], strict=True))
        self.counts = dict(zip(names, reduced[len(names) :], strict=True))


def _value(x: Number) -> Number:
    """A float, or a detached float64 0-dim tensor (exact sums of counts and means)."""
    return x.detach().to(torch.float64) if torch.is_tensor(x) else float(x)


def _union_of_names(local: list[str]) -> list[str]:
    # Ranks may have seen different metrics (e.g. a rare halting bucket); reducing tensors
    # of different lengths would hang, so agree on the union first.
    gathered: list[list[str] | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, local)
    return sorted({n for names in gathered if names for n in names})


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class _ClosesOnExit:
    """`with obj:` calls obj.close() on the way out."""

    def __enter__(self):
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class MetricsLogger(_ClosesOnExit):
    """Appends metrics to ``run_dir/metrics.jsonl`` and TensorBoard; a no-op when disabled."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._tb_tried = False

    def log(self, step: int, metrics: dict[str, float], prefix: str = "train") -> None:
        """Write one JSON line and one TensorBoard scalar per metric."""
        if not self.enabled:
            return
        scalars = {_tag(prefix, k): float(v) for k, v in metrics.items()}
        record = {"step": int(step), "time": time.time(), **scalars}
        file = self._open_file()
        file.write(json.dumps(record) + "\n")
        file.flush()  # a killed run keeps every line logged so far
        writer = self._tensorboard()
        if writer is not None:
            for tag, value in scalars.items():
                writer.add_scalar(tag, value, int(step))
            writer.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _open_file(self) -> IO[str]:
        if self._file is None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self._file = open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8")
        return self._file

    def _tensorboard(self) -> Any:
        global _warned_no_tensorboard
        if self._writer is None and not self._tb_tried:
            self._tb_tried = True
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as exc:
                if not _warned_no_tensorboard:
                    _warned_no_tensorboard = True
                    warnings.warn(
                        f"TensorBoard unavailable ({exc}); logging to metrics.jsonl only",
                        stacklevel=3,
                    )
                return None
            self._writer = SummaryWriter(log_dir=str(self.run_dir / "tb"))
        return self._writer


def _tag(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


class Progress(_ClosesOnExit):
    """One tqdm bar showing the latest metrics compactly; silent when not enabled."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True, desc: str = "train"):
        self.enabled = enabled
        self._bar = tqdm(
            total=total,
            initial=initial,
            desc=desc,
            dynamic_ncols=True,
            mininterval=0.5,
            disable=not enabled,
        )

    def update(self, n: int = 1, **fields: Any) -> None:
        if fields:
            self._bar.set_postfix({k: _compact(v) for k, v in fields.items()}, refresh=False)
        self._bar.update(n)

    def write(self, msg: str) -> None:
        """Print a line above the bar without breaking it."""
        if self.enabled:
            tqdm.write(msg)

    def close(self) -> None:
        self._bar.close()


def _compact(value: Any) -> str:
    """Floats to 4 significant digits, everything else as ``str``."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool | numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):  # includes numpy floats
        value = float(value)
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)
