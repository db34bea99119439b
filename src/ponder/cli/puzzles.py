"""`ponder oracle` and `ponder verify`: a task's oracle and verifier on puzzle files
(no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path

from ponder.errors import UserError
from ponder.fileio import read_text_file


def add_oracle_verify_parsers(sub) -> None:
    oracle = sub.add_parser(
        "oracle",
        help="print the oracle's answer to a puzzle file",
        description="Print the answer to a puzzle file, in the format `ponder verify` reads. "
        "maze, routing: the puzzle with a shortest / cheapest route marked. skills: the test "
        "output grids as JSON, from the skill that explains every demonstration. arc: no "
        "program knows an ARC task's rule, so this prints the test outputs the task file "
        "holds, and exits 2 when it holds none.",
    )
    oracle.add_argument("task")
    oracle.add_argument("file", type=Path)
    oracle.set_defaults(handler=_oracle)
    verify = sub.add_parser(
        "verify",
        help="judge an answer file against a puzzle file",
        description="Judge an answer by the puzzle's rules (maze, routing: any shortest or "
        "cheapest route is exact; skills, arc: each test output grid must equal the task "
        "file's, or the skills oracle's when the file hides it).",
        epilog="exit status: 0 the answer is exact, 1 it was judged and is not exact, "
        "2 it could not be judged (unreadable files, a malformed puzzle, a maze or routing "
        "answer of the wrong shape, a few-shot answer with the wrong number of grids).",
    )
    verify.add_argument("task")
    verify.add_argument("puzzle", type=Path)
    verify.add_argument("answer", type=Path)
    verify.add_argument("--json", action="store_true")
    verify.set_defaults(handler=_verify)


def _oracle(args) -> int:
    from ponder import tasks

    task = tasks.get(args.task)
    puzzle = task.parse_puzzle(read_text_file(args.file))
    print(task.format(task.solve(puzzle)), end="")
    return 0


def _verify(args) -> int:
    from ponder import tasks

    task = tasks.get(args.task)
    puzzle = _read_named(args.puzzle, task.parse_puzzle)
    answer = _read_named(args.answer, lambda text: task.parse_answer(text, puzzle))
    verdict = task.verify(puzzle, answer)
    if args.json:
        print(json.dumps(verdict))
    else:
        width = max(map(len, verdict), default=0)
        for key, value in verdict.items():
            print(f"{key:<{width}} {value}")
    return 0 if verdict.get("exact") else 1


def _read_named(path: Path, parse):
    """`parse` of the file's text; a problem in it is reported with the file's name, as
    `verify` reads two files."""
    text = read_text_file(path)
    try:
        return parse(text)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
