"""A run name or run directory never puts a run where it would clobber a user's files or
other runs: `name` is one directory under runs/, `run_dir` ends in a directory of its own,
and --overwrite only ever wipes a directory that holds nothing but a run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from refusals import assert_refused
from support import run, tiny_config

from ponder.config import config_from_dict
from ponder.errors import UserError
from ponder.train.rundir import prepare_run_dir, read_run_config, release_run_dir

BASE = Path(__file__).resolve().parents[2] / "configs" / "maze_quick.yaml"
CONFIG = {"model": {"name": "trm"}, "train": {"steps": 10}}


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for a directory)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project: their own config.yaml, notes (with a config.yaml of their own),
    a plain file, and runs/ with a sibling run."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(BASE, tmp_path / "config.yaml")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "config.yaml").write_text("note: my settings\n")
    (tmp_path / "notes" / "ideas.txt").write_text("try T=3")
    (tmp_path / "afile").write_text("mine")
    sibling = prepare_run_dir(tmp_path / "runs" / "other", CONFIG, overwrite=False, resume=False)
    (sibling / "metrics.jsonl").write_text('{"step": 1}\n')
    return tmp_path


REFUSED = [
    ("name=..", "config key 'name': a run name must be one directory name"),
    ("name=.", "config key 'name': a run name must be one directory name"),
    ("name=", "config key 'name': a run name must not be empty"),
    ("name=a/b/../../..", "config key 'name': a run name must be one directory name"),
    ("run_dir=.", "config key 'run_dir': a run directory must end in a directory name"),
    ("run_dir=x/..", "config key 'run_dir': a run directory must end in a directory name"),
    ("run_dir=runs/a/../..", "config key 'run_dir'"),
    ("run_dir=runs/x/../other", "config key 'run_dir': a run directory may use '..' only"),
    ("run_dir=runs", "refusing to overwrite runs: it is not a ponder run directory"),
    ("run_dir=notes", "not a ponder run directory (it holds 'ideas.txt', which no run writes)"),
    ("run_dir=afile", "run directory afile is a file, not a directory"),
    ("run_dir=afile/run", "run directory afile/run: afile is a file, not a directory"),
]


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize(("override", "words"), REFUSED)
def test_train_refuses_a_run_path_that_would_clobber(
    workspace: Path, capsys, tiny_maze_dir: Path, override: str, words: str, overwrite: bool
) -> None:
    before = snapshot(workspace)
    args = ["train", BASE, f"data.path={tiny_maze_dir}", "device=cpu", override]
    code, out, err = run(args + ["--overwrite"] * overwrite, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1 and err.startswith("ponder: error:"), err
    assert words in err
    assert snapshot(workspace) == before  # the user's config, notes and the sibling run


def test_overwrite_replaces_one_run_and_keeps_its_siblings(
    workspace: Path, capsys, tiny_maze_dir: Path
) -> None:
    raw = tiny_config(tiny_maze_dir, workspace / "unused").to_dict()
    del raw["run_dir"]  # runs/<name>
    preset = workspace / "tiny.yaml"
    preset.write_text(yaml.safe_dump(raw))
    assert run(["train", preset, "name=mine"], capsys)[0] == 0
    before = {p: snapshot(p) for p in (workspace / "runs" / "other", workspace / "notes")}
    code, _, err = run(["train", preset, "name=mine", "train.lr=5e-4", "--overwrite"], capsys)
    assert code == 0, err
    assert read_run_config(workspace / "runs" / "mine")["train"]["lr"] == 5e-4
    assert {p: snapshot(p) for p in before} == before
    assert (workspace / "config.yaml").read_bytes() == BASE.read_bytes()


# ----- prepare_run_dir ----------------------------------------------------------------------------


def test_overwrite_refuses_a_run_holding_a_users_file(tmp_path: Path) -> None:
    run_dir = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    (run_dir / "notes.md").write_text("why this run")
    with pytest.raises(UserError, match="it holds 'notes.md', which no run writes"):
        prepare_run_dir(run_dir, CONFIG, overwrite=True, resume=False)
    assert (run_dir / "notes.md").read_text() == "why this run"


def test_overwrite_wipes_what_a_killed_run_left(tmp_path: Path) -> None:
    run_dir = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    (run_dir / ".summary.json.tmp-12345").write_text("{")  # atomic_write_text, killed
    (run_dir / "tb").mkdir()
    prepare_run_dir(run_dir, CONFIG, overwrite=True, resume=False)
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]


@pytest.mark.parametrize("where", [".", "..", "/"])
def test_a_run_directory_needs_a_name_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="names no directory of its own"):
        prepare_run_dir(Path(where), CONFIG, overwrite=True, resume=False)
    assert list(tmp_path.iterdir()) == []


# ----- the config fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", ".."),
        ("name", ""),
        ("name", "  "),
        ("name", "a/b"),
        ("name", "a\\b"),
        ("name", "a\0b"),
        ("run_dir", "."),
        ("run_dir", "/"),
        ("run_dir", "runs/.."),
        ("run_dir", "a/../b"),
        ("run_dir", "a\0b"),
    ],
)
def test_config_refuses_run_paths(key: str, value: str) -> None:
    with pytest.raises(UserError, match=f"config key '{key}'"):
        config_from_dict({key: value})


@pytest.mark.parametrize(
    ("key", "value"),
    [("name", "a..b"), ("name", "run-1"), ("run_dir", "../elsewhere/run"), ("run_dir", "")],
)
def test_config_accepts_ordinary_run_paths(key: str, value: str) -> None:
    assert getattr(config_from_dict({key: value}), key) == value


# ----- QA after issue 12: what --overwrite may wipe, and runs stopped before a checkpoint ------


def test_overwrite_refuses_a_users_folder_that_has_a_config_yaml(
    workspace: Path, capsys, tiny_maze_dir: Path
) -> None:
    """A config.yaml alone does not make a run: it must load as one, and every entry at
    every depth must be something a run writes."""
    proj = workspace / "proj2"
    (proj / "eval").mkdir(parents=True)
    (proj / "config.yaml").write_text("my: precious\n")
    args = ["train", BASE, f"data.path={tiny_maze_dir}", "device=cpu", "run_dir=proj2"]
    assert_refused([*args, "--overwrite"], capsys, workspace, "its config.yaml is not a run config")
    (proj / "eval" / "mynotes.md").write_text("mine")
    assert_refused([*args, "--overwrite"], capsys, workspace, "'eval/mynotes.md'")
    assert (proj / "config.yaml").read_text() == "my: precious\n"


@pytest.mark.parametrize(
    "user_path",
    [
        "checkpoints/mysub/k",
        "checkpoints/notes.txt",
        "eval/mynotes.md",
        "tb/plots/loss.png",
        "metrics.jsonl.bak",
    ],
)
def test_overwrite_refuses_a_users_file_nested_in_a_run(tmp_path: Path, user_path: str) -> None:
    run_dir = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "last.safetensors").write_bytes(b"x")
    (run_dir / user_path).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / user_path).write_text("mine")
    before = snapshot(run_dir)
    with pytest.raises(UserError, match=f"it holds '{user_path}', which no run writes"):
        prepare_run_dir(run_dir, CONFIG, overwrite=True, resume=False)
    assert snapshot(run_dir) == before


def test_overwrite_refuses_a_link_inside_a_run(tmp_path: Path) -> None:
    """ponder writes no links: one inside a run is the user's."""
    run_dir = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    (run_dir / "eval").symlink_to(tmp_path)
    with pytest.raises(UserError, match="it holds 'eval', which no run writes"):
        prepare_run_dir(run_dir, CONFIG, overwrite=True, resume=False)
    assert (run_dir / "eval").is_symlink()


def test_overwrite_wipes_everything_a_run_writes(tmp_path: Path) -> None:
    run_dir = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    written = [
        "metrics.jsonl", "summary.json", "failed.json", ".summary.json.tmp-12",
        "checkpoints/last.safetensors", "checkpoints/best.safetensors",
        "checkpoints/val-0000200.safetensors", "checkpoints/.last.safetensors.tmp-7",
        "tb/events.out.tfevents.1796167635.vm.1099.0", "eval/metrics.json",
        "eval/samples.png", "eval/submission.json", "eval/task-3.png",
        "eval/.samples.png.k2j4x_9a.tmp", "eval/.metrics.json.tmp-99",
    ]  # fmt: skip
    for name in written:
        (run_dir / name).parent.mkdir(exist_ok=True)
        (run_dir / name).write_text("x")
    prepare_run_dir(run_dir, CONFIG, overwrite=True, resume=False)
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]


@pytest.mark.parametrize("left", [[], ["metrics.jsonl", "tb/events.out.tfevents.1.h.2.0"]])
def test_a_rerun_replaces_a_run_stopped_before_its_first_checkpoint(
    workspace: Path, capsys, tiny_maze_dir: Path, left: list
) -> None:
    """Ctrl-C or an OOM kill before the first checkpoint leaves config.yaml (and logs):
    nothing to resume, so the same command run again starts it afresh."""
    config = tiny_config(tiny_maze_dir, workspace / "runs" / "c").to_dict()
    stopped = prepare_run_dir(workspace / "runs" / "c", config, overwrite=False, resume=False)
    release_run_dir(stopped)  # the process that wrote it is gone
    for name in left:
        (stopped / name).parent.mkdir(exist_ok=True)
        (stopped / name).write_text("x")
    words = "it stopped before its first checkpoint; run it again without --resume"
    assert_refused(["train", "--resume", stopped], capsys, workspace, words)
    sibling = snapshot(workspace / "runs" / "other")
    args = ["train", BASE, f"data.path={tiny_maze_dir}", "device=cpu", "name=c", "compile=false"]
    code, _, err = run([*args, "train.steps=2", "train.checkpoint_every=0"], capsys)
    assert code == 0, err
    assert (stopped / "checkpoints" / "last.safetensors").is_file()
    assert snapshot(workspace / "runs" / "other") == sibling


@pytest.mark.parametrize("kept", ["checkpoints/last.safetensors", "summary.json", "eval/x.png"])
def test_a_rerun_keeps_what_a_stopped_run_left_worth_keeping(tmp_path: Path, kept: str) -> None:
    run_dir = prepare_run_dir(tmp_path / "a", CONFIG, overwrite=False, resume=False)
    (run_dir / kept).parent.mkdir(exist_ok=True)
    (run_dir / kept).write_text("x")
    if kept == "eval/x.png":
        (run_dir / "eval" / "x.png").rename(run_dir / "eval" / "samples.png")
    with pytest.raises(UserError, match="already holds a run; pass --overwrite"):
        prepare_run_dir(run_dir, CONFIG, overwrite=False, resume=False)


def test_ctrl_c_before_the_first_checkpoint_then_the_same_command(
    workspace: Path, capsys, tiny_maze_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["train", BASE, f"data.path={tiny_maze_dir}", "device=cpu", "name=c", "train.steps=2",
            "compile=false"]  # fmt: skip

    def interrupted(self):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("ponder.train.launch.Trainer.fit", interrupted)
        assert run(args, capsys)[0] == 130
    assert [p.name for p in (workspace / "runs" / "c").iterdir()] == ["config.yaml"]
    code, _, err = run(args, capsys)
    assert code == 0, err


def test_a_run_still_training_is_never_replaced(workspace: Path, capsys, tiny_maze_dir) -> None:
    """Another process holds the run (it is before its first checkpoint): neither a rerun
    nor --overwrite touches it."""
    code = (
        "import sys, time; from ponder.train.rundir import prepare_run_dir; "
        "prepare_run_dir('runs/c', {'train': {'steps': 10}}, overwrite=False, resume=False); "
        "print('ready', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], cwd=workspace, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        args = [
            "train",
            BASE,
            f"data.path={tiny_maze_dir}",
            "device=cpu",
            "name=c",
            "compile=false",
        ]
        for flags in ([], ["--overwrite"]):
            assert_refused([*args, *flags], capsys, workspace, "that is still running")
    finally:
        holder.kill()
        holder.wait()
    assert run([*args, "train.steps=2"], capsys)[0] == 0  # the holder is gone
