"""`ponder train`, `ponder eval` and `ponder solve`: a run trained, judged, or asked
to solve one puzzle file."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ponder.cli.args import output_path, positive_count, positive_fraction, segment_count
from ponder.errors import UserError
from ponder.fileio import check_output_file


def add_train_parser(sub) -> None:
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


def add_eval_solve_parsers(sub) -> None:
    ev = sub.add_parser("eval", help="evaluate a run on its test split (or --data)")
    ev.add_argument("run_dir", type=Path)
    ev.add_argument("--data", type=Path, default=None)
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"])
    ev.add_argument("--segments", type=segment_count, default=None, metavar="N|auto",
                    help="evaluation depth (default: the run's N_sup), reported with exact by "
                    "segment count; auto: each puzzle until it halts (at most 16 x N_sup)")  # fmt: skip
    ev.add_argument("--tasks", type=positive_count, default=0, metavar="N",
                    help="few-shot: judge only the first N tasks of each set of the test "
                    "split (e.g. to measure test-time training on a CPU)")  # fmt: skip
    ev.add_argument("--trace", default=None, metavar="FILE",
                    help="also record each puzzle segment by segment (cells changed, state "
                    "change, exact) and class its failures; a JSON file")  # fmt: skip
    ev.add_argument("--overwrite", action="store_true", help="replace an existing --trace file")
    _add_stop_options(ev)
    _add_ttt_options(ev)
    ev.set_defaults(handler=_eval)
    solve = sub.add_parser("solve", help="solve one puzzle file with a trained run")
    solve.add_argument("run_dir", type=Path)
    solve.add_argument("file", type=Path)
    solve.add_argument("--png", default=None)
    solve.add_argument("--overwrite", action="store_true", help="replace an existing --png file")
    solve.add_argument("--device", default=None, choices=["auto", "cpu", "cuda", "mps"])
    solve.add_argument("--segments", type=segment_count, default=None, metavar="N|auto",
                       help="segments to think (default: the run's N_sup); auto: until it halts")  # fmt: skip
    _add_stop_options(solve)
    _add_ttt_options(solve)
    solve.set_defaults(handler=_solve)


DEFAULT_STATE_TOL = 1e-3  # --halt converged


def _add_stop_options(parser) -> None:
    """When `--segments auto` stops a puzzle, and the precision the model runs in."""
    parser.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default=None,
                        help="run the model in this precision for this command (default: the "
                        "run's); measure which is fastest on your machine")  # fmt: skip
    parser.add_argument("--halt", choices=["q", "stable", "converged", "confidence"],
                        default=None,
                        help="with --segments auto: stop when the q head halts (q, the "
                        "default: the run's train.halting), when the answer has not changed "
                        "for --stable-k segments (stable), when the model's state moved by "
                        "at most --state-tol (relative) in a segment (converged), or run to "
                        "the cap and keep the most confident segment's answer (confidence)")  # fmt: skip
    parser.add_argument("--stable-k", type=positive_count, default=None, metavar="K",
                        help="--halt stable: segments the answer must stay unchanged (default 3)")  # fmt: skip
    parser.add_argument("--state-tol", type=positive_fraction, default=None, metavar="TOL",
                        help="--halt converged: the relative state change that counts as "
                        f"still (default {DEFAULT_STATE_TOL})")  # fmt: skip
    parser.add_argument("--max-segments", type=segment_count, default=None, metavar="N",
                        help="with --segments auto: the cap (default 16 x N_sup)")  # fmt: skip


def _stop_rule(args):
    """(stop rule, cap) from --halt, --stable-k and --max-segments."""
    from ponder.models.halting import ConvergedState, StableAnswer
    from ponder.objectives.base import check_stop_request

    # --halt q is the default rule: refused without auto too, before the run is loaded
    check_stop_request(args.segments, args.halt is not None or args.max_segments is not None)
    if args.stable_k is not None and args.halt != "stable":
        raise UserError("--stable-k is the window of --halt stable; give --halt stable too")
    if args.state_tol is not None and args.halt != "converged":
        raise UserError("--state-tol is the threshold of --halt converged; give it too")
    if args.max_segments == "auto":
        raise UserError("--max-segments takes a count, not auto")
    if args.halt == "stable":
        return StableAnswer(args.stable_k or 3), args.max_segments
    if args.halt == "converged":
        return ConvergedState(args.state_tol or DEFAULT_STATE_TOL), args.max_segments
    return (None if args.halt in (None, "q") else args.halt), args.max_segments


def _add_ttt_options(parser) -> None:
    """Test-time training settings of a few-shot run, for this command only."""
    parser.add_argument("--ttt-steps", type=int, default=None, metavar="N",
                        help="few-shot: fine-tune a copy of the model on each task's "
                        "demonstrations for N steps before answering (sets fewshot.ttt_steps; "
                        "0: off)")  # fmt: skip
    parser.add_argument("--ttt-lr", type=float, default=None, metavar="LR",
                        help="few-shot: its learning rate (sets fewshot.ttt_lr)")  # fmt: skip
    parser.add_argument("--keep-givens", action="store_true",
                        help="grid runs: copy the puzzle's given cells (a maze's walls, S, G) "
                        "into the answer at decoding (sets grid.keep_givens)")  # fmt: skip


def _judging_overrides(args) -> dict:
    """The config keys --ttt-steps, --ttt-lr, --keep-givens and --precision set for this
    command (checked as config values when loaded)."""
    given = {"fewshot.ttt_steps": args.ttt_steps, "fewshot.ttt_lr": args.ttt_lr}
    given["grid.keep_givens"] = True if args.keep_givens else None
    given["precision"] = args.precision
    return {key: value for key, value in given.items() if value is not None}


def _load_for_judging(args, data: Path | None = None):
    """The run, with --ttt-* applied and checked as config values are (a run that is not
    few-shot refuses them: its config has no use for the fewshot section)."""
    from ponder.trained import load_run

    return load_run(args.run_dir, data, args.device, overrides=_judging_overrides(args))


def _eval(args) -> int:
    from ponder.trained import evaluate_run, trace_run

    stop, cap = _stop_rule(args)
    trace = output_path(args.trace, "--trace")
    if trace is not None:  # before anything runs: refuse a path it could not write
        check_output_file(trace, "--trace", overwrite=args.overwrite)
    run = _load_for_judging(args, args.data)
    report = evaluate_run(run, segments=args.segments, tasks=args.tasks, stop=stop, cap=cap)
    if trace is not None:
        report["trace"] = trace_run(run, trace, segments=args.segments)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(run.objective.format_report(report, title=f"{args.run_dir} on {report['data']}"))
        if trace is not None:
            from ponder.eval.trace import format_summary

            print(format_summary(report["trace"]) + f"\n             written to {trace}")
        print("saved " + " and ".join(report["files"].values()))
    return 0


def _solve(args) -> int:
    from ponder.trained import solve_file

    png = output_path(args.png, "--png")
    if png is not None:  # before the model runs: refuse a path it could not write
        check_output_file(png, "--png", overwrite=args.overwrite, inputs=(args.file,))
    stop, cap = _stop_rule(args)
    run = _load_for_judging(args)
    result = solve_file(run, args.file, png=png, segments=args.segments, stop=stop, cap=cap)
    print(result["ascii"], end="")
    verdict = " ".join(f"{k}={v}" for k, v in result["verdict"].items())
    print(verdict or "no verdict: the task file holds no test outputs to judge against")
    return 0
