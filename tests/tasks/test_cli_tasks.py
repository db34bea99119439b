"""Every task on `ponder oracle`, `verify` and `solve`: few-shot task files (ARC JSON), the
skills oracle, routing's edge cases, and one line + exit 2 for files that cannot be used."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import run, tiny_config, write

from ponder.data.fewshot_build import build_skills_dataset
from ponder.errors import UserError
from ponder.tasks import get, names, skills
from ponder.tasks.fewshot import FewShotTask, Pair, task_to_json
from ponder.train.launch import train

# The 2x2 swap: a flip left-right that no rotation or colour map explains.
FLIP_TASK = {
    "train": [
        {"input": [[1, 2, 0], [3, 0, 0]], "output": [[0, 2, 1], [0, 0, 3]]},
        {"input": [[4, 4, 0], [0, 5, 6]], "output": [[0, 4, 4], [6, 5, 0]]},
    ],
    "test": [{"input": [[7, 0, 0], [0, 8, 0]]}],
}
FLIP_ANSWER = [[[0, 0, 7], [0, 8, 0]]]
MAZE = "#######\n#S#   #\n# # # #\n#   #G#\n#######\n"


def _one_error_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ponder: error:"), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


def _json_file(path, data):
    return write(path, json.dumps(data))


# ----------------------------------------------------------------- few-shot task files


def test_oracle_skills_computes_the_test_outputs(tmp_path, capsys) -> None:
    code, out, err = run(["oracle", "skills", _json_file(tmp_path / "t.json", FLIP_TASK)], capsys)
    assert code == 0, err
    assert json.loads(out) == FLIP_ANSWER


def test_oracle_skills_matches_the_generator_on_every_skill() -> None:
    rng = np.random.default_rng(3)
    family = get("skills")
    for name in skills.SKILLS:
        for _ in range(3):
            task = skills.generate_task(name, rng, num_demos=3, max_size=8)
            hidden = FewShotTask("t", task.train, tuple(Pair(p.input, None) for p in task.test))
            answers = family.solve(hidden)
            assert [a.tolist() for a in answers] == [p.output.tolist() for p in task.test], name


def test_oracle_skills_refuses_a_task_no_skill_explains(tmp_path, capsys) -> None:
    task = {"train": [{"input": [[1, 2]], "output": [[5, 5, 5]]}], "test": [{"input": [[1]]}]}
    code, _, err = run(["oracle", "skills", _json_file(tmp_path / "t.json", task)], capsys)
    assert code == 2
    _one_error_line(err, "no skill")


def test_oracle_skills_refuses_demonstrations_that_fit_several_skills(tmp_path, capsys) -> None:
    # One symmetric demonstration: a flip and a 180-degree turn both explain it.
    task = {"train": [{"input": [[1, 2], [2, 1]], "output": [[2, 1], [1, 2]]}],
            "test": [{"input": [[1, 2], [3, 4]]}]}  # fmt: skip
    code, _, err = run(["oracle", "skills", _json_file(tmp_path / "t.json", task)], capsys)
    assert code == 2
    _one_error_line(err, "answer the test differently", "flip")


def test_oracle_arc_prints_stored_outputs_or_says_there_is_no_oracle(tmp_path, capsys) -> None:
    stored = {**FLIP_TASK, "test": [{"input": [[7]], "output": [[3, 3]]}]}
    code, out, _ = run(["oracle", "arc", _json_file(tmp_path / "s.json", stored)], capsys)
    assert code == 0 and json.loads(out) == [[[3, 3]]]
    code, out, err = run(["oracle", "arc", _json_file(tmp_path / "h.json", FLIP_TASK)], capsys)
    assert code == 2 and out == ""
    _one_error_line(err, "no oracle", "no test outputs")


@pytest.mark.parametrize("family", ["arc", "skills"])
def test_verify_few_shot_exit_codes(tmp_path, capsys, family) -> None:
    task = {**FLIP_TASK, "test": [{"input": [[7, 0, 0], [0, 8, 0]], "output": FLIP_ANSWER[0]}]}
    puzzle = _json_file(tmp_path / "p.json", task)
    right = _json_file(tmp_path / "right.json", FLIP_ANSWER)
    code, out, _ = run(["verify", family, puzzle, right, "--json"], capsys)
    assert code == 0 and json.loads(out) == {"exact": True, "per_test": [True]}
    # A lone grid answers a task with one test input; a wrong size is judged, not refused.
    for wrong in ([[0, 0, 7], [0, 8, 1]], [[0, 0, 7]]):
        code, out, _ = run(["verify", family, puzzle, _json_file(tmp_path / "w.json", wrong)],
                           capsys)  # fmt: skip
        assert code == 1 and "per_test" in out


def test_verify_skills_without_stored_outputs_asks_the_oracle(tmp_path, capsys) -> None:
    puzzle = _json_file(tmp_path / "p.json", FLIP_TASK)
    code, _, _ = run(["verify", "skills", puzzle, _json_file(tmp_path / "a.json", FLIP_ANSWER)],
                     capsys)  # fmt: skip
    assert code == 0
    code, _, err = run(["verify", "arc", puzzle, tmp_path / "a.json"], capsys)
    assert code == 2
    _one_error_line(err, "no test outputs to judge against")


UNUSABLE_ANSWERS = {
    "two_grids": ([[[1]], [[2]]], "answer has 2 grid(s), the task has 1 test input"),
    "colour": ([[1, 10]], "colour 10 is outside 0..9"),
    "ragged": ([[1, 2], [3]], "ragged rows"),
    "object": ({"test": []}, "test output grids as JSON"),
    "number": (7, "test output grids as JSON"),
}


@pytest.mark.parametrize("case", sorted(UNUSABLE_ANSWERS))
def test_verify_few_shot_refuses_an_answer_it_cannot_judge(tmp_path, capsys, case) -> None:
    data, words = UNUSABLE_ANSWERS[case]
    puzzle = _json_file(tmp_path / "p.json", FLIP_TASK)
    answer = _json_file(tmp_path / "a.json", data)
    code, _, err = run(["verify", "skills", puzzle, answer], capsys)
    assert code == 2
    _one_error_line(err, str(answer), words)


# ----------------------------------------------------------------- routing edge cases


@pytest.mark.parametrize(("city", "route"), [("SE", 0), ("S.\nE.", 0), ("S.\n.E", 1)])
def test_oracle_routing_when_s_touches_e(tmp_path, capsys, city, route) -> None:
    puzzle = write(tmp_path / "p.txt", f"vehicle=car hour=3\n{city}\n")
    code, out, err = run(["oracle", "routing", puzzle], capsys)
    assert code == 0, err
    assert "".join(out.splitlines()[1:]).count("o") == route  # touching: the empty route
    code, _, _ = run(["verify", "routing", puzzle, write(tmp_path / "a.txt", out)], capsys)
    assert code == 0


SCENARIO = "vehicle=car hour=3\nS..\n...\n..E\n"


@pytest.mark.parametrize(
    "answer",
    [
        "vehicle=car hour=3\nooo\n..o\n..E\n",  # S overwritten
        "vehicle=car hour=3\nSoo\n..o\n..o\n",  # E overwritten
        "vehicle=car hour=3\nSoo\n..o\nS.E\n",  # a second start
    ],
)
def test_verify_routing_judges_overwritten_ends_not_exact(tmp_path, capsys, answer) -> None:
    puzzle = write(tmp_path / "p.txt", SCENARIO)
    answer = write(tmp_path / "a.txt", answer)
    code, out, err = run(["verify", "routing", puzzle, answer, "--json"], capsys)
    assert code == 1, err
    assert json.loads(out)["exact"] is False


def test_verify_routing_blames_the_shape_of_a_short_answer(tmp_path, capsys) -> None:
    puzzle = write(tmp_path / "p.txt", SCENARIO)
    answer = write(tmp_path / "a.txt", "vehicle=car hour=3\nSoo\n")  # no E, one row
    code, _, err = run(["verify", "routing", puzzle, answer], capsys)
    assert code == 2
    _one_error_line(err, "a.txt", "answer city has shape 1x3, the puzzle's 3x3")


# ----------------------------------------------------------------- files that cannot be used


def _bad_files(tmp_path) -> dict:
    return {
        "empty": write(tmp_path / "empty.txt", ""),
        "binary": _binary(tmp_path / "bin.dat"),
        "json_list": write(tmp_path / "list.json", "[1, 2, 3]"),
        "colour": _json_file(tmp_path / "c.json", {**FLIP_TASK, "test": [{"input": [[12]]}]}),
        "directory": tmp_path,
        "missing": tmp_path / "nowhere.txt",
    }


def _binary(path):
    path.write_bytes(bytes(range(256)) * 4)
    return path


@pytest.mark.parametrize("task", names())
def test_every_task_refuses_unusable_files_in_one_line(tmp_path, capsys, task) -> None:
    good_maze = write(tmp_path / "m.txt", MAZE)
    for case, path in _bad_files(tmp_path).items():
        before = sorted(p.name for p in tmp_path.iterdir())
        for args in (["oracle", task, path], ["verify", task, path, path],
                     ["verify", task, good_maze, path]):  # fmt: skip
            code, out, err = run(args, capsys)
            assert code == 2, (case, args, out)
            _one_error_line(err)
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_a_directory_is_not_reported_missing(tmp_path, capsys) -> None:
    code, _, err = run(["oracle", "maze", tmp_path], capsys)
    assert code == 2
    _one_error_line(err, "is a directory")


def test_maze_row_with_trailing_spaces_is_the_row_blamed(tmp_path, capsys) -> None:
    lines = MAZE.splitlines()
    lines[0] += "  "  # the first row: the others must not be measured against it
    code, _, err = run(["oracle", "maze", write(tmp_path / "m.txt", "\n".join(lines))], capsys)
    assert code == 2
    _one_error_line(err, "row 1 has 9 cells, expected 7", "2 extra trailing spaces")


def test_verify_names_the_file_with_the_problem(tmp_path, capsys) -> None:
    puzzle = write(tmp_path / "p.txt", MAZE)
    answer = write(tmp_path / "a.txt", MAZE.replace("#G#", "#Gx"))
    code, _, err = run(["verify", "maze", puzzle, answer], capsys)
    assert code == 2
    _one_error_line(err, f"{answer}: unknown character 'x'")


# ----------------------------------------------------------------- solve on a few-shot run


@pytest.fixture(scope="module")
def skills_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fewshot_solve")
    data = build_skills_dataset(root / "skills", train=12, test=2, unseen=2, seed=0, demos=3,
                                max_size=6)  # fmt: skip
    model = {"name": "trm", "hidden_size": 32, "num_heads": 2, "ffn_multiple_of": 16, "n": 1,
             "T": 1, "pos_encoding": "rope2d", "puzzle_emb_len": 2}  # fmt: skip
    config = tiny_config(data, root / "run", model=model, train={"halting": "none", "steps": 2})
    return train(config, quiet=True), data


def test_solve_predicts_a_few_shot_task_file(tmp_path, capsys, skills_run) -> None:
    run_dir, data = skills_run
    code, shown, _ = run(["data", "show", data], capsys)
    assert code == 0
    task = write(tmp_path / "t.json", shown)
    code, out, err = run(["solve", run_dir, task, "--png", tmp_path / "t.png"], capsys)
    assert code == 0, err
    answer_line, verdict = out.splitlines()
    assert len(json.loads(answer_line)) == len(json.loads(shown)["test"])
    assert verdict.startswith("exact=") and (tmp_path / "t.png").is_file()
    # the printed prediction is an answer file `verify` can judge
    code, _, _ = run(["verify", "skills", task, write(tmp_path / "a.json", answer_line)], capsys)
    assert code in (0, 1)


def test_solve_without_a_truth_still_predicts(tmp_path, capsys, skills_run) -> None:
    run_dir, _ = skills_run
    hidden = _json_file(tmp_path / "h.json", {"train": [{"input": [[1]], "output": [[2, 2]]}],
                                               "test": [{"input": [[3]]}]})  # fmt: skip
    code, out, err = run(["solve", run_dir, hidden], capsys)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("no verdict")


def test_solve_refuses_a_task_larger_than_the_run_canvas(tmp_path, capsys, skills_run) -> None:
    run_dir, _ = skills_run
    big = {"train": [{"input": [[1] * 7] * 7, "output": [[1]]}], "test": [{"input": [[1]]}]}
    code, _, err = run(["solve", run_dir, _json_file(tmp_path / "b.json", big)], capsys)
    assert code == 2
    _one_error_line(err, "7x7 grid", "6x6 canvas")


def test_task_to_json_round_trips_through_the_task_file_parser() -> None:
    family = get("arc")
    task = family.parse_puzzle(json.dumps(FLIP_TASK))
    assert task_to_json(task) == FLIP_TASK
    with pytest.raises(UserError, match="appears twice"):
        family.parse_puzzle('{"train": [], "train": []}')


def test_verify_help_gives_the_exit_codes(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        run(["verify", "--help"], capsys)
    out = capsys.readouterr().out
    assert stop.value.code == 0
    assert "exit status: 0 the answer is exact, 1" in " ".join(out.split())
