"""Command line: parses arguments, calls library functions, maps user errors to exit 2.

A UserError (bad file, bad key, missing path) prints one line and exits 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from ponder.errors import UserError
from ponder.experiments.cli import add_suite_parser
from ponder.fileio import check_output_file, read_text_file


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done, 1 a "no" verdict (verify), 2 a user's mistake,
    130 interrupted by Ctrl-C, 141 the reader of stdout went away (`ponder ... | head -1`),
    the codes a shell gives a command killed by SIGINT or SIGPIPE."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, so that a closed pipe is met inside this try
        return code
    except KeyboardInterrupt:  # anywhere: parsing, importing torch, training
        print("ponder: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_to_devnull()
        return 141


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    _import_libraries(args.command)
    try:
        return args.handler(args) or 0
    except UserError as err:
        print(f"ponder: error: {err}", file=sys.stderr)
        return 2


# Commands that never need torch; every other one does, so it is imported up front.
_TORCH_FREE_COMMANDS = ("oracle", "verify")


def _import_libraries(command: str) -> None:
    """Import numpy (and torch) with Ctrl-C held back until they are loaded: an interrupt
    inside a C extension's start-up leaves it half-initialised and surfaces as an
    ImportError traceback (numpy: "cannot load module more than once per process")."""
    names = ["numpy"] + ([] if command in _TORCH_FREE_COMMANDS else ["torch"])
    with _interrupt_deferred():
        for name in names:
            importlib.import_module(name)


@contextlib.contextmanager
def _interrupt_deferred():
    """Hold a Ctrl-C (SIGINT) that arrives inside the block; raise it at the end."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def _stdout_to_devnull() -> None:
    """Point stdout at devnull so that Python's own flush at exit does not fail on the
    closed pipe again (the Python docs' recipe in the signal module's "Note on SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; keep its message to one line."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ponder", description="Train and judge small recursive reasoning models.")
    sub = p.add_subparsers(metavar="COMMAND", parser_class=_Parser, dest="command")
    _add_data(sub)
    _add_oracle_verify(sub)
    _add_train(sub)
    _add_eval_solve(sub)
    _add_bench(sub)
    _add_parity(sub)
    _add_config(sub)
    add_suite_parser(sub)
    demo = sub.add_parser("demo", help="build mazes, train TRM and the baseline, compare")
    demo.add_argument("--config", default=None, help="demo YAML (default: configs/demo.yaml)")
    demo.set_defaults(handler=_demo)
    return p


# ----- data ------------------------------------------------------------------------------
def _add_data(sub) -> None:
    data = sub.add_parser("data", help="build or check a dataset").add_subparsers(
        metavar="ACTION", parser_class=_Parser
    )
    build = data.add_parser("build", help="generate a dataset in the HRM/TRM layout")
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
    build.add_argument("--family", choices=["dfs", "obstacles"], default=None,
                       help="maze only: carved DFS mazes (default) or random obstacle grids")  # fmt: skip
    build.add_argument("--wall-density", type=float, default=None,
                       help="maze --family obstacles: share of wall cells (default 0.3)")  # fmt: skip
    build.add_argument(
        "--canvas", type=int, default=None, help="routing only: pad the city to this side"
    )
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--aug", default=None,
                       help="maze: dihedral; sudoku: N augmented views per training puzzle")  # fmt: skip
    build.add_argument("--overwrite", action="store_true")
    fewshot = build.add_argument_group("few-shot tasks (skills, arc)")
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
    sudoku = build.add_argument_group("sudoku")
    sudoku.add_argument("--clues", type=int, default=None,
                        help="givens per generated puzzle (default: as few as stay unique)")  # fmt: skip
    sudoku.add_argument("--min-rating", type=int, default=None,
                        help="least difficulty: the solver's guesses, or the CSV's rating column")  # fmt: skip
    sudoku.add_argument("--subsample", type=int, default=None,
                        help="with --source: training puzzles drawn (seeded) from the CSV")  # fmt: skip
    build.set_defaults(handler=_data_build)
    check = data.add_parser("check", help="validate a dataset directory")
    check.add_argument("dir", type=_input_path)
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_data_check)
    imp = data.add_parser(
        "import",
        help="a file of your own puzzles (blank-line separated, the task's text format) as a dataset",
    )
    imp.add_argument("task")
    imp.add_argument("file", type=Path)
    imp.add_argument("--out", required=True)
    imp.add_argument("--train-fraction", type=float, default=0.0,
                     help="share of the puzzles for the train split (default 0: all are test)")  # fmt: skip
    imp.add_argument("--seed", type=int, default=0, help="which puzzles go to train")
    imp.add_argument("--overwrite", action="store_true")
    imp.set_defaults(handler=_data_import)
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


def _input_path(text: str) -> Path:
    """A path argument; refused when empty, as Path("") would quietly mean the current
    directory and the error would then name something the user never gave."""
    if not text:
        raise argparse.ArgumentTypeError("the path is empty; give one")
    return Path(text)


def _output_path(text: str | None, flag: str) -> Path | None:
    """An output path from the command line (None if not given). Checked here, as Path("")
    would quietly mean the current directory."""
    if text is None:
        return None
    if not text:
        raise UserError(f"{flag} is empty; give a path")
    return Path(text)


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
    args.out = _output_path(args.out, "--out")
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

    out = import_puzzles(
        args.task, args.file, _output_path(args.out, "--out"), seed=args.seed,
        train_fraction=args.train_fraction, overwrite=args.overwrite,
    )  # fmt: skip
    print(f"dataset ready: {out}")
    return 0


def _data_show(args) -> int:
    from ponder.data.show import show_example

    print(show_example(args.dir, args.split, args.index, answer=args.answer), end="")
    return 0


# ----- oracle and verify ---------------------------------------------------------------------
def _add_oracle_verify(sub) -> None:
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


# ----- train -----------------------------------------------------------------------------------
def _add_train(sub) -> None:
    train = sub.add_parser("train", help="train a model from a YAML config")
    train.add_argument("config", nargs="?", help="YAML preset (omit with --resume)")
    train.add_argument("overrides", nargs="*", help="dotted key=value overrides")
    train.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR")
    train.add_argument("--overwrite", action="store_true")
    train.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"])
    train.set_defaults(handler=_train)


def _split_config_and_overrides(args) -> tuple[str | None, list[str]]:
    """`ponder train --resume DIR key=value` puts the first override in `config`."""
    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not config.endswith((".yaml", ".yml")):
        overrides.insert(0, config)
        config = None
    return config, overrides


def _train(args) -> int:
    from ponder.config import config_from_dict, load_config
    from ponder.train.launch import train
    from ponder.train.rundir import read_run_config

    if args.resume is not None and args.overwrite:
        raise UserError("--resume continues a run and --overwrite replaces it: give only one")
    path, overrides = _split_config_and_overrides(args)
    if args.device is not None:
        overrides.append(f"device={args.device}")
    if args.resume is not None:
        if path is not None or [o for o in overrides if not o.startswith("device=")]:
            raise UserError("--resume continues a run with its saved config; give no config")
        config = config_from_dict(read_run_config(args.resume))
        config = config.model_copy(update={"run_dir": str(args.resume)})
        if args.device is not None:
            config = config.model_copy(update={"device": args.device})
        train(config, resume=True)
        return 0
    if path is None:
        raise UserError("give a config file (for example configs/maze_quick.yaml)")
    run_dir = train(load_config(path, overrides), overwrite=args.overwrite)
    if int(os.environ.get("RANK", 0)) == 0:
        print(f"run saved in {run_dir}")
    return 0


# ----- eval and solve --------------------------------------------------------------------------
def _add_eval_solve(sub) -> None:
    ev = sub.add_parser("eval", help="evaluate a run on its test split (or --data)")
    ev.add_argument("run_dir", type=Path)
    ev.add_argument("--data", type=Path, default=None)
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"])
    ev.add_argument("--segments", type=_segments, default=None, metavar="N|auto",
                    help="evaluation depth (default: the run's N_sup), reported with exact by "
                    "segment count; auto: each puzzle until it halts (at most 16 x N_sup)")  # fmt: skip
    ev.add_argument("--tasks", type=_positive_count, default=0, metavar="N",
                    help="few-shot: judge only the first N tasks of each set of the test "
                    "split (e.g. to measure test-time training on a CPU)")  # fmt: skip
    _add_ttt_options(ev)
    ev.set_defaults(handler=_eval)
    solve = sub.add_parser("solve", help="solve one puzzle file with a trained run")
    solve.add_argument("run_dir", type=Path)
    solve.add_argument("file", type=Path)
    solve.add_argument("--png", default=None)
    solve.add_argument("--overwrite", action="store_true", help="replace an existing --png file")
    solve.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"])
    solve.add_argument("--segments", type=_segments, default=None, metavar="N|auto",
                       help="segments to think (default: the run's N_sup); auto: until it halts")  # fmt: skip
    _add_ttt_options(solve)
    solve.set_defaults(handler=_solve)


def _add_ttt_options(parser) -> None:
    """Test-time training settings of a few-shot run, for this command only."""
    parser.add_argument("--ttt-steps", type=int, default=None, metavar="N",
                        help="few-shot: fine-tune a copy of the model on each task's "
                        "demonstrations for N steps before answering (sets fewshot.ttt_steps; "
                        "0: off)")  # fmt: skip
    parser.add_argument("--ttt-lr", type=float, default=None, metavar="LR",
                        help="few-shot: its learning rate (sets fewshot.ttt_lr)")  # fmt: skip


def _ttt_overrides(args) -> dict:
    """The config keys --ttt-steps / --ttt-lr set (checked as config values when loaded)."""
    given = {"fewshot.ttt_steps": args.ttt_steps, "fewshot.ttt_lr": args.ttt_lr}
    return {key: value for key, value in given.items() if value is not None}


def _load_for_judging(args, data: Path | None = None):
    """The run, with --ttt-* applied and checked as config values are (a run that is not
    few-shot refuses them: its config has no use for the fewshot section)."""
    from ponder.runs import load_run

    return load_run(args.run_dir, data, args.device, overrides=_ttt_overrides(args))


def _segments(text: str) -> int | str:
    """--segments: a count from 1 to MAX_SEGMENTS, or auto."""
    if text == "auto":
        return text
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or auto, got {text!r}") from None
    if not 1 <= count <= MAX_SEGMENTS:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_SEGMENTS} or auto, got {count}")
    return count


def _positive_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {count}")
    return count


MAX_SEGMENTS = 100_000  # far beyond any useful depth; bounds a typo's running time


def _eval(args) -> int:
    from ponder.eval.run import evaluate_run

    run = _load_for_judging(args, args.data)
    report = evaluate_run(run, segments=args.segments, tasks=args.tasks)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(run.objective.format_report(report, title=f"{args.run_dir} on {report['data']}"))
        print("saved " + " and ".join(report["files"].values()))
    return 0


def _solve(args) -> int:
    from ponder.eval.run import solve_file

    png = _output_path(args.png, "--png")
    if png is not None:  # before the model runs: refuse a path it could not write
        check_output_file(png, "--png", overwrite=args.overwrite, inputs=(args.file,))
    run = _load_for_judging(args)
    result = solve_file(run, args.file, png=png, segments=args.segments)
    print(result["ascii"], end="")
    verdict = " ".join(f"{k}={v}" for k, v in result["verdict"].items())
    print(verdict or "no verdict: the task file holds no test outputs to judge against")
    return 0


# ----- config --------------------------------------------------------------------------------
def _add_config(sub) -> None:
    config = sub.add_parser("config", help="the config reference").add_subparsers(
        metavar="WHAT", parser_class=_Parser
    )
    keys = config.add_parser(
        "keys", help="every config key: type, default, description, who uses its section"
    )
    keys.add_argument("--markdown", action="store_true", help="markdown tables (as in README.md)")
    keys.set_defaults(handler=_config_keys)


def _config_keys(args) -> int:
    from ponder.config_reference import format_markdown, format_text

    print(format_markdown() if args.markdown else format_text(), end="")
    return 0


# ----- bench and demo ------------------------------------------------------------------------
def _add_bench(sub) -> None:
    bench = sub.add_parser("bench", help="speed benchmarks").add_subparsers(
        metavar="WHAT", parser_class=_Parser
    )
    step = bench.add_parser("step", help="time training steps of a config")
    step.add_argument("config")
    step.add_argument("overrides", nargs="*")
    step.add_argument("--steps", type=int, default=10)
    step.add_argument("--warmup", type=int, default=3)
    step.add_argument("--json", action="store_true")
    step.set_defaults(handler=_bench_step)


def _bench_step(args) -> int:
    from ponder.config import load_config
    from ponder.train.benchstep import bench_step

    result = bench_step(load_config(args.config, args.overrides), args.warmup, args.steps)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.format())
    return 0


def _add_parity(sub) -> None:
    parity = sub.add_parser(
        "parity", help="resize a candidate config to a reference config's parameter count"
    )
    parity.add_argument("reference", help="config of the model to match")
    parity.add_argument("candidate", help="config of the model to resize")
    parity.add_argument("--hold", choices=["depth", "width"], default="depth",
                        help="keep the candidate's depth and search width (default), or the reverse")  # fmt: skip
    parity.add_argument("--tolerance", type=float, default=0.10)
    parity.add_argument("--accept-closest", action="store_true")
    parity.add_argument("--out", help="write the resized candidate config here")
    parity.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parity.set_defaults(handler=_parity)


def _parity(args) -> int:
    import yaml

    from ponder.config import config_from_dict, dump_config, load_config
    from ponder.fileio import atomic_write_text
    from ponder.parity import match_parameters
    from ponder.runs import open_run_data

    if not 0 < args.tolerance < 1:
        raise UserError(f"--tolerance must be between 0 and 1, got {args.tolerance}")
    args.out = _output_path(args.out, "--out")
    if args.out is not None:
        inputs = (Path(args.reference), Path(args.candidate))
        check_output_file(args.out, "--out", overwrite=args.overwrite, inputs=inputs)
        if not args.out.parent.is_dir():
            raise UserError(f"--out directory not found: {args.out.parent}")
    reference, candidate = load_config(args.reference), load_config(args.candidate)
    spec = open_run_data(candidate)[0].spec
    result = match_parameters(
        reference.model, candidate.model, spec, hold=args.hold, tolerance=args.tolerance,
        accept_closest=args.accept_closest,
    )  # fmt: skip
    print(
        f"reference {reference.model.name}: {result.reference_params:,} parameters; "
        f"candidate {candidate.model.name} with {result.changed}: "
        f"{result.candidate_params:,} ({100 * result.relative_gap:+.1f}%)"
    )
    if args.out:
        raw = yaml.safe_load(dump_config(candidate))
        raw["model"] = result.candidate.model_dump(mode="json")
        atomic_write_text(args.out, dump_config(config_from_dict(raw)))
        print(f"wrote {args.out}")
    return 0


def _demo(args) -> int:
    from ponder.demo import run_demo

    run_demo(args.config)
    return 0
