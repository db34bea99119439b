"""A run name or run directory never puts a run where it would clobber a user's files or
other runs: `name` is one directory under runs/, `run_dir` ends in a directory of its own,
and --overwrite only ever wipes a directory that holds nothing but a run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from support import run, tiny_config

from ponder.config import config_from_dict
from ponder.errors import UserError
from ponder.train.rundir import prepare_run_dir, read_run_config

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
