"""Few-shot judging: scores per skill read the answers (a right answer in second place
counts for pass@2), and `ponder eval --tasks N` judges the first N tasks of each set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import run, tiny_config

from ponder.data.fewshot import read_task_names, read_task_skills
from ponder.data.fewshot_build import build_skills_dataset
from ponder.data.format import load_split
from ponder.eval.fewshot import skill_scores, stored_truths
from ponder.tasks.arc import RankedAnswer
from ponder.train.launch import train

TRM = {"name": "trm", "hidden_size": 16, "num_heads": 2, "ffn_multiple_of": 16, "n": 1,
       "T": 1, "pos_encoding": "rope2d", "puzzle_emb_len": 2}  # fmt: skip


@pytest.fixture(scope="module")
def skills_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("judge") / "skills"
    return build_skills_dataset(out, train=8, test=4, unseen=4, seed=0, demos=3, max_size=6)


@pytest.fixture(scope="module")
def run_dir(skills_dir, tmp_path_factory):
    cfg = tiny_config(skills_dir, tmp_path_factory.mktemp("run") / "r", model=TRM,
                      train={"halting": "none", "steps": 2, "checkpoint_every": 2})  # fmt: skip
    return train(cfg, quiet=True)


def _answer(grid: np.ndarray) -> RankedAnswer:
    return RankedAnswer(grid=grid, votes=1, mean_confidence=0.5)


def test_skill_scores_count_a_task_right_when_its_answer_is_in_the_top_two(skills_dir):
    split, names = load_split(skills_dir, "test"), read_task_names(skills_dir, "test")
    skills = read_task_skills(skills_dir, "test")
    flat = [name for found in names.values() for name in found]
    truths = stored_truths(split, flat, range(len(flat)))
    wrong = [np.full((1, 1), 9)]
    ranked = {n: [[_answer(wrong[0]), _answer(t)] for t in truths[n]] for n in flat}
    first_seen = names["seen"][0]
    ranked[first_seen] = [[_answer(wrong[0])] for _ in truths[first_seen]]  # never right
    found = skill_scores(split, ranked, names, skills)
    assert sum(s["n"] for s in found["seen"].values()) == len(names["seen"])
    missed = skills["seen"][0]
    for skill, score in found["seen"].items():
        want = (score["n"] - 1) / score["n"] if skill == missed else 1.0
        assert score["pass2"] == pytest.approx(want), skill
    assert all(score["pass2"] == 1.0 for score in found["unseen"].values())


def test_eval_tasks_judges_the_first_tasks_of_each_set(run_dir, capsys) -> None:
    code, out, _ = run(["eval", run_dir, "--tasks", 1], capsys)
    assert code == 0 and "by skill" in out
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["n_tasks"] == 2 and metrics["seen_n_tasks"] == 1
    assert metrics["tasks_per_set"] == 1
    assert sum(s["n"] for s in metrics["by_skill"]["unseen"].values()) == 1
    code, _, _ = run(["eval", run_dir], capsys)
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert code == 0 and metrics["n_tasks"] == 8 and "tasks_per_set" not in metrics


@pytest.mark.parametrize("value", [0, -3, "two"])
def test_a_bad_task_count_exits_2_with_one_line(run_dir, capsys, value) -> None:
    with pytest.raises(SystemExit) as stop:
        run(["eval", run_dir, "--tasks", value], capsys)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--tasks" in err and len(err.strip().splitlines()) == 1


def test_tasks_on_a_maze_run_is_refused(tiny_maze_dir, tmp_path, capsys) -> None:
    cfg = tiny_config(tiny_maze_dir, tmp_path / "m", train={"steps": 2, "checkpoint_every": 2})
    maze_run = train(cfg, quiet=True)
    capsys.readouterr()
    code, _, err = run(["eval", maze_run, "--tasks", 2], capsys)
    assert code == 2 and "--tasks" in err and len(err.strip().splitlines()) == 1
    assert not (maze_run / "eval").exists()
