"""`ponder data build | check | import | show`: datasets from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from ponder.cli.args import Parser, input_path, output_path
from ponder.errors import UserError


def add_data_parsers(sub) -> None:
    data = sub.add_parser("data", help="build or check a dataset").add_subparsers(
        metavar="ACTION", parser_class=Parser
    )
    _add_build(data.add_parser("build", help="generate a dataset in the HRM/TRM layout"))
    _add_check(data.add_parser("check", help="validate a dataset directory"))
    _add_import(data)
    _add_show(data)


def _add_build(build) -> None:
    build.add_argument("task")
    build.add_argument("--out", required=True)
    # Task parameters: only those given are passed, so each task's own defaults apply
    # (maze 15x15, routing 10x10) and a task refuses a parameter it does not have.
    build.add_argument("--size", type=int, default=None, help="grid side (task default)")
    build.add_argument("--train", type=int, default=None, help="puzzles (default 2000; arc: all)")
    build.add_argument("--test", type=int, default=None, help="puzzles (default 500; arc: all)")
    build.add_argument("--min-path", type=int, default=None, help="maze only")
    build.add_argument("--loop-fraction", type=float, default=None, help="maze only")
    build.add_argument("--min-size", type=int, default=None,
                       help="maze only: mixed sizes, each maze min-size..size a side on a size x size grid of walls")  # fmt: skip
    build.add_argument("--family", choices=["dfs", "obstacles", "searchformer"], default=None,
                       help="maze only: carved DFS mazes (default), random obstacle grids, or "
                       "Maze-Hard's random-wall generator (searchformer)")  # fmt: skip
    build.add_argument("--wall-density", type=float, default=None,
                       help="maze --family obstacles: share of wall cells (default 0.3)")  # fmt: skip
    build.add_argument(
        "--canvas", type=int, default=None, help="routing only: pad the city to this side"
    )
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--aug", default=None,
                       help="maze: dihedral; sudoku: N augmented views per training puzzle")  # fmt: skip
    build.add_argument("--overwrite", action="store_true")
    _add_fewshot_build_options(build.add_argument_group("few-shot tasks (skills, arc)"))
    _add_sudoku_build_options(build.add_argument_group("sudoku"))
    build.set_defaults(handler=_data_build)


def _add_fewshot_build_options(fewshot) -> None:
    fewshot.add_argument(
        "--demos", type=int, default=None, help="skills: demonstrations per task (default 3)"
    )
    fewshot.add_argument(
        "--unseen", type=int, default=None, help="skills: held-out-skill tasks (default: --test)"
    )
    fewshot.add_argument(
        "--overfit", action="store_true", help="skills: test on the training tasks"
    )
    fewshot.add_argument("--source", default=None,
                         help="arc: arcagi1 (default), arcagi2 or a JSON path; "
                         "sudoku: a Sudoku-Extreme CSV or a folder with train.csv and test.csv")  # fmt: skip
    fewshot.add_argument(
        "--views", type=int, default=None, help="arc: augmented views per training task (default 8)"
    )
    fewshot.add_argument(
        "--test-views", type=int, default=None, help="arc: views per test task (default 8)"
    )
    fewshot.add_argument("--no-translate", action="store_true", help="arc: no translation")
    fewshot.add_argument("--no-eval-demos", action="store_true",
                         help="arc: keep evaluation tasks' demonstrations out of training")  # fmt: skip


def _add_sudoku_build_options(sudoku) -> None:
    sudoku.add_argument("--clues", type=int, default=None,
                        help="givens per generated puzzle (default: as few as stay unique)")  # fmt: skip
    sudoku.add_argument("--min-rating", type=int, default=None,
                        help="least difficulty: the solver's guesses, or the CSV's rating column")  # fmt: skip
    sudoku.add_argument("--subsample", type=int, default=None,
                        help="with --source: training puzzles drawn (seeded) from the CSV")  # fmt: skip


def _add_check(check) -> None:
    check.add_argument("dir", type=input_path)
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_data_check)


def _add_import(data) -> None:
    imp = data.add_parser(
        "import",
        help="a file of your own puzzles (blank-line separated, the task's text format) as a dataset",
    )
    imp.add_argument(
        "task", help="the puzzles' task, or maze-hard: the HRM release's Maze-Hard CSV"
    )
    imp.add_argument("file", type=Path)
    imp.add_argument("--out", required=True)
    imp.add_argument("--train-fraction", type=float, default=0.0,
                     help="share of the puzzles for the train split (default 0: all are test)")  # fmt: skip
    imp.add_argument("--seed", type=int, default=0, help="which puzzles go to train")
    imp.add_argument("--overwrite", action="store_true")
    imp.set_defaults(handler=_data_import)


def _add_show(data) -> None:
    show = data.add_parser(
        "show",
        help="print one example in its task's file format",
        description="Print one example of a dataset as a file `ponder oracle`, `verify` and "
        "`solve` read: maze and routing puzzles in their text format, few-shot tasks (skills, "
        "arc) as ARC JSON without the test outputs (--answer prints those).",
    )
    show.add_argument("dir", type=Path)
    show.add_argument("--split", choices=["train", "test"], default="test")
    show.add_argument("--index", type=int, default=0,
                      help="example (few-shot: task) number, from 0 (default 0)")  # fmt: skip
    show.add_argument("--answer", action="store_true",
                      help="print the stored answer (the format `verify` reads)")  # fmt: skip
    show.set_defaults(handler=_data_show)


# Options only some tasks take; given to another task they are refused, not ignored.
_GRID_OPTIONS = (
    "size", "aug", "min_path", "loop_fraction", "canvas", "family", "wall_density", "min_size",
)  # fmt: skip  # build_dataset checks each
_FEWSHOT_OPTIONS = {
    "skills": ("size", "demos", "unseen", "overfit"),
    "arc": ("source", "views", "test_views", "no_translate", "no_eval_demos"),
}


_SUDOKU_OPTIONS = ("size", "aug", "clues", "min_rating", "source", "subsample")


def _refuse_options_not_taken(args) -> None:
    allowed = {**_FEWSHOT_OPTIONS, "sudoku": _SUDOKU_OPTIONS}.get(args.task, _GRID_OPTIONS)
    every = {*_GRID_OPTIONS, *_SUDOKU_OPTIONS}
    every |= {o for options in _FEWSHOT_OPTIONS.values() for o in options}
    given = [o for o in sorted(every - set(allowed)) if getattr(args, o) not in (None, False)]
    if given:
        flags = ", ".join("--" + o.replace("_", "-") for o in given)
        raise UserError(f"{args.task} takes no {flags}")


def _data_build(args) -> int:
    from ponder.data import build_dataset

    _refuse_options_not_taken(args)
    args.out = output_path(args.out, "--out")
    if args.task in ("skills", "arc"):
        return _data_build_fewshot(args)
    if args.task == "sudoku":
        return _data_build_sudoku(args)
    given = {
        "size": args.size,
        "min_path": args.min_path,
        "loop_fraction": args.loop_fraction,
        "canvas": args.canvas,
        "family": args.family,
        "wall_density": args.wall_density,
        "min_size": args.min_size,
    }
    out = build_dataset(
        args.task,
        args.out,
        train=2000 if args.train is None else args.train,
        test=500 if args.test is None else args.test,
        seed=args.seed,
        aug=args.aug,
        overwrite=args.overwrite,
        **{name: value for name, value in given.items() if value is not None},
    )
    print(f"dataset ready: {out}")
    return 0


def _data_build_fewshot(args) -> int:
    from ponder.data.fewshot_build import build_arc_dataset, build_skills_dataset

    if args.task == "skills":
        test = 200 if args.test is None else args.test
        given = {"demos": args.demos, "max_size": args.size}  # None: the builder's default
        out = build_skills_dataset(
            args.out, train=2000 if args.train is None else args.train, test=test,
            unseen=test if args.unseen is None else args.unseen, seed=args.seed,
            overfit=args.overfit, overwrite=args.overwrite,
            **{name: value for name, value in given.items() if value is not None},
        )  # fmt: skip
    else:
        given = {"source": args.source, "views": args.views, "test_views": args.test_views}
        out = build_arc_dataset(
            args.out, train=0 if args.train is None else args.train,
            test=0 if args.test is None else args.test, seed=args.seed,
            translate=not args.no_translate, eval_demos_in_train=not args.no_eval_demos,
            overwrite=args.overwrite,
            **{name: value for name, value in given.items() if value is not None},
        )  # fmt: skip
    print(f"dataset ready: {out}")
    return 0


def _data_build_sudoku(args) -> int:
    from ponder.data.sudoku_build import build_sudoku_dataset, import_sudoku_csv

    aug = _sudoku_views(args.aug)
    common = dict(seed=args.seed, aug=aug, overwrite=args.overwrite)
    common["min_rating"] = 0 if args.min_rating is None else args.min_rating
    if args.source is not None:
        if args.train is not None:
            raise UserError("with --source, --subsample sets the training puzzles, not --train")
        if args.clues is not None or args.size not in (None, 9):
            raise UserError("--source imports 9x9 Sudoku-Extreme as it is: no --clues or --size")
        out = import_sudoku_csv(
            Path(args.source), args.out, subsample=args.subsample, test=args.test, **common
        )
    else:
        if args.subsample is not None:
            raise UserError("--subsample draws from --source; generated puzzles take --train")
        out = build_sudoku_dataset(
            args.out, train=2000 if args.train is None else args.train,
            test=500 if args.test is None else args.test,
            size=9 if args.size is None else args.size, clues=args.clues, **common,
        )  # fmt: skip
    print(f"dataset ready: {out}")
    return 0


def _sudoku_views(text: str | None) -> int:
    """--aug for sudoku: a whole number of augmented views per training puzzle."""
    if text is None:
        return 0
    try:
        return int(text)
    except ValueError:
        raise UserError(
            f"--aug for sudoku is a number of augmented views per training puzzle, got {text!r}"
        ) from None


def _data_check(args) -> int:
    from ponder.data import check_dataset, format_summary

    summary = check_dataset(args.dir)
    print(json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary))
    return 0


def _data_import(args) -> int:
    from ponder.data.imports import import_puzzles
    from ponder.data.maze_hard import import_maze_hard

    options = dict(seed=args.seed, train_fraction=args.train_fraction, overwrite=args.overwrite)
    out_dir = output_path(args.out, "--out")
    if args.task == "maze-hard":  # a maze dataset, from the Maze-Hard CSV format
        out = import_maze_hard(args.file, out_dir, **options)
    else:
        out = import_puzzles(args.task, args.file, out_dir, **options)
    print(f"dataset ready: {out}")
    return 0


def _data_show(args) -> int:
    from ponder.data.show import show_example

    print(show_example(args.dir, args.split, args.index, answer=args.answer), end="")
    return 0
