from pathlib import Path

import pytest
import yaml

from ponder.errors import UserError
from ponder.train.rundir import checkpoint_path, prepare_run_dir, read_run_config

CONFIG = {"model": {"name": "trm", "hidden_size": 128}, "train": {"lr": 1e-4, "steps": 10}}


def _with_checkpoint(run_dir: Path) -> None:
    path = checkpoint_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_fresh_dir(tmp_path: Path) -> None:
    run = prepare_run_dir(tmp_path / "runs" / "a", CONFIG, overwrite=False, resume=False)
    assert run == tmp_path / "runs" / "a"
    text = (run / "config.yaml").read_text()
    assert text.index("model") < text.index("train")  # order kept
    assert yaml.safe_load(text) == CONFIG
    assert read_run_config(run) == CONFIG
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]


def test_empty_existing_dir_is_used(tmp_path: Path) -> None:
    prepare_run_dir(tmp_path, CONFIG, overwrite=False, resume=False)
    assert read_run_config(tmp_path) == CONFIG


def test_existing_run_needs_a_flag(tmp_path: Path) -> None:
    run = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    _with_checkpoint(run)  # without one, a rerun replaces it (test_rundir_safety.py)
    with pytest.raises(UserError, match="already holds a run; pass --overwrite"):
        prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)


def test_overwrite_wipes_run(tmp_path: Path) -> None:
    run = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    _with_checkpoint(run)
    (run / "metrics.jsonl").write_text("{}\n")
    new = {**CONFIG, "train": {"lr": 1e-3, "steps": 10}}
    prepare_run_dir(run, new, overwrite=True, resume=False)
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]
    assert read_run_config(run) == new


def test_refuses_to_wipe_foreign_dir(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(UserError, match="refusing to overwrite .*not a ponder run directory"):
            prepare_run_dir(tmp_path, CONFIG, overwrite=overwrite, resume=False)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_resume_same_config(tmp_path: Path) -> None:
    run = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    _with_checkpoint(run)
    assert prepare_run_dir(run, CONFIG, overwrite=False, resume=True) == run
    assert checkpoint_path(run).read_bytes() == b"x"


def test_resume_without_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nothing to resume in"):
        prepare_run_dir(tmp_path / "missing", CONFIG, overwrite=False, resume=True)
    run = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    with pytest.raises(UserError, match="nothing to resume in"):
        prepare_run_dir(run, CONFIG, overwrite=False, resume=True)


def test_resume_with_different_config(tmp_path: Path) -> None:
    run = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    _with_checkpoint(run)
    new = {"model": {"name": "hrm", "hidden_size": 256}, "train": {"lr": 1e-4, "steps": 10}}
    with pytest.raises(UserError) as info:
        prepare_run_dir(run, new, overwrite=False, resume=True)
    msg = str(info.value)
    assert msg.startswith(f"cannot resume {run}: config differs at ")
    assert "model.hidden_size (128 in the run, 256 now)" in msg
    assert "model.name (trm in the run, hrm now)" in msg
    assert "\n" not in msg


def test_resume_lists_at_most_three_differences(tmp_path: Path) -> None:
    config = {f"k{i}": i for i in range(5)}
    run = prepare_run_dir(tmp_path / "a", config, overwrite=False, resume=False)
    _with_checkpoint(run)
    new = {f"k{i}": i + 1 for i in range(4)} | {"extra": [1, 2]}
    with pytest.raises(UserError, match=r"and 3 more$") as info:
        prepare_run_dir(run, new, overwrite=False, resume=True)
    assert "k0 (0 in the run, 1 now)" in str(info.value) and "k3" not in str(info.value)


def test_read_run_config_missing(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a run directory: .* \\(no config.yaml\\)"):
        read_run_config(tmp_path)


def test_checkpoint_path(tmp_path: Path) -> None:
    assert checkpoint_path(tmp_path) == tmp_path / "checkpoints" / "last.safetensors"
    assert checkpoint_path(tmp_path, "best") == tmp_path / "checkpoints" / "best.safetensors"
    with pytest.raises(UserError, match="unknown checkpoint"):
        checkpoint_path(tmp_path, "first")
