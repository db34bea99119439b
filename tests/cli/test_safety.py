"""The rest of issue 12's CLI mistakes: bench step counts (item 14), malformed demo files
(15), suites that pass --dry-run and then crash (12, 10), and Ctrl-C or a closed pipe at
any moment (16b)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from refusals import assert_refused, write_config
from support import run, tiny_config, write


@pytest.fixture
def base(tiny_maze_dir, tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return write_config(tmp_path / "base.yaml", tiny_config(tiny_maze_dir, tmp_path / "x"))


# ----- bench --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--steps", "0"], "--steps"),
        (["--steps", "-3"], "--steps"),
        (["--warmup", "-1"], "--warmup"),
    ],
)
def test_bench_step_refuses_step_counts_below_range(base, tmp_path, capsys, flags, named):
    assert_refused(["bench", "step", base, *flags], capsys, tmp_path, named)


@pytest.mark.parametrize(
    "flags", [["--steps", "99999999999999999999"], ["--steps", "100001"], ["--warmup", "100001"]]
)
def test_bench_step_refuses_step_counts_above_range(base, tmp_path, capsys, flags):
    assert_refused(["bench", "step", base, *flags], capsys, tmp_path, f"{flags[0]} must be in")


# ----- demo ---------------------------------------------------------------------------------
DATASET = "dataset: {task: maze, out: data/m, size: 7, min_path: 4, train: 8, test: 4, seed: 0}"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("dataset: [unclosed\n", "not valid YAML"),
        ("just a string\n", "must hold a mapping"),
        ("dataset: [1, 2]\nruns: {a: configs/tiny.yaml}\nout: runs/demo\n", "'dataset'"),
        (
            "dataset: {task: maze, train: 8, test: 4, seed: 0}\n"
            "runs: {a: configs/tiny.yaml}\nout: runs/demo\n",
            "'dataset.out'",
        ),
        (
            "dataset: {out: data/m, train: 8, test: 4, seed: 0}\n"
            "runs: {a: configs/tiny.yaml}\nout: runs/demo\n",
            "'dataset.task'",
        ),
        (
            "dataset: {task: maze, out: data/m, train: 8, test: 4}\n"
            "runs: {a: configs/tiny.yaml}\nout: runs/demo\n",
            "'dataset.seed'",
        ),
        (f"{DATASET}\nruns: {{}}\nout: runs/demo\n", "'runs'"),
        (f"{DATASET}\nruns: {{a: configs/tiny.yaml}}\n", "'out'"),
        (f"{DATASET}\nruns: {{a: configs/none.yaml}}\nout: runs/demo\n", "run a: config file"),
        (
            f"{DATASET}\nruns: {{a: configs/tiny.yaml, b: configs/bad.yaml}}\nout: runs/demo\n",
            "run b: config key 'train.lr'",
        ),
    ],
)
def test_demo_checks_its_whole_file_before_building_anything(
    tiny_maze_dir, tmp_path, capsys, monkeypatch, text, named
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    write_config(tmp_path / "configs" / "tiny.yaml", tiny_config(tiny_maze_dir, tmp_path))
    write(tmp_path / "configs" / "bad.yaml", "train: {lr: .inf}\n")
    demo = write(tmp_path / "configs" / "demo.yaml", text)
    assert_refused(["demo", "--config", demo], capsys, tmp_path, named)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("where", "named"),
    [
        ("runs/demo", "runs/demo is a file, not a directory"),
        ("runs/demo/a/notes.md", "runs/demo/a: it is not a ponder run directory"),
        ("runs/demo/comparison.md/x", "runs/demo/comparison.md is a directory"),
    ],
)
def test_demo_checks_where_it_writes_before_building_anything(
    tiny_maze_dir, tmp_path, capsys, monkeypatch, where, named
):
    """The demo replaces its runs (--overwrite): only directories that hold nothing but a
    run, checked before the dataset is built."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    write_config(tmp_path / "configs" / "tiny.yaml", tiny_config(tiny_maze_dir, tmp_path))
    demo = write(
        tmp_path / "configs" / "demo.yaml",
        f"{DATASET}\nruns: {{a: configs/tiny.yaml}}\nout: runs/demo\n",
    )
    (tmp_path / where).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / where).write_text("mine")
    assert_refused(["demo", "--config", demo], capsys, tmp_path, named)
    assert not (tmp_path / "data").exists()


def test_data_check_names_an_empty_path(capsys):
    """Not "train: split directory not found" (Path("") is the current directory)."""
    with pytest.raises(SystemExit) as stop:  # argparse refuses an argument by exiting
        run(["data", "check", ""], capsys)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "ponder data check: error: argument dir: the path is empty; give one"
    ]


def test_demo_refuses_a_file_that_is_not_utf8(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demo = tmp_path / "demo.yaml"
    demo.write_bytes(b"out: r\xe9sultats\n")
    assert_refused(["demo", "--config", demo], capsys, tmp_path, "demo.yaml", "UTF-8")


# ----- suites -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seeds", "named"), [("[-1]", "'runs.a.seeds.0'"), ("[true]", "'runs.a.seeds'")]
)
def test_suite_dry_run_refuses_seeds_training_could_not_use(base, tmp_path, capsys, seeds, named):
    suite = write(
        tmp_path / "s.yaml", f"name: s\nruns:\n  a: {{config: base.yaml, seeds: {seeds}}}\n"
    )
    assert_refused(["suite", suite, "--dry-run"], capsys, tmp_path, named)


def test_suite_refuses_repeated_keys_and_non_utf8(base, tmp_path, capsys):
    suite = write(tmp_path / "s.yaml", "name: s\nname: t\nruns: {a: {config: base.yaml}}\n")
    assert_refused(["suite", suite, "--dry-run"], capsys, tmp_path, "duplicate key 'name'")
    suite.write_bytes(b"name: s\xe9\n")
    assert_refused(["suite", suite, "--dry-run"], capsys, tmp_path, "s.yaml", "UTF-8")


# ----- interrupts and pipes -----------------------------------------------------------------
def _ponder(*args: object, **kwargs) -> subprocess.Popen:
    """The CLI in a child whose Ctrl-C is live, as at a terminal: a test run started in the
    background (`make test &`, nohup, some CI shells) passes SIGINT on as ignored, and Python
    then rightly leaves it ignored, so a Ctrl-C after the imports would do nothing."""
    command = [sys.executable, "-m", "ponder", *map(str, args)]
    return subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, preexec_fn=_default_ctrl_c, **kwargs
    )


def _default_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_importing_the_cli_and_building_its_parser_stays_light():
    """Ctrl-C during a heavy import used to escape main(); now nothing heavy is imported
    before main() is running."""
    code = (
        "import sys, ponder.cli; ponder.cli.build_parser(); "
        "print(sorted(m for m in ('torch', 'numpy', 'yaml', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("delay", [0.1, 0.4, 0.8, 1.2, 2.0])
def test_ctrl_c_at_any_moment_exits_130_without_a_traceback(base, tmp_path, delay):
    process = _ponder("train", base, "train.steps=100000", stdout=subprocess.DEVNULL, cwd=tmp_path)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and err.strip().endswith("ponder: interrupted"), err


_CAUGHT_INSIDE_EXEC = """
import sys
try:
    exec("raise KeyboardInterrupt")  # as when Ctrl-C lands inside a dataclass being built
except KeyboardInterrupt:
    if sys.argv[1:] == ["ponder"]:
        from ponder.cli import interrupted
        raise SystemExit(interrupted())
    raise SystemExit(130)
"""


_MEASURED_ON_311 = pytest.mark.skipif(
    sys.version_info[:2] != (3, 11), reason="CPython's behaviour, seen on 3.11"
)


@pytest.mark.parametrize(
    ("handler", "returncode"),
    [pytest.param("plain", -signal.SIGINT, marks=_MEASURED_ON_311), ("ponder", 130)],
)
def test_an_interrupt_caught_after_passing_through_exec_still_exits_130(
    tmp_path, handler, returncode
):
    """Under `python -m`, CPython 3.11 ends by SIGINT after an interrupt that went through an
    `exec` of a string, caught or not (the plain case shows it); ponder's handler clears it."""
    (tmp_path / "caught_in_exec.py").write_text(_CAUGHT_INSIDE_EXEC)
    command = [sys.executable, "-m", "caught_in_exec", handler]
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == returncode, out.stderr


def test_a_closed_output_pipe_exits_quietly(tiny_maze_dir):
    """`ponder data check DIR --json | head -1`: the reader leaves before the output."""
    process = _ponder("data", "check", tiny_maze_dir, "--json", stdout=subprocess.PIPE)
    process.stdout.close()  # every write of the child now fails with EPIPE
    err = process.stderr.read()
    process.wait(timeout=120)
    assert process.returncode == 141 and err == "", err
