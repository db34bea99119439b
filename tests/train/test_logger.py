import builtins
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ponder.train import logger as logger_mod
from ponder.train.logger import MetricsLogger, MetricSums, Progress


def test_metric_sums_weighted_means() -> None:
    sums = MetricSums()
    sums.add("correct", 3, 4)
    sums.add("correct", 1, 4)
    sums.add_mean("loss", 2.0, 1)
    sums.add_mean("loss", 0.5, 3)
    sums.add("empty", 0.0, 0)
    means = sums.means()
    assert means["correct"] == pytest.approx(0.5)
    assert means["loss"] == pytest.approx((2.0 + 1.5) / 4)
    assert "empty" not in means
    sums.all_reduce()  # no process group: unchanged
    assert sums.means() == means
    sums.reset()
    assert sums.means() == {}


def test_metric_sums_accepts_tensors() -> None:
    sums = MetricSums()
    sums.add("x", torch.tensor(6.0), torch.tensor(3))
    assert sums.means() == {"x": 2.0}


def test_metrics_logger_writes_jsonl_and_tensorboard(tmp_path: Path) -> None:
    with MetricsLogger(tmp_path / "run") as log:
        log.log(1, {"loss": 1.5, "acc": np.float32(0.25)})
        log.log(2, {"exact": 0.5}, prefix="eval")
        # Flushed per call: a killed run keeps its lines.
        lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
        assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["step"] == 1 and first["train/loss"] == 1.5 and first["train/acc"] == 0.25
    assert isinstance(first["time"], float)
    assert second == {"step": 2, "time": second["time"], "eval/exact": 0.5}
    assert any((tmp_path / "run" / "tb").iterdir())


def test_metrics_logger_appends(tmp_path: Path) -> None:
    for step in (1, 2):
        with MetricsLogger(tmp_path) as log:
            log.log(step, {"loss": 1.0})
    steps = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_metrics_logger_disabled_is_noop(tmp_path: Path) -> None:
    log = MetricsLogger(tmp_path / "run", enabled=False)
    log.log(1, {"loss": 1.0})
    log.close()
    assert not (tmp_path / "run").exists()


def test_metrics_logger_without_tensorboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("no tensorboard")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(logger_mod, "_warned_no_tensorboard", False)
    with MetricsLogger(tmp_path) as log:
        with pytest.warns(UserWarning, match="TensorBoard unavailable"):
            log.log(1, {"loss": 1.0})
        log.log(2, {"loss": 0.5})
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / "tb").exists()


def test_progress_formats_fields(capsys: pytest.CaptureFixture[str]) -> None:
    with Progress(total=10, initial=2, desc="test") as bar:
        bar.update(3, loss=0.123456789, step=5, lr=np.float32(3.14159e-4), name="x", bad=math.nan)
        postfix = bar._bar.postfix
        bar.write("hello")
    assert "loss=0.1235" in postfix and "step=5" in postfix and "lr=0.0003142" in postfix
    assert "bad=nan" in postfix
    assert bar._bar.n == 5
    assert "hello" in capsys.readouterr().out


def test_progress_disabled_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    bar = Progress(total=3, enabled=False)
    bar.update(1, loss=1.0)
    bar.write("hidden")
    bar.close()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


_DDP_SCRIPT = """
import sys
import torch.distributed as dist
import torch.multiprocessing as mp
from ponder.train.logger import MetricSums

def run(rank, init):
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    sums = MetricSums()
    sums.add("acc", rank + 1, 2)
    if rank == 1:
        sums.add("rare", 3, 1)  # a metric only one rank saw
    sums.all_reduce()
    assert sums.means() == {"acc": 0.75, "rare": 3.0}, sums.means()
    dist.destroy_process_group()

if __name__ == "__main__":
    mp.spawn(run, args=(sys.argv[1],), nprocs=2)
"""


def test_metric_sums_all_reduce_over_gloo(tmp_path: Path) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT)
    init = f"file://{tmp_path / 'rendezvous'}"
    result = subprocess.run(
        [sys.executable, str(script), init], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_tensor_values_are_summed_on_their_device_and_read_back_at_once():
    sums = MetricSums()
    for hits in (3, 4):
        sums.add("exact", torch.tensor(hits), torch.tensor(8))
        sums.add_mean("loss", torch.tensor(0.5, dtype=torch.bfloat16), 1.0)
        sums.add("plain", 1.0, 2.0)
    assert torch.is_tensor(sums.sums["exact"])  # nothing read back before a log
    means = sums.means()
    assert means == {"exact": 7 / 16, "loss": 0.5, "plain": 0.5}
    assert all(isinstance(v, float) for v in [*sums.sums.values(), *sums.counts.values()])
