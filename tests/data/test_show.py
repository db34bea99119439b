"""`ponder data show`: an example in its task's file format, which `ponder oracle` and
`ponder verify` read back (the round trip), and one line + exit 2 for a bad dir/split/index."""

from __future__ import annotations

import json

import pytest
from support import run, write

from ponder.data import build_dataset
from ponder.data.fewshot_build import build_skills_dataset


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, tiny_maze_dir) -> dict:
    root = tmp_path_factory.mktemp("show")
    routing = build_dataset("routing", root / "routing", train=4, test=3, seed=0, size=6, canvas=8)
    skills = build_skills_dataset(root / "skills", train=14, test=2, unseen=2, seed=0, demos=3,
                                  max_size=6)  # fmt: skip
    return {"maze": tiny_maze_dir, "routing": routing, "skills": skills}


def _show(capsys, *args) -> str:
    code, out, err = run(["data", "show", *args], capsys)
    assert code == 0, err
    return out


@pytest.mark.parametrize("task", ["maze", "routing", "skills"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_shown_example_round_trips_through_oracle_and_verify(
    tmp_path, capsys, datasets, task, split
) -> None:
    puzzle = write(
        tmp_path / "p.txt", _show(capsys, datasets[task], "--split", split, "--index", 1)
    )
    stored = write(tmp_path / "a.txt", _show(capsys, datasets[task], "--split", split, "--index",
                                             1, "--answer"))  # fmt: skip
    code, oracle, err = run(["oracle", task, puzzle], capsys)
    assert code == 0, err
    code, _, err = run(["verify", task, puzzle, stored], capsys)
    assert code == 0, err  # the stored solution is exact
    code, _, err = run(["verify", task, puzzle, write(tmp_path / "o.txt", oracle)], capsys)
    assert code == 0, err  # and so is the oracle's
    if task != "maze":  # a maze may have several shortest routes; these answers are unique
        assert oracle == stored.read_text()


def test_routing_example_has_its_header_line(capsys, datasets) -> None:
    lines = _show(capsys, datasets["routing"]).splitlines()
    assert lines[0].startswith("vehicle=") and " hour=" in lines[0]
    assert len(lines) == 1 + 8 and {len(line) for line in lines[1:]} == {8}  # the 8x8 canvas


def test_few_shot_example_is_an_arc_task_without_its_answer(capsys, datasets) -> None:
    """The task is the puzzle: demonstrations and test inputs; --answer adds the solution."""
    task = json.loads(_show(capsys, datasets["skills"], "--index", 3))
    assert set(task) == {"train", "test"} and len(task["train"]) == 3
    assert all(set(pair) == {"input", "output"} for pair in task["train"])
    assert all(set(pair) == {"input"} for pair in task["test"])
    answer = json.loads(_show(capsys, datasets["skills"], "--index", 3, "--answer"))
    assert len(answer) == len(task["test"])


def test_arc_reads_a_shown_skills_task_too(tmp_path, capsys, datasets) -> None:
    # ARC has no oracle, and the shown task holds no test outputs: `oracle arc` parses the
    # file and says so; `verify skills` judges the stored answer with the skills oracle.
    puzzle = write(tmp_path / "p.json", _show(capsys, datasets["skills"]))
    code, _, err = run(["oracle", "arc", puzzle], capsys)
    assert code == 2 and "holds no test outputs" in err
    answer = write(tmp_path / "a.json", _show(capsys, datasets["skills"], "--answer"))
    code, _, err = run(["verify", "skills", puzzle, answer], capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--index", "99"], "--index 99 is out of range: the test split has 8 examples (0..7)"),
        (["--index", "-1"], "--index -1 is out of range"),
        (["--split", "valid"], "invalid choice: 'valid'"),
        (["--index", "x"], "invalid int value: 'x'"),
    ],
)
def test_bad_index_or_split_is_one_line(capsys, tiny_maze_dir, args, words) -> None:
    before = sorted(p.name for p in tiny_maze_dir.rglob("*"))
    try:
        code, out, err = run(["data", "show", tiny_maze_dir, *args], capsys)
    except SystemExit as stop:  # argparse refuses a bad --split or --index by exiting
        code, (out, err) = stop.code, capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and words in err
    assert sorted(p.name for p in tiny_maze_dir.rglob("*")) == before


def test_few_shot_index_counts_tasks(capsys, datasets) -> None:
    code, _, err = run(["data", "show", datasets["skills"], "--index", 4], capsys)
    assert code == 2 and "the test split has 4 tasks (0..3)" in err


@pytest.mark.parametrize(
    ("case", "words"),
    [("missing", "not found"), ("file", "is a file"), ("no_ponder_json", "no ponder.json")],
)
def test_bad_dataset_dir_is_one_line(tmp_path, capsys, case, words) -> None:
    path = {
        "missing": tmp_path / "nowhere",
        "file": write(tmp_path / "f.txt", "x"),
        "no_ponder_json": tmp_path,
    }[case]
    code, out, err = run(["data", "show", path], capsys)
    assert code == 2 and out == "" and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("ponder: error:")
    assert words in err
