"""`ponder data build` refuses what it cannot do safely: one line, exit 2, nothing written
or deleted. A user's directory is never replaced, builds into one directory take turns,
and killed or interrupted builds leave no temporaries behind. Also the other output paths
(`solve --png`, `parity --out`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support import run

import ponder.data.build as build_module
from ponder.data import build_dataset
from ponder.errors import UserError

MAZE = ["data", "build", "maze", "--size", "7", "--train", "4", "--test", "2"]
# Long enough (a few seconds) for a second process to arrive while it is writing.
SLOW_BUILD = ["-m", "ponder", "data", "build", "maze", "--size", "15", "--train", "2000"]
SMALL = {"train": 4, "test": 2, "seed": 0, "size": 7}


def snapshot(root: Path) -> dict[str, bytes | str | None]:
    """Every path under root with its bytes (None for a directory)."""
    return {str(p.relative_to(root)): _content(p) for p in sorted(root.rglob("*"))}


def _content(path: Path) -> bytes | str | None:
    if path.is_dir():
        return None
    return path.read_bytes() if path.is_file() else "special"  # a fifo: reading would wait


def assert_refused(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ponder: error:"), err
    for word in words:
        assert word in lines[0], err


def refused(tmp_path: Path, capsys, args: list, *words: str) -> None:
    """Run `ponder ARGS` in tmp_path; it must refuse and leave tmp_path as it was."""
    before = snapshot(tmp_path)
    code, out, err = run(args, capsys)
    assert_refused(code, err, *words)
    assert out == ""
    assert snapshot(tmp_path) == before


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ----- item 2: --out never replaces what is not a dataset -------------------------------------


def test_overwrite_keeps_a_users_directory(in_tmp: Path, capsys) -> None:
    notes = in_tmp / "notes"
    notes.mkdir()
    (notes / "ideas.txt").write_text("my notes")
    for flags in ([], ["--overwrite"]):
        refused(in_tmp, capsys, [*MAZE, "--out", notes, *flags], "not a dataset directory")
    assert (notes / "ideas.txt").read_text() == "my notes"


def test_overwrite_keeps_a_users_file_inside_a_dataset(in_tmp: Path, capsys) -> None:
    root = build_dataset("maze", in_tmp / "d", **SMALL)
    (root / "README.md").write_text("what this dataset is for")
    args = [*MAZE, "--seed", "5", "--out", root, "--overwrite"]
    refused(in_tmp, capsys, args, "refusing to replace", "'README.md'")


def test_overwrite_replaces_a_dataset_and_keeps_its_siblings(in_tmp: Path, capsys) -> None:
    build_dataset("maze", in_tmp / "a", **SMALL)
    sibling = build_dataset("maze", in_tmp / "b", **SMALL)
    before = snapshot(sibling)
    code, out, err = run([*MAZE, "--seed", "3", "--out", in_tmp / "a", "--overwrite"], capsys)
    assert (code, err) == (0, "")
    assert json.loads((in_tmp / "a" / "ponder.json").read_text())["seed"] == 3
    assert snapshot(sibling) == before
    assert sorted(p.name for p in in_tmp.iterdir()) == ["a", "b"]  # no temporaries, no lock


@pytest.mark.parametrize("out", ["", "."])
def test_out_that_names_no_directory(in_tmp: Path, capsys, out: str) -> None:
    (in_tmp / "keep.txt").write_text("keep")
    words = "--out is empty" if out == "" else "names no directory of its own"
    for flags in ([], ["--overwrite"]):
        refused(in_tmp, capsys, [*MAZE, "--out", out, *flags], words)


# ----- item 13: output paths that are files, or under a file ------------------------------------


@pytest.mark.parametrize(
    ("out", "words"),
    [("file.txt", "file.txt is a file, not a directory"), ("file.txt/sub", "file.txt is a file")],
)
def test_out_that_is_or_is_under_a_file(in_tmp: Path, capsys, out: str, words: str) -> None:
    (in_tmp / "file.txt").write_text("mine")
    refused(in_tmp, capsys, [*MAZE, "--out", out, "--overwrite"], words)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["solve", "runs/x", "maze.txt", "--png", "pictures"], "--png pictures is a directory"),
        (["solve", "runs/x", "maze.txt", "--png", "file.txt/a.png"], "file.txt is a file"),
        (["solve", "runs/x", "maze.txt", "--png", ""], "--png is empty"),
        (["parity", "a.yaml", "b.yaml", "--out", "pictures"], "--out pictures is a directory"),
        (["parity", "a.yaml", "b.yaml", "--out", "file.txt/m.yaml"], "file.txt is a file"),
    ],
)
def test_output_files_that_cannot_be_written(in_tmp: Path, capsys, args: list, words: str) -> None:
    """Refused before any work (the run and the configs need not even exist)."""
    (in_tmp / "file.txt").write_text("mine")
    (in_tmp / "pictures").mkdir()
    refused(in_tmp, capsys, args, words)


# ----- item 3: builds into one directory take turns ----------------------------------------------


def _slow_writes(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make each build hold its lock a while; the event is set once the first is writing."""
    writing = threading.Event()
    real = build_module._write_dataset

    def slow(task, root, recipe):
        writing.set()
        time.sleep(0.3)
        real(task, root, recipe)

    monkeypatch.setattr(build_module, "_write_dataset", slow)
    return writing


def _in_thread(results: dict, key: str, **kwargs) -> threading.Thread:
    def target() -> None:
        try:
            results[key] = build_dataset("maze", **kwargs)
        except UserError as err:
            results[key] = err

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def test_second_different_build_at_once_is_refused(tmp_path: Path, monkeypatch) -> None:
    writing = _slow_writes(monkeypatch)
    out, results = tmp_path / "d", {}
    first = _in_thread(results, "first", out_dir=out, **SMALL)
    assert writing.wait(10)
    second = _in_thread(results, "second", out_dir=out, **(SMALL | {"seed": 1}))
    first.join(), second.join()
    assert results["first"] == out
    assert isinstance(results["second"], UserError)
    assert "already holds a different dataset" in str(results["second"])
    assert json.loads((out / "ponder.json").read_text())["seed"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_same_build_at_once_is_shared(tmp_path: Path, monkeypatch) -> None:
    writing = _slow_writes(monkeypatch)
    out, results = tmp_path / "d", {}
    first = _in_thread(results, "first", out_dir=out, **SMALL)
    assert writing.wait(10)
    second = _in_thread(results, "second", out_dir=out, **SMALL)
    first.join(), second.join()
    assert results == {"first": out, "second": out}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_second_build_process_is_refused(tmp_path: Path) -> None:
    """Two real processes, as a user would start them in two terminals."""
    out = tmp_path / "d"
    args = [sys.executable, *SLOW_BUILD, "--test", "10"]
    first = subprocess.Popen([*args, "--out", str(out)], stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (tmp_path / ".d.lock").exists() or out.exists())
    second = subprocess.run(
        [*args, "--seed", "1", "--out", str(out)], capture_output=True, text=True, timeout=120
    )
    _, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert second.returncode == 2, second.stderr
    assert second.stderr.splitlines()[-1].startswith("ponder: error:")
    assert "already holds a different dataset" in second.stderr
    assert "Traceback" not in second.stderr
    assert json.loads((out / "ponder.json").read_text())["seed"] == 0


def _wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# ----- item 17a: killed and interrupted builds leave no temporaries ------------------------------


def test_stale_temporaries_of_killed_builds_are_removed(tmp_path: Path) -> None:
    for name in (".d.tmp-999999", ".d.old-999999"):
        (tmp_path / name / "train").mkdir(parents=True)
    (tmp_path / ".d.lock").write_text("")
    (tmp_path / ".other.tmp-999999").mkdir()  # another output's: not ours to remove
    build_dataset("maze", tmp_path / "d", **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-999999", "d"]


def test_a_build_killed_with_sigkill_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "d"
    args = [sys.executable, *SLOW_BUILD, "--test", "10"]
    victim = subprocess.Popen([*args, "--out", str(out)], stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: any(".d.tmp-" in p.name for p in tmp_path.iterdir()))
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert not out.exists()
    build_dataset("maze", out, **SMALL)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_ctrl_c_while_writing_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def interrupted(task, root, recipe):
        root.mkdir()
        (root / "half.npy").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "_write_dataset", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_dataset("maze", tmp_path / "new" / "parents" / "d", **SMALL)
    assert list(tmp_path.iterdir()) == []  # the parents it made went too


def test_ctrl_c_during_the_move_keeps_the_old_dataset(tmp_path: Path, monkeypatch) -> None:
    root = build_dataset("maze", tmp_path / "d", **SMALL)
    before = snapshot(root)
    real_rename = os.rename

    def interrupted_rename(src, dst):
        if ".d.tmp-" in str(src):  # the new dataset moving in, after the old moved aside
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", interrupted_rename)
    with pytest.raises(KeyboardInterrupt):
        build_dataset("maze", root, **(SMALL | {"seed": 4}), overwrite=True)
    assert snapshot(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


# ----- items 16a, 17a: task options out of range or not taken --------------------------------


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["maze", "--size", "100000001"], "maze size must be an integer in 5..201"),
        (["routing", "--size", "41"], "routing size must be an integer in 6..40"),
        (["skills", "--size", "0"], "size must be a whole number in 6..30, got 0"),
        (["skills", "--size", "31"], "size must be a whole number in 6..30"),
        (["skills", "--demos", "0"], "demos must be a whole number in 1..10"),
        (["skills", "--demos", "1000"], "demos must be a whole number in 1..10"),
        (["arc", "--views", "100000"], "views must be a whole number in 1..1000"),
        (["arc", "--test-views", "0"], "test views must be a whole number in 1..1000"),
        (["arc", "--size", "10"], "arc takes no --size"),
        (["arc", "--demos", "3", "--unseen", "2"], "arc takes no --demos, --unseen"),
        (["skills", "--views", "2", "--canvas", "9"], "skills takes no --canvas, --views"),
        (["maze", "--demos", "3"], "maze takes no --demos"),
        (["routing", "--source", "arcagi2"], "routing takes no --source"),
        (["routing", "--min-path", "3"], "has no parameter 'min_path'"),
    ],
)
def test_task_options_refused(in_tmp: Path, capsys, args: list, words: str) -> None:
    refused(in_tmp, capsys, ["data", "build", *args, "--out", "d"], words)


@pytest.mark.parametrize("task", ["maze", "routing", "skills", "arc"])
@pytest.mark.parametrize("option", ["--train", "--test", "--seed"])
def test_negative_counts_and_seeds_refused(in_tmp: Path, capsys, task: str, option: str) -> None:
    words = f"{option[2:]} must be"
    refused(in_tmp, capsys, ["data", "build", task, option, "-1", "--out", "d"], words)


@pytest.mark.parametrize("task", ["maze", "routing", "skills", "arc"])
def test_a_seed_train_could_not_take_is_refused(in_tmp: Path, capsys, task: str) -> None:
    """Capped as `train` caps config's seed (0..2**32-1), not accepted at any size."""
    args = ["data", "build", task, "--seed", str(2**32), "--out", "d"]
    refused(in_tmp, capsys, args, "seed must be in 0..4294967295")


# ----- QA after issue 12 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_file", ["train/extra/m.txt", "test/notes.txt", "train/all__inputs.npy.bak"]
)
def test_overwrite_keeps_a_users_file_at_any_depth_of_a_dataset(
    in_tmp: Path, capsys, user_file: str
) -> None:
    root = build_dataset("maze", in_tmp / "d", **SMALL)
    (root / user_file).parent.mkdir(parents=True, exist_ok=True)
    (root / user_file).write_text("mine")
    args = [*MAZE, "--seed", "5", "--out", root, "--overwrite"]
    refused(in_tmp, capsys, args, "refusing to replace", f"'{user_file}'")


def test_overwrite_replaces_every_kind_of_dataset_file(in_tmp: Path, capsys) -> None:
    """The walk knows a few-shot dataset's files too (tasks.json, demo arrays, sets)."""
    from ponder.data.fewshot_build import build_skills_dataset

    root = build_skills_dataset(
        in_tmp / "s", train=14, test=2, unseen=2, seed=0, demos=3, max_size=6
    )
    code, _, err = run([*MAZE, "--out", root, "--overwrite"], capsys)
    assert code == 0, err
    assert json.loads((root / "ponder.json").read_text())["task"] == "maze"


@pytest.mark.parametrize(
    ("make", "args", "words"),
    [
        (
            "file",
            ["solve", "runs/x", "maze.txt", "--png", "keep.yaml"],
            "--png keep.yaml already exists; pass --overwrite",
        ),
        (
            "file",
            ["parity", "a.yaml", "b.yaml", "--out", "keep.yaml"],
            "--out keep.yaml already exists",
        ),
        (
            "file",
            ["solve", "runs/x", "keep.yaml", "--png", "keep.yaml", "--overwrite"],
            "--png keep.yaml is the input file keep.yaml",
        ),
        (
            "file",
            ["parity", "keep.yaml", "b.yaml", "--out", "keep.yaml", "--overwrite"],
            "--out keep.yaml is the input file keep.yaml",
        ),
        (
            "link",
            ["parity", "a.yaml", "keep.yaml", "--out", "link.yaml", "--overwrite"],
            "--out link.yaml is the input file keep.yaml",
        ),
        (
            "fifo",
            ["solve", "runs/x", "maze.txt", "--png", "fifo", "--overwrite"],
            "--png fifo is not a regular file",
        ),
        (
            "fifo",
            ["parity", "a.yaml", "b.yaml", "--out", "fifo", "--overwrite"],
            "--out fifo is not a regular file",
        ),
    ],
)
def test_output_files_are_never_replaced_unasked(
    in_tmp: Path, capsys, make: str, args: list, words: str
) -> None:
    """Refused before any work: an existing file needs --overwrite, an input file or
    anything but a regular file (a device, a fifo) is never replaced."""
    (in_tmp / "keep.yaml").write_text("mine: true\n")
    if make == "link":
        (in_tmp / "link.yaml").symlink_to("keep.yaml")
    if make == "fifo":
        os.mkfifo(in_tmp / "fifo")
    refused(in_tmp, capsys, args, words)


def test_parity_overwrite_writes_through_a_symlink(in_tmp: Path, capsys, tiny_maze_dir) -> None:
    """--overwrite replaces the file a link names and keeps the link, and the mode of the
    file it replaced."""
    from refusals import write_config
    from support import tiny_config

    for name in ("ref.yaml", "cand.yaml"):
        write_config(in_tmp / name, tiny_config(tiny_maze_dir, in_tmp / "r"))
    (in_tmp / "target.yaml").write_text("old: true\n")
    (in_tmp / "target.yaml").chmod(0o640)
    (in_tmp / "link.yaml").symlink_to("target.yaml")
    args = ["parity", "ref.yaml", "cand.yaml", "--out", "link.yaml", "--overwrite"]
    code, _, err = run(args + ["--accept-closest"], capsys)
    assert code == 0, err
    assert (in_tmp / "link.yaml").is_symlink()
    assert "model:" in (in_tmp / "target.yaml").read_text()
    assert (in_tmp / "target.yaml").stat().st_mode & 0o777 == 0o640


def test_atomic_writes_follow_the_umask(tmp_path: Path) -> None:
    from ponder.fileio import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        os.umask(0o077)
        atomic_write_text(tmp_path / "b.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o600


def test_a_png_is_written_with_the_umask_and_through_a_link(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    from ponder.tasks.grids import save_figure_atomic

    (tmp_path / "target.png").write_bytes(b"old")
    (tmp_path / "link.png").symlink_to("target.png")
    old = os.umask(0o022)
    try:
        save_figure_atomic(Figure(), tmp_path / "new.png")
        save_figure_atomic(Figure(), tmp_path / "link.png")
    finally:
        os.umask(old)
    assert (tmp_path / "new.png").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "link.png").is_symlink()
    assert (tmp_path / "target.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "new.png", "target.png"]


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_atomic_writes_replace_only_a_regular_file(tmp_path: Path, kind: str) -> None:
    from ponder.fileio import atomic_write_text

    path = tmp_path / "out"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    with pytest.raises(UserError, match="out is (a directory|not a regular file)"):
        atomic_write_text(path, "x")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert path.is_dir() == (kind == "directory")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_folder_that_refuses_new_files_is_one_line(tmp_path: Path) -> None:
    """`solve --png /proc/x.png`: /proc is a directory, but no file can be made in it."""
    from matplotlib.figure import Figure

    from ponder.tasks.grids import save_figure_atomic

    with pytest.raises(UserError, match="cannot write /proc/x.png"):
        save_figure_atomic(Figure(), Path("/proc/x.png"))


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_solve_png_in_a_folder_that_refuses_files(tmp_path: Path, capsys, tiny_maze_dir) -> None:
    """It passes the early checks (/proc is a directory), so the model runs; the write
    then fails in one line, not a FileNotFoundError on the temporary file."""
    from support import tiny_config

    from ponder.train.launch import train

    run_dir = train(tiny_config(tiny_maze_dir, tmp_path / "run", train={"steps": 2}), quiet=True)
    capsys.readouterr()  # training's progress lines
    puzzle = tmp_path / "maze.txt"
    puzzle.write_text(run(["data", "show", tiny_maze_dir], capsys)[1])
    refused(tmp_path, capsys, ["solve", run_dir, puzzle, "--png", "/proc/x.png"], "cannot write")
