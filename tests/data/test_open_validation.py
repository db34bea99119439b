"""Every dataset that `train` and `eval` open is checked as `ponder data check` checks it.

Each corruption of a tiny built dataset makes `ponder data check`, `ponder train` and
`ponder eval --data` exit 2 with one line naming the problem, and write nothing (no run
directory, no eval/ folder). Datasets built by HRM/TRM (no ponder.json) still open.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from support import hrm_maze_fixture, run, tiny_config, write

from ponder.data import check as check_module
from ponder.data.check import check_dataset
from ponder.data.dataset import open_dataset
from ponder.data.fewshot_build import build_skills_dataset
from ponder.data.format import content_hash
from ponder.errors import UserError
from ponder.train.launch import train

Corrupt = Callable[[Path], None]


# ----- helpers ---------------------------------------------------------------------------------
def _edit(root: Path, split: str, field: str, change, set_name: str = "all") -> None:
    path = root / split / f"{set_name}__{field}.npy"
    np.save(path, change(np.load(path)))


def _edit_json(path: Path, **changes: object) -> None:
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def _rehash(root: Path) -> None:
    """Make the content hash match again: the corruption must be caught by its own check."""
    _edit_json(root / "ponder.json", content_hash=content_hash(root))


def _set(index, value) -> Callable[[np.ndarray], np.ndarray]:
    def change(a: np.ndarray) -> np.ndarray:
        a = a.astype(np.int32) if value < 0 else a
        a[index] = value
        return a

    return change


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def _refused(args: list, capsys, words: str, watched: list[Path]) -> str:
    """Run `ponder ARGS`; assert exit 2, one `ponder: error:` line holding `words`, no
    traceback, and nothing under `watched` created, changed or deleted. Returns the line."""
    before = [_listing(root) for root in watched]
    code, _, err = run(args, capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("ponder: error:"), err
    assert words in lines[0] and "Traceback" not in err, err
    assert [_listing(root) for root in watched] == before
    return lines[0]


def _preset(where: Path, data_dir: Path, run_dir: Path, **sections) -> Path:
    cfg = tiny_config(data_dir, run_dir, train={"steps": 2, "checkpoint_every": 0}, **sections)
    return write(where / "preset.yaml", yaml.safe_dump(cfg.to_dict()))


@pytest.fixture(scope="module")
def maze_run(tiny_maze_dir, tmp_path_factory) -> Path:
    """A tiny trained maze run, to evaluate on corrupted datasets with --data."""
    out = tmp_path_factory.mktemp("maze_run")
    return train(tiny_config(tiny_maze_dir, out / "run", train={"steps": 2}), quiet=True)


@pytest.fixture(scope="module")
def skills_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("skills") / "skills"
    return build_skills_dataset(out, train=14, test=4, unseen=4, seed=0, demos=3, max_size=6)


@pytest.fixture(scope="module")
def skills_run(skills_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("skills_run")
    return train(tiny_config(skills_dir, out / "run", train={"steps": 2}), quiet=True)


def _check_all_three(source: Path, trained: Path, corrupt: Corrupt, words: str, tmp_path, capsys):
    """Corrupt a copy of `source`; data check, train and eval --data all refuse it."""
    data = Path(shutil.copytree(source, tmp_path / "data"))
    corrupt(data)
    preset = _preset(tmp_path, data, tmp_path / "runs" / "r")
    watched = [tmp_path, trained]
    assert "Traceback" not in _refused(["data", "check", data], capsys, words, watched)
    _refused(["train", preset], capsys, words, watched)
    assert not (tmp_path / "runs").exists()
    _refused(["eval", trained, "--data", data], capsys, words, watched)
    assert not (trained / "eval").exists()


# ----- maze datasets -----------------------------------------------------------------------------
def _short_labels(root: Path) -> None:
    _edit(root, "train", "labels", lambda a: a[:, :-1])
    _rehash(root)


def _vocab_below_tokens(root: Path) -> None:
    for split in ("train", "test"):
        _edit_json(root / split / "dataset.json", vocab_size=4)
    _rehash(root)


def _labels_all_padding(root: Path) -> None:
    _edit(root, "train", "labels", np.zeros_like)
    _rehash(root)


def _random_bytes(root: Path) -> None:
    (root / "train" / "all__labels.npy").write_bytes(os.urandom(300))


def _stale_hash(root: Path) -> None:
    _edit_json(root / "test" / "dataset.json", mean_puzzle_examples=2.0)


def _seed_nan(root: Path) -> None:
    path = root / "ponder.json"
    path.write_text(path.read_text().replace('"seed": 0', '"seed": NaN'))


def _inputs_a_directory(root: Path) -> None:
    (root / "train" / "all__inputs.npy").unlink()
    (root / "train" / "all__inputs.npy").mkdir()


MAZE_CORRUPTIONS = {
    "short labels": (_short_labels, "train: labels has shape [16, 48], expected [N, 49]"),
    "vocab_size below the tokens": (_vocab_below_tokens, "holds token 4, outside [0, 4)"),
    "group offsets past the end": (
        lambda r: _edit(r, "train", "group_indices", _set(-1, 21)),
        "train: group_indices ends at 21, expected 16",
    ),
    "token 200": (
        lambda r: _edit(r, "train", "inputs", _set((0, 3), 200)),
        "train: inputs holds token 200",
    ),
    "token -1, stale hash": (
        lambda r: _edit(r, "test", "labels", _set((1, 3), -1)),
        "test: labels holds token -1",
    ),
    "puzzle id past the table": (
        lambda r: _edit(r, "train", "puzzle_identifiers", _set(2, 3)),
        "train: puzzle identifier 3 outside [0, 1)",
    ),
    "labels all padding": (_labels_all_padding, "labels in train are padding except the answer"),
    "another task in ponder.json": (
        lambda r: _edit_json(r / "ponder.json", task="routing"),
        "does not fit task routing",
    ),
    "random bytes for an array": (_random_bytes, "all__labels.npy: not a readable .npy array file"),
    "files changed after the build": (_stale_hash, "content_hash does not match the files"),
    # QA after issue 12: data check refused these but train and eval opened them, or all
    # three accepted them, or named the wrong problem.
    "identifiers.json cut short": (
        lambda r: (r / "identifiers.json").write_text("{"),
        "identifiers.json: invalid JSON",
    ),
    "seed NaN in ponder.json": (_seed_nan, "ponder.json: 'seed' must be an integer in 0.."),
    "params a string in ponder.json": (
        lambda r: _edit_json(r / "ponder.json", params="x"),
        "ponder.json: 'params' must be a mapping of task parameters, got 'x'",
    ),
    "a float param NaN in ponder.json": (
        lambda r: _edit_json(r / "ponder.json", params={"size": 7, "loop_fraction": float("nan")}),
        "ponder.json: 'params.loop_fraction' must be a finite number",
    ),
    "an array path that is a directory": (
        _inputs_a_directory,
        "all__inputs.npy is a directory, not a .npy array file",
    ),
}


@pytest.mark.parametrize("case", list(MAZE_CORRUPTIONS))
def test_corrupted_maze_dataset_is_refused_everywhere(
    case, tiny_maze_dir, maze_run, tmp_path, capsys
) -> None:
    corrupt, words = MAZE_CORRUPTIONS[case]
    _check_all_three(tiny_maze_dir, maze_run, corrupt, words, tmp_path, capsys)


def test_random_bytes_do_not_suggest_unpickling(tiny_maze_dir, tmp_path) -> None:
    data = Path(shutil.copytree(tiny_maze_dir, tmp_path / "data"))
    _random_bytes(data)
    with pytest.raises(UserError, match="no .npy header") as caught:
        open_dataset(data)
    assert "pickle" not in str(caught.value)


def test_data_task_must_agree_with_ponder_json(tiny_maze_dir, tmp_path, capsys) -> None:
    preset = _preset(tmp_path, tiny_maze_dir, tmp_path / "runs" / "r", data={"task": "routing"})
    _refused(["train", preset], capsys, "data.task is routing but", [tmp_path, tiny_maze_dir])


def test_hash_is_skipped_on_open_only_above_the_size_limit(tiny_maze_dir, tmp_path, monkeypatch):
    data = Path(shutil.copytree(tiny_maze_dir, tmp_path / "data"))
    _stale_hash(data)
    with pytest.raises(UserError, match="content_hash does not match"):
        open_dataset(data)
    monkeypatch.setattr(check_module, "HASH_ON_OPEN_MAX_BYTES", 0)  # as if it were huge
    assert open_dataset(data).train.num_examples == 16
    with pytest.raises(UserError, match="content_hash does not match"):
        check_dataset(data)  # `ponder data check` always hashes


# ----- HRM/TRM layout (no ponder.json) -----------------------------------------------------------
def test_hrm_layout_opens_and_is_still_checked(tmp_path) -> None:
    root = hrm_maze_fixture(tmp_path / "hrm", side=7, n_train=6, n_test=3)
    assert check_dataset(root)["task"] is None
    assert open_dataset(root, "maze").spec.grid_shape == (7, 7)
    _edit(root, "train", "inputs", _set((0, 0), 9))
    with pytest.raises(UserError, match=f"dataset {root}: train: inputs holds token 9"):
        open_dataset(root, "maze")


def test_hrm_layout_of_another_task_is_refused(tmp_path) -> None:
    root = hrm_maze_fixture(tmp_path / "hrm", side=7, n_train=6, n_test=3)
    with pytest.raises(UserError, match="does not fit task routing"):
        open_dataset(root, "routing")


# ----- few-shot datasets ------------------------------------------------------------------------
def _tasks_json_of_another_size(root: Path) -> None:
    path = root / "test" / "tasks.json"
    data = json.loads(path.read_text())
    data["tasks"]["seen"] = data["tasks"]["seen"][:-1]
    path.write_text(json.dumps(data))


FEWSHOT_CORRUPTIONS = {
    "demo count above the slots": (
        lambda r: _edit(r, "train", "demo_counts", _set(0, 9)),
        "train: demo_counts holds 9, outside 0..3",
    ),
    "demo slot past the demonstrations": (
        lambda r: _edit(r, "train", "example_slot", _set(0, 7)),
        "train: example 0 is demonstration slot 7",
    ),
    "view symmetry out of range": (
        lambda r: _edit(r, "test", "puzzle_views", _set((1, 0), 11), "seen"),
        "test: puzzle_views row 1 is not a view",
    ),
    "view offset off the canvas": (
        lambda r: _edit(r, "train", "puzzle_views", _set((1, -1), 40)),
        "train: puzzle_views row 1 is not a view",
    ),
    "demo token out of range": (
        lambda r: _edit(r, "train", "demo_inputs", _set((0, 0, 0), 50)),
        "train: demo_inputs holds token 50",
    ),
    "missing demo_inputs.npy": (
        lambda r: (r / "test" / "unseen__demo_inputs.npy").unlink(),
        "test/unseen__demo_inputs.npy: file not found",
    ),
    "corrupted tasks.json": (
        lambda r: (r / "test" / "tasks.json").write_text("{broken"),
        "test/tasks.json: invalid JSON",
    ),
    "tasks.json of another size": (
        _tasks_json_of_another_size,
        "test/tasks.json: set 'seen' names 3 tasks, the arrays hold 4",
    ),
    "a maze task in ponder.json": (
        lambda r: _edit_json(r / "ponder.json", task="maze"),
        "does not fit task maze: train inputs hold token 11",
    ),
}


@pytest.mark.parametrize("case", list(FEWSHOT_CORRUPTIONS))
def test_corrupted_fewshot_dataset_is_refused_everywhere(
    case, skills_dir, skills_run, tmp_path, capsys
) -> None:
    corrupt, words = FEWSHOT_CORRUPTIONS[case]
    _check_all_three(skills_dir, skills_run, corrupt, words, tmp_path, capsys)


def test_maze_data_named_a_fewshot_task_is_refused(tiny_maze_dir, tmp_path, capsys) -> None:
    data = Path(shutil.copytree(tiny_maze_dir, tmp_path / "data"))
    _edit_json(data / "ponder.json", task="skills")
    words = "all__demo_inputs.npy: file not found (a skills dataset needs it)"
    _refused(["data", "check", data], capsys, words, [tmp_path])
    _refused(["train", _preset(tmp_path, data, tmp_path / "runs" / "r")], capsys, words, [tmp_path])


def test_overfit_dataset_checks_and_opens(tmp_path, capsys) -> None:
    """--overfit tests on the training tasks on purpose: check reports it, train opens it."""
    root = build_skills_dataset(
        tmp_path / "of", train=14, test=4, unseen=4, seed=0, demos=3, max_size=6, overfit=True
    )
    code, out, _ = run(["data", "check", root], capsys)
    assert code == 0 and "4 test puzzles are training puzzles" in out and "--overfit" in out
    assert open_dataset(root).test.num_examples > 0
    _edit_json(root / "ponder.json", overfit=False)  # the same leak, not asked for
    _rehash(root)
    with pytest.raises(UserError, match="4 test puzzles leak"):
        check_dataset(root)


def test_arc_build_passes_check_and_opens(tmp_path) -> None:
    """The evaluation tasks' demonstrations train under their own puzzles: every puzzle has
    examples (they used to have none, and the dataset failed its own check)."""
    from ponder.data.fewshot_build import build_arc_dataset

    root = build_arc_dataset(tmp_path / "arc", train=3, test=2, views=2, test_views=3)
    assert check_dataset(root)["test"]["groups"] == 2
    data = open_dataset(root)
    assert np.diff(data.train.puzzle_indices).min() >= 1
