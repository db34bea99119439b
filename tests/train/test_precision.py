"""precision: auto chooses by measurement (stubbed timings here), caches it, and keeps it."""

from __future__ import annotations

import json

import pytest
import torch
from support import tiny_config

from ponder.errors import UserError
from ponder.train import precision as prec
from ponder.train.launch import settle_execution, train
from ponder.train.runtime import Runtime, pick_dtype

CPU = torch.device("cpu")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(prec, "cpu_has_fast_bf16", lambda: True)
    return tmp_path / "cache"


def stub_timer(fp32_s: float, bf16_s: float):
    """A time_pass that answers fixed seconds per dtype and counts its calls."""
    calls = []

    def time_pass(dtype: torch.dtype) -> float:
        calls.append(dtype)
        return fp32_s if dtype == torch.float32 else bf16_s

    return time_pass, calls


def test_choose_faster_takes_the_least_time_and_fp32_on_a_tie():
    assert prec.choose_faster({"fp32": 2.0, "bf16": 1.0}) == "bf16"
    assert prec.choose_faster({"fp32": 1.0, "bf16": 2.0}) == "fp32"
    assert prec.choose_faster({"bf16": 1.0, "fp32": 1.0}) == "fp32"


@pytest.mark.parametrize(("fp32_s", "bf16_s", "expected"), [(0.2, 0.1, "bf16"), (0.1, 0.3, "fp32")])
def test_auto_picks_the_faster_of_two_stubbed_timings_and_logs_both(
    cache_dir, fp32_s, bf16_s, expected
):
    time_pass, calls = stub_timer(fp32_s, bf16_s)
    choice = prec.pick_precision("auto", CPU, time_pass, "key")
    assert choice.name == expected
    assert choice.timings_ms == {"fp32": 1e3 * fp32_s, "bf16": 1e3 * bf16_s}
    line = choice.describe()
    assert f"precision {expected}" in line
    assert f"fp32 {1e3 * fp32_s:.1f} ms" in line and f"bf16 {1e3 * bf16_s:.1f} ms" in line
    assert torch.float32 in calls and torch.bfloat16 in calls  # warm-ups, then timed passes


def test_a_measurement_is_cached_per_key(cache_dir):
    time_pass, calls = stub_timer(0.2, 0.1)
    prec.pick_precision("auto", CPU, time_pass, "model-a")
    measured = len(calls)
    again = prec.pick_precision("auto", CPU, time_pass, "model-a")
    assert len(calls) == measured  # nothing timed the second time
    assert again.name == "bf16" and "cached" in again.source
    prec.pick_precision("auto", CPU, time_pass, "model-b")  # another shape: measured anew
    assert len(calls) > measured


def test_an_unreadable_cache_is_ignored(cache_dir):
    cache_dir.mkdir(parents=True)
    (cache_dir / "precision.json").write_text("{not json")
    time_pass, _ = stub_timer(0.1, 0.2)
    assert prec.pick_precision("auto", CPU, time_pass, "k").name == "fp32"
    assert "k" in json.loads((cache_dir / "precision.json").read_text())


def test_no_measurement_when_configured_resumed_or_without_native_bf16(cache_dir, monkeypatch):
    def never(dtype):
        raise AssertionError("must not measure")

    assert prec.pick_precision("bf16", CPU, never, "k").name == "bf16"
    assert prec.pick_precision("auto", CPU, never, "k", resumed="fp32").name == "fp32"
    monkeypatch.setattr(prec, "cpu_has_fast_bf16", lambda: False)
    assert prec.pick_precision("auto", CPU, never, "k").name == "fp32"


def test_the_timing_pass_leaves_no_gradients_and_no_random_draws(tiny_maze_dir, tmp_path):
    from ponder.data.loader import TrainBatches
    from ponder.models import build_model
    from ponder.runs import open_run_data

    config = tiny_config(tiny_maze_dir, tmp_path / "run")
    data, objective = open_run_data(config)
    model = build_model(config.model, data.spec)
    batch = TrainBatches(data.train, 4, 0).batch(0)

    def loss_of(out):
        return objective.loss(out, batch, None)[0]

    before = torch.random.get_rng_state()
    seconds = prec.time_segment_pass(model, batch, loss_of, torch.float32)
    assert seconds > 0
    assert torch.equal(before, torch.random.get_rng_state())
    assert all(p.grad is None for p in model.parameters())


def test_a_resumed_auto_run_keeps_its_precision(tiny_maze_dir, tmp_path, cache_dir, monkeypatch):
    """The checkpoint's record decides, not a new (here: opposite) measurement."""
    from ponder.data.loader import TrainBatches
    from ponder.models import build_model
    from ponder.runs import open_run_data

    config = tiny_config(tiny_maze_dir, tmp_path / "run", precision="auto")
    data, objective = open_run_data(config)
    model = build_model(config.model, data.spec)
    batch = TrainBatches(data.train, 4, 0).batch(0)
    runtime = Runtime(device=CPU, dtype=torch.float32)
    monkeypatch.setattr(prec, "measure_precisions", lambda t: {"fp32": 1.0, "bf16": 9.0})
    kept = {"name": "bf16", "device": "cpu"}
    settled, execution = settle_execution(config, model, runtime, batch, objective, kept)
    assert settled.dtype == torch.bfloat16
    assert execution["precision"]["source"] == "kept from the run being resumed"
    fresh, _ = settle_execution(config, model, runtime, batch, objective, None)
    assert fresh.dtype == torch.float32  # the (stubbed) measurement


def test_a_run_logs_and_records_its_choice(tiny_maze_dir, tmp_path, cache_dir, capsys, monkeypatch):
    monkeypatch.setattr(prec, "measure_precisions", lambda t: {"fp32": 5.0, "bf16": 4.0})
    config = tiny_config(tiny_maze_dir, tmp_path / "run", precision="auto")
    run_dir = train(config)
    out = capsys.readouterr().out
    assert "precision bf16 (auto, measured: bf16 4.0 ms, fp32 5.0 ms" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["precision"]["name"] == "bf16"
    assert summary["precision"]["timings_ms"] == {"fp32": 5.0, "bf16": 4.0}
    assert summary["compiled"] is False
    from ponder.train.checkpoint import load_checkpoint

    _, state = load_checkpoint(run_dir / "checkpoints" / "last.safetensors")
    assert state["precision"] == {"name": "bf16", "device": "cpu"}
    from ponder.trained import load_run

    # judged in the precision it trained in, whatever a new measurement would say
    monkeypatch.setattr(prec, "measure_precisions", lambda t: {"fp32": 1.0, "bf16": 9.0})
    assert load_run(run_dir).runtime.dtype == torch.bfloat16


def test_bf16_on_a_gpu_without_it_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Old GPU")
    with pytest.raises(UserError, match="precision 'bf16' is not supported by Old GPU"):
        pick_dtype("bf16", torch.device("cuda", 0))
