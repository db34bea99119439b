"""Sudoku datasets: augmentations and their inverses, generated builds, the Sudoku-Extreme
CSV import and its refusals, and HRM-layout compatibility."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import run

from ponder.data import check_dataset
from ponder.data.format import load_split
from ponder.data.sudoku_build import (
    SudokuTransform,
    build_sudoku_dataset,
    import_sudoku_csv,
    random_transform,
)
from ponder.errors import UserError
from ponder.tasks.sudoku import SUDOKU, to_board

HEADER = "source,q,a,rating\n"


def csv_rows(n: int, seed: int) -> list[tuple[str, str, int]]:
    """`n` unique generated 9x9 puzzles as (q, a, rating) strings."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        puzzle = SUDOKU.generate(rng, size=9, clues=30)
        q = "".join(str(d) if d else "." for d in to_board(puzzle))
        a = "".join(map(str, to_board(SUDOKU.solve(puzzle))))
        rows.append((q, a, SUDOKU.rating(puzzle)))
    return rows


@pytest.fixture(scope="module")
def rows():
    return csv_rows(12, seed=0)


def write_csv(path, rows, header=HEADER) -> str:
    text = header + "".join(f"test,{q},{a},{r}\n" for q, a, r in rows)
    path.write_text(text)
    return str(path)


# --------------------------------------------------------------------------- augmentations


@pytest.mark.parametrize("size", [4, 6, 9])
def test_every_augmentation_composed_with_its_inverse_is_the_identity(size):
    rng = np.random.default_rng(size)
    for _ in range(20):
        puzzle = SUDOKU.generate(rng, size=size)
        solution = SUDOKU.solve(puzzle)
        t = random_transform(rng, size)
        moved, moved_solution = t.apply(puzzle), t.apply(solution)
        assert np.array_equal(t.inverse().apply(moved), puzzle)
        assert np.array_equal(t.inverse().apply(moved_solution), solution)
        assert np.array_equal(t.apply(t.inverse().apply(puzzle)), puzzle)
        verdict = SUDOKU.verify(moved, moved_solution)
        assert verdict["exact"]  # the transformed solution solves the transformed puzzle
        assert SUDOKU.count_solutions(moved) == 1


def test_each_kind_of_augmentation_alone_keeps_validity():
    puzzle = SUDOKU.generate(np.random.default_rng(0), size=9)
    solution = SUDOKU.solve(puzzle)
    ident = tuple(range(9))
    kinds = [
        SudokuTransform((2, 1, 3, 4, 5, 6, 7, 8, 9), False, ident, ident),  # relabel 1 <-> 2
        SudokuTransform(tuple(range(1, 10)), True, ident, ident),  # transpose
        SudokuTransform(tuple(range(1, 10)), False, (3, 4, 5, 0, 1, 2, 6, 7, 8), ident),  # bands
        SudokuTransform(tuple(range(1, 10)), False, ident, (0, 1, 2, 6, 7, 8, 3, 4, 5)),  # stacks
        SudokuTransform(tuple(range(1, 10)), False, (1, 0, 2, 3, 4, 5, 6, 7, 8), ident),  # rows
        SudokuTransform(tuple(range(1, 10)), False, ident, (0, 2, 1, 3, 4, 5, 6, 7, 8)),  # cols
    ]
    for t in kinds:
        assert SUDOKU.verify(t.apply(puzzle), t.apply(solution))["exact"]
        assert np.array_equal(t.inverse().apply(t.apply(solution)), solution)


def test_6x6_augmentations_never_transpose():
    rng = np.random.default_rng(0)
    assert not any(random_transform(rng, 6).transpose for _ in range(50))


# --------------------------------------------------------------------------- generated builds


def test_generated_build_is_reproducible_valid_and_leak_free(tmp_path):
    a = build_sudoku_dataset(tmp_path / "a", train=30, test=10, seed=1, size=6, aug=2)
    b = build_sudoku_dataset(tmp_path / "b", train=30, test=10, seed=1, size=6, aug=2)
    pa, pb = (json.loads((d / "ponder.json").read_text()) for d in (a, b))
    assert pa["content_hash"] == pb["content_hash"]
    summary = check_dataset(a)
    assert summary["train"]["examples"] == 90 and summary["train"]["groups"] == 30
    train, test = load_split(a, "train"), load_split(a, "test")
    assert train.inputs.dtype == np.uint8 and train.metadata.vocab_size == 11
    assert not {r.tobytes() for r in test.inputs} & {r.tobytes() for r in train.inputs}
    for x, y in zip(train.inputs, train.labels, strict=True):
        puzzle, label = x.reshape(6, 6), y.reshape(6, 6)
        assert SUDOKU.verify(puzzle, label, reference=label)["exact"]


def test_generated_build_with_clues_via_cli(tmp_path, capsys):
    out = tmp_path / "s9"
    code, stdout, _ = run(["data", "build", "sudoku", "--clues", "36", "--train", "4", "--test", "2", "--out", out], capsys)  # fmt: skip
    assert code == 0 and "dataset ready" in stdout
    inputs = load_split(out, "train").inputs
    assert inputs.shape == (4, 81) and ((inputs > 1).sum(axis=1) == 36).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--aug", "dihedral"], "--aug for sudoku is a number"),
        (["--aug", "-1"], "--aug must be an integer >= 0"),
        (["--size", "5"], "size must be one of 4, 6, 8, 9"),
        (["--min-path", "3"], "sudoku takes no --min-path"),
        (["--subsample", "3"], "--subsample draws from --source"),
        (["--size", "4", "--clues", "20"], "clues must be an integer in 0..16"),
        (["--size", "4", "--seed", str(2**70)], "seed must be in 0.."),
    ],
)
def test_bad_build_options_are_one_line_exit_2_and_write_nothing(args, message, tmp_path, capsys):
    out = tmp_path / "d"
    code, _, err = run(["data", "build", "sudoku", "--train", "2", "--out", out, *args], capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists() and list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- CSV import


def test_csv_import_subsamples_with_a_seed_and_augments(rows, tmp_path):
    folder = tmp_path / "extreme"
    folder.mkdir()
    write_csv(folder / "train.csv", rows[:8])
    write_csv(folder / "test.csv", rows[8:])
    a = import_sudoku_csv(folder, tmp_path / "a", subsample=5, test=None, seed=3, aug=2)
    b = import_sudoku_csv(folder, tmp_path / "b", subsample=5, test=None, seed=3, aug=2)
    c = import_sudoku_csv(folder, tmp_path / "c", subsample=5, test=None, seed=4, aug=2)
    hashes = [json.loads((d / "ponder.json").read_text())["content_hash"] for d in (a, b, c)]
    assert hashes[0] == hashes[1] != hashes[2]
    train, test = load_split(a, "train"), load_split(a, "test")
    assert train.num_groups == 5 and train.num_examples == 15 and test.num_examples == 4
    originals = {"".join(q) for q, _, _ in rows[:8]}
    firsts = train.inputs[train.puzzle_indices[train.group_indices[:-1]]]  # each group's first
    as_text = ["".join("." if t == 1 else str(t - 1) for t in row) for row in firsts]
    assert set(as_text) <= originals  # un-augmented originals open each group
    for x, y in zip(train.inputs, train.labels, strict=True):
        assert SUDOKU.verify(x.reshape(9, 9), y.reshape(9, 9), reference=y.reshape(9, 9))["exact"]
    check_dataset(a)


@pytest.mark.parametrize("header", ["source,question,answer,rating\n", HEADER])
def test_csv_import_reads_sudoku_extremes_header_and_the_short_one(header, rows, tmp_path):
    # Sudoku-Extreme's files have the long header; ponder once refused them (issue 26).
    path = write_csv(tmp_path / "all.csv", rows[:3], header=header)
    out = import_sudoku_csv(path, tmp_path / "d", subsample=2, test=None, seed=0)
    assert load_split(out, "train").num_examples == 2 and load_split(out, "test").num_examples == 1


def test_csv_import_min_rating_and_a_single_file(rows, tmp_path):
    path = write_csv(tmp_path / "all.csv", rows)
    floor = sorted(r for _, _, r in rows)[6]
    kept = sum(r >= floor for _, _, r in rows)
    out = import_sudoku_csv(path, tmp_path / "d", subsample=2, test=None, seed=0, min_rating=floor)
    assert load_split(out, "train").num_examples == 2
    assert load_split(out, "test").num_examples == kept - 2


def test_cli_import(rows, tmp_path, capsys):
    path = write_csv(tmp_path / "all.csv", rows)
    out = tmp_path / "d"
    args = ["data", "build", "sudoku", "--source", path, "--subsample", "4", "--test", "3"]
    code, stdout, err = run([*args, "--aug", "1", "--out", out], capsys)
    assert code == 0, err
    assert load_split(out, "train").num_examples == 8 and load_split(out, "test").num_examples == 3
    code, _, err = run([*args, "--train", "4", "--out", tmp_path / "e"], capsys)
    assert code == 2 and "--subsample sets the training puzzles" in err


def _bad(rows, kind):
    q, a, r = rows[0]
    if kind == "answer breaks a rule":  # swap two blanks of one row: its columns break
        i, j = next((i, j) for i in range(81) for j in range(i + 1, i // 9 * 9 + 9) if q[i] == q[j] == ".")  # fmt: skip
        swapped = list(a)
        swapped[i], swapped[j] = a[j], a[i]
        return [(q, "".join(swapped), r)]
    if kind == "changed given":
        i = next(k for k, ch in enumerate(q) if ch != ".")
        other = str(int(q[i]) % 9 + 1)
        return [(q[:i] + other + q[i + 1 :], a, r)]
    return rows


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda rows, p: write_csv(p, rows, header="q,a,rating\n"),
            "line 1 must be the header source,question,answer,rating",
        ),  # fmt: skip
        (
            lambda rows, p: write_csv(p, [(rows[0][0][:80], rows[0][1], 0)]),
            "line 2: column q has 80 cells, expected 81",
        ),  # fmt: skip
        (
            lambda rows, p: write_csv(
                p, [rows[0], (rows[1][0].replace(".", "x", 1), rows[1][1], 0)]
            ),
            "line 3: column q cell",
        ),  # fmt: skip
        (
            lambda rows, p: write_csv(p, [(rows[0][0], rows[0][1], "hard")]),
            "line 2: rating 'hard' is not a whole number",
        ),  # fmt: skip
        (
            lambda rows, p: write_csv(p, _bad(rows, "changed given")),
            "line 2: the answer changes a given",
        ),  # fmt: skip
        (
            lambda rows, p: write_csv(p, _bad(rows, "answer breaks a rule")),
            "line 2: the answer breaks a sudoku rule",
        ),  # fmt: skip
        (
            lambda rows, p: (p.write_text(HEADER + "x,1,2\n"), str(p))[1],
            "line 2 has 3 fields, expected 4",
        ),  # fmt: skip
        (lambda rows, p: (p.write_text(HEADER), str(p))[1], "no puzzles after the header"),
    ],
)
def test_bad_csv_is_one_line_naming_the_line(make, message, rows, tmp_path, capsys):
    path = make(rows, tmp_path / "bad.csv")
    out = tmp_path / "d"
    code, _, err = run(["data", "build", "sudoku", "--source", path, "--subsample", "1", "--out", out], capsys)  # fmt: skip
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_training_puzzle_with_two_solutions_is_refused(rows, tmp_path):
    q, a, r = rows[0]
    # Blank every 1 and 2 of the answer: swapping them everywhere is a second solution.
    open_q = "".join("." if ch in "12" else ch for ch in a)
    path = write_csv(tmp_path / "two.csv", [(open_q, a, r)] + rows[1:])
    with pytest.raises(UserError, match="line 2: the puzzle has more than one solution"):
        import_sudoku_csv(path, tmp_path / "d", subsample=None, test=0, seed=0)
    assert not (tmp_path / "d").exists()


def test_missing_source_is_refused(tmp_path):
    with pytest.raises(UserError, match="no such file or folder"):
        import_sudoku_csv(tmp_path / "nope.csv", tmp_path / "d", subsample=1, test=1, seed=0)
    (tmp_path / "folder").mkdir()
    with pytest.raises(UserError, match="train.csv: file not found"):
        import_sudoku_csv(tmp_path / "folder", tmp_path / "d", subsample=1, test=1, seed=0)


def test_an_empty_test_split_keeps_the_grid_size(tmp_path):
    out = build_sudoku_dataset(tmp_path / "d", train=3, test=0, seed=0, size=6)
    summary = check_dataset(out)
    assert summary["test"]["examples"] == 0 and summary["test"]["seq_len"] == 36


def test_a_rating_floor_that_leaves_no_training_puzzle_is_refused(rows, tmp_path):
    path = write_csv(tmp_path / "all.csv", rows)
    with pytest.raises(UserError, match="no training puzzles rated >= 100000"):
        import_sudoku_csv(path, tmp_path / "d", subsample=2, test=0, seed=0, min_rating=100000)
    with pytest.raises(UserError, match="--subsample must be an integer >= 1"):
        import_sudoku_csv(path, tmp_path / "d", subsample=0, test=0, seed=0)
    assert not (tmp_path / "d").exists()
