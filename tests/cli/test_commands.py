"""The CLI: a smoke run of every command, and exit 2 with one line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import run, tiny_config, write

MAZE = "#######\n#S    #\n##### #\n#     #\n# #####\n#    G#\n#######\n"


def tiny_preset(tmp_path: Path, data_dir: Path) -> Path:
    """A YAML preset for a TRM that trains 4 steps in about a second."""
    cfg = tiny_config(
        data_dir,
        tmp_path / "run",
        name="cli",
        model={"n": 1, "T": 1},
        train={"steps": 4, "global_batch_size": 4, "checkpoint_every": 2, "eval_examples": 4},
    )
    return write(tmp_path / "tiny.yaml", yaml.safe_dump(cfg.to_dict()))


def test_smoke_build_check_train_eval_solve(tmp_path, capsys):
    data = tmp_path / "data"
    code, out, _ = run(
        [
            "data",
            "build",
            "maze",
            "--size",
            "7",
            "--train",
            "12",
            "--test",
            "6",
            "--min-path",
            "4",
            "--seed",
            "3",
            "--out",
            data,
        ],
        capsys,
    )
    assert code == 0 and "dataset ready" in out
    assert run(["data", "check", data], capsys)[0] == 0
    preset = tiny_preset(tmp_path, data)
    code, out, _ = run(["train", preset, "train.lr=2e-3"], capsys)
    assert code == 0, out
    run_dir = tmp_path / "run"
    code, out, _ = run(["eval", run_dir, "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["n"] == 6 and 0.0 <= report["exact"] <= 1.0
    assert (run_dir / "eval" / "metrics.json").is_file()
    assert (run_dir / "eval" / "samples.png").read_bytes()[:4] == b"\x89PNG"
    puzzle = write(tmp_path / "p.txt", MAZE)
    code, out, _ = run(["solve", run_dir, puzzle, "--png", tmp_path / "s.png"], capsys)
    assert code == 0 and "exact=" in out and (tmp_path / "s.png").is_file()
    code, out, _ = run(["train", "--resume", run_dir, "--device", "cpu"], capsys)
    assert code == 0
    code, _, err = run(["train", "--resume", run_dir, "train.lr=1"], capsys)
    assert code == 2 and "give no config" in err


def test_oracle_and_verify(tmp_path, capsys):
    puzzle = write(tmp_path / "p.txt", MAZE)
    code, out, _ = run(["oracle", "maze", puzzle], capsys)
    assert code == 0 and out.count("o") == 15
    answer = write(tmp_path / "a.txt", out)
    code, out, _ = run(["verify", "maze", puzzle, answer, "--json"], capsys)
    assert code == 0 and json.loads(out)["exact"] is True
    code, out, _ = run(["verify", "maze", puzzle, puzzle, "--json"], capsys)
    assert code == 1 and json.loads(out)["connected"] is False


BAD_MAZES = {
    "ragged": ("#####\n#S G#\n###\n", "row 3"),
    "unknown": ("#####\n#SxG#\n#####\n", "unknown character 'x'"),
    "no_start": ("#####\n#  G#\n#####\n", "start"),
    "two_goals": ("#####\n#SGG#\n#####\n", "goal"),
    "no_route": ("#####\n#S#G#\n#####\n", "no route"),
}


@pytest.mark.parametrize("case", sorted(BAD_MAZES))
def test_bad_maze_files_exit_2_with_one_line(tmp_path, capsys, case):
    text, words = BAD_MAZES[case]
    code, _, err = run(["oracle", "maze", write(tmp_path / "m.txt", text)], capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_answer_of_the_wrong_shape(tmp_path, capsys):
    puzzle = write(tmp_path / "p.txt", MAZE)
    answer = write(tmp_path / "a.txt", "#####\n#S G#\n#####\n")
    code, _, err = run(["verify", "maze", puzzle, answer], capsys)
    assert code == 2 and "shape" in err


def test_config_mistakes(tmp_path, capsys, tiny_maze_dir):
    preset = tiny_preset(tmp_path, tiny_maze_dir)
    code, _, err = run(["train", preset, "train.lrr=1"], capsys)
    assert code == 2 and "train.lr" in err
    code, _, err = run(["train", preset, "train.steps=many"], capsys)
    assert code == 2 and "train.steps" in err
    code, _, err = run(["train", preset, "data.path=" + str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "not found" in err
    code, _, err = run(["train", tmp_path / "missing.yaml"], capsys)
    assert code == 2 and "not found" in err


def test_existing_run_needs_overwrite(tmp_path, capsys, tiny_maze_dir):
    preset = tiny_preset(tmp_path, tiny_maze_dir)
    assert run(["train", preset], capsys)[0] == 0
    code, _, err = run(["train", preset, "train.lr=5e-4"], capsys)
    assert code == 2 and "--overwrite" in err
    assert run(["train", preset, "train.lr=5e-4", "--overwrite"], capsys)[0] == 0


def test_corrupted_checkpoint_and_bad_dirs(tmp_path, capsys, tiny_maze_dir):
    preset = tiny_preset(tmp_path, tiny_maze_dir)
    assert run(["train", preset], capsys)[0] == 0
    run_dir = tmp_path / "run"
    for name in ("best", "last"):
        path = run_dir / "checkpoints" / f"{name}.safetensors"
        if path.exists():
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, _, err = run(["eval", run_dir], capsys)
    assert code == 2 and "corrupted or truncated" in err
    code, _, err = run(["eval", tmp_path / "no_run"], capsys)
    assert code == 2 and "not a run directory" in err
    code, _, err = run(["data", "check", tmp_path / "no_data"], capsys)
    assert code == 2


def test_module_entry_point_exits_2_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ponder", "oracle", "maze", str(tmp_path / "none.txt")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "not found" in result.stderr


def test_bench_step_reports_speed_and_peak_fraction(tmp_path, capsys, tiny_maze_dir):
    preset = tiny_preset(tmp_path, tiny_maze_dir)
    code, out, _ = run(["bench", "step", preset, "--steps", "2", "--warmup", "1", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["ms_per_step"] > 0 and result["flops_per_step"] > 0
    assert 0 < result["peak_fraction"] < 1.5 and result["peak_flops"] > 0
    assert not (tmp_path / "run").exists()  # benchmarking writes no run


def test_recipe_on_a_dataset_of_another_shape_exits_2(tmp_path, capsys, tiny_maze_dir):
    code, _, err = run(
        [
            "train",
            "configs/hrm_maze_hard.yaml",
            f"data.path={tiny_maze_dir}",
            f"run_dir={tmp_path / 'run'}",
        ],  # fmt: skip
        capsys,
    )
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "vocab_size" not in err and "seq_len 49 but the config (data.*) expects 900" in err
    assert not (tmp_path / "run").exists()  # nothing written


def test_parity_writes_a_matched_config(tmp_path, capsys, tiny_maze_dir):
    base = {"data": {"path": str(tiny_maze_dir)}, "device": "cpu"}
    small = {"num_heads": 2, "ffn_multiple_of": 16}
    reference = {
        **base,
        "model": {"name": "transformer", "hidden_size": 64, "num_layers": 4, **small},
    }
    candidate = {**base, "model": {"name": "poh", "hidden_size": 16, "num_layers": 2, **small}}
    paths = [
        write(tmp_path / f"{n}.yaml", yaml.safe_dump(c))
        for n, c in (("r", reference), ("c", candidate))
    ]
    out = tmp_path / "matched.yaml"
    code, text, _ = run(["parity", *paths, "--out", out], capsys)
    assert code == 0 and "reference transformer" in text
    matched = yaml.safe_load(out.read_text())
    assert matched["model"]["name"] == "poh" and matched["model"]["num_layers"] == 2
    code, _, err = run(["parity", *paths, "--hold", "width", "--tolerance", "0.001"], capsys)
    assert code == 2 and "--accept-closest" in err
    code, _, err = run(["parity", *paths, "--out", tmp_path / "missing" / "m.yaml"], capsys)
    assert code == 2 and "--out directory not found" in err and err.count("\n") == 1
