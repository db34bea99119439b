"""The CLI on the routing task: build and check a dataset, oracle and verify a scenario file,
and exit 2 with one line for every bad scenario."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import run, write

SCENARIO = "vehicle=truck hour=17\nS....E\nr####r\nrrrrrr\n"


def test_build_and_check_a_routing_dataset(tmp_path, capsys):
    data = tmp_path / "data"
    args = ["data", "build", "routing", "--size", "6", "--train", "8", "--test", "4"]
    code, out, _ = run([*args, "--seed", "2", "--out", data], capsys)
    assert code == 0 and "dataset ready" in out
    assert json.loads((data / "ponder.json").read_text())["params"]["size"] == 6
    code, out, _ = run(["data", "check", data], capsys)
    assert code == 0 and "task routing" in out


def test_a_canvas_pads_routing_cities_and_is_refused_for_mazes(tmp_path, capsys):
    data = tmp_path / "data"
    args = ["data", "build", "routing", "--size", "6", "--canvas", "8", "--train", "4"]
    code, _, _ = run([*args, "--test", "2", "--out", data], capsys)
    assert code == 0
    assert json.loads((data / "ponder.json").read_text())["params"]["canvas"] == 8
    assert json.loads((data / "train" / "dataset.json").read_text())["seq_len"] == 9 * 8
    code, _, err = run(["data", "build", "maze", "--canvas", "8", "--out", tmp_path / "m"], capsys)
    assert code == 2 and "no parameter 'canvas'" in err and len(err.strip().splitlines()) == 1


def test_a_maze_option_is_refused_for_routing(tmp_path, capsys):
    args = ["data", "build", "routing", "--min-path", "3", "--out", tmp_path / "d"]
    code, _, err = run(args, capsys)
    assert code == 2 and "no parameter 'min_path'" in err and len(err.strip().splitlines()) == 1


def test_dihedral_augmentation_is_refused_for_routing(tmp_path, capsys):
    # a rotation would carry the vehicle/hour header row into the city
    args = ["data", "build", "routing", "--aug", "dihedral", "--out", tmp_path / "d"]
    code, _, err = run(args, capsys)
    assert code == 2 and "does not support augmentation" in err
    assert not (tmp_path / "d").exists()


def test_oracle_and_verify(tmp_path, capsys):
    puzzle = write(tmp_path / "p.txt", SCENARIO)
    code, out, _ = run(["oracle", "routing", puzzle], capsys)
    assert code == 0 and out.splitlines()[0] == "vehicle=truck hour=17"
    assert out.splitlines()[2:] == ["o####o", "oooooo"]  # a truck avoids the street
    answer = write(tmp_path / "a.txt", out)
    code, out, _ = run(["verify", "routing", puzzle, answer, "--json"], capsys)
    assert code == 0 and json.loads(out)["exact"] is True
    code, out, _ = run(["verify", "routing", puzzle, puzzle], capsys)
    assert code == 1 and "connectivity" in out and "exact" in out


BAD_SCENARIOS = {
    "unknown_char": ("vehicle=car hour=3\nS.q.E\n", "unknown character 'q'"),
    "no_start": ("vehicle=car hour=3\n....E\n", "found 0 starts"),
    "no_end": ("vehicle=car hour=3\nS....\n", "found 0 ends"),
    "vehicle": ("vehicle=boat hour=3\nS...E\n", "unknown vehicle 'boat'"),
    "hour": ("vehicle=car hour=25\nS...E\n", "hour must be an integer in 0..23"),
    "ragged": ("vehicle=car hour=3\nS...E\n...\n", "city row 2"),
    "no_route": ("vehicle=truck hour=3\nS...E\n", "no route from S to E for a truck"),
}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_bad_scenarios_exit_2_with_one_line(tmp_path, capsys, case):
    text, words = BAD_SCENARIOS[case]
    code, _, err = run(["oracle", "routing", write(tmp_path / "s.txt", text)], capsys)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_bad_answer_file_exits_2(tmp_path, capsys):
    puzzle = write(tmp_path / "p.txt", SCENARIO)
    answer = write(tmp_path / "a.txt", "vehicle=truck hour=17\nS....E\nr####r\n")
    code, _, err = run(["verify", "routing", puzzle, answer], capsys)
    assert code == 2 and "shape" in err


def test_module_entry_point_has_no_traceback(tmp_path):
    bad = write(tmp_path / "s.txt", "vehicle=car hour=99\nS.E\n")
    result = subprocess.run(
        [sys.executable, "-m", "ponder", "oracle", "routing", str(bad)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "ponder: error: hour must be an integer in 0..23, got '99'"
