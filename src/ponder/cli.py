"""Command line: parses arguments, calls library functions, maps user errors to exit 2.

A UserError (bad file, bad key, missing path) prints one line and exits 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ponder.errors import UserError
from ponder.experiments.cli import add_suite_parser
from ponder.fileio import read_text_file


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        return args.handler(args) or 0
    except UserError as err:
        print(f"ponder: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        return 130


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; keep its message to one line."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="ponder", description="Train and judge small recursive reasoning models.")
    sub = p.add_subparsers(metavar="COMMAND", parser_class=_Parser)
    _add_data(sub)
    _add_oracle_verify(sub)
    _add_train(sub)
    _add_eval_solve(sub)
    _add_bench(sub)
    _add_parity(sub)
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
    build.add_argument("--out", required=True, type=Path)
    # Task parameters: only those given are passed, so each task's own defaults apply
    # (maze 15x15, routing 10x10) and a task refuses a parameter it does not have.
    build.add_argument("--size", type=int, default=None, help="grid side (task default)")
    build.add_argument("--train", type=int, default=None, help="puzzles (default 2000; arc: all)")
    build.add_argument("--test", type=int, default=None, help="puzzles (default 500; arc: all)")
    build.add_argument("--min-path", type=int, default=None, help="maze only")
    build.add_argument("--loop-fraction", type=float, default=None, help="maze only")
    build.add_argument(
        "--canvas", type=int, default=None, help="routing only: pad the city to this side"
    )
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--aug", choices=["dihedral"], default=None)
    build.add_argument("--overwrite", action="store_true")
    fewshot = build.add_argument_group("few-shot tasks (skills, arc)")
    fewshot.add_argument("--demos", type=int, default=3, help="skills: demonstrations per task")
    fewshot.add_argument(
        "--unseen", type=int, default=None, help="skills: held-out-skill tasks (default: --test)"
    )
    fewshot.add_argument(
        "--overfit", action="store_true", help="skills: test on the training tasks"
    )
    fewshot.add_argument("--source", default="arcagi1", help="arc: arcagi1, arcagi2 or a JSON path")
    fewshot.add_argument(
        "--views", type=int, default=8, help="arc: augmented views per training task"
    )
    fewshot.add_argument(
        "--test-views", type=int, default=8, help="arc: views per test task (voting)"
    )
    fewshot.add_argument("--no-translate", action="store_true", help="arc: no translation")
    fewshot.add_argument("--no-eval-demos", action="store_true",
                         help="arc: keep evaluation tasks' demonstrations out of training")  # fmt: skip
    build.set_defaults(handler=_data_build)
    check = data.add_parser("check", help="validate a dataset directory")
    check.add_argument("dir", type=Path)
    check.add_argument("--json", action="store_true")
    check.set_defaults(handler=_data_check)


def _data_build(args) -> int:
    from ponder.data import build_dataset

    if args.task in ("skills", "arc"):
        return _data_build_fewshot(args)
    given = {
        "size": args.size,
        "min_path": args.min_path,
        "loop_fraction": args.loop_fraction,
        "canvas": args.canvas,
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

    if args.aug or args.min_path or args.loop_fraction or args.canvas:
        raise UserError(f"{args.task} takes no --aug/--min-path/--loop-fraction/--canvas")
    if args.task == "skills":
        test = 200 if args.test is None else args.test
        out = build_skills_dataset(
            args.out, train=2000 if args.train is None else args.train, test=test,
            unseen=test if args.unseen is None else args.unseen, seed=args.seed,
            demos=args.demos, max_size=args.size or 10, overfit=args.overfit,
            overwrite=args.overwrite,
        )  # fmt: skip
    else:
        out = build_arc_dataset(
            args.out, source=args.source, train=args.train or 0, test=args.test or 0,
            seed=args.seed, views=args.views, test_views=args.test_views,
            translate=not args.no_translate, eval_demos_in_train=not args.no_eval_demos,
            overwrite=args.overwrite,
        )  # fmt: skip
    print(f"dataset ready: {out}")
    return 0


def _data_check(args) -> int:
    from ponder.data import check_dataset, format_summary

    summary = check_dataset(args.dir)
    print(json.dumps(summary, indent=2, default=str) if args.json else format_summary(summary))
    return 0


# ----- oracle and verify ---------------------------------------------------------------------
def _add_oracle_verify(sub) -> None:
    oracle = sub.add_parser("oracle", help="print the oracle's answer to a puzzle file")
    oracle.add_argument("task")
    oracle.add_argument("file", type=Path)
    oracle.set_defaults(handler=_oracle)
    verify = sub.add_parser("verify", help="judge an answer file against a puzzle file")
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
    puzzle = task.parse_puzzle(read_text_file(args.puzzle))
    answer = task.parse(read_text_file(args.answer))
    if answer.shape != puzzle.shape:
        raise UserError(
            f"answer {args.answer} has shape {answer.shape[0]}x{answer.shape[1]}, "
            f"the puzzle is {puzzle.shape[0]}x{puzzle.shape[1]}"
        )
    verdict = task.verify(puzzle, answer)
    if args.json:
        print(json.dumps(verdict))
    else:
        width = max(map(len, verdict), default=0)
        for key, value in verdict.items():
            print(f"{key:<{width}} {value}")
    return 0 if verdict.get("exact") else 1


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
    ev.set_defaults(handler=_eval)
    solve = sub.add_parser("solve", help="solve one puzzle file with a trained run")
    solve.add_argument("run_dir", type=Path)
    solve.add_argument("file", type=Path)
    solve.add_argument("--png", type=Path, default=None)
    solve.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"])
    solve.set_defaults(handler=_solve)


def _eval(args) -> int:
    from ponder.eval.evaluate import format_report
    from ponder.eval.fewshot import format_fewshot_report
    from ponder.eval.run import evaluate_run

    report = evaluate_run(args.run_dir, data=args.data, device=args.device)
    title = f"{args.run_dir} on {report['data']}"
    if args.json:
        print(json.dumps(report, indent=2))
    elif "pass2" in report:  # a few-shot task
        print(format_fewshot_report(report, title=title))
    else:
        print(format_report(report, title=title))
        print("saved " + " and ".join(report["files"].values()))
    return 0


def _solve(args) -> int:
    from ponder.eval.run import solve_file

    result = solve_file(args.run_dir, args.file, png=args.png, device=args.device)
    print(result["ascii"], end="")
    print(" ".join(f"{k}={v}" for k, v in result["verdict"].items()))
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
    parity.add_argument("--out", type=Path, help="write the resized candidate config here")
    parity.set_defaults(handler=_parity)


def _parity(args) -> int:
    import yaml

    from ponder.config import config_from_dict, dump_config, load_config
    from ponder.fileio import atomic_write_text
    from ponder.parity import match_parameters
    from ponder.train.launch import open_run_dataset

    if not 0 < args.tolerance < 1:
        raise UserError(f"--tolerance must be between 0 and 1, got {args.tolerance}")
    if args.out is not None and not args.out.parent.is_dir():
        raise UserError(f"--out directory not found: {args.out.parent}")
    reference, candidate = load_config(args.reference), load_config(args.candidate)
    spec = open_run_dataset(candidate).spec
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
