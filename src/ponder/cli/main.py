"""Command line: parses arguments, calls library functions, maps user errors to exit 2.

A UserError (bad file, bad key, missing path) prints one line and exits 2; anything else
is a bug and keeps its traceback. Each command group's parser and handlers live in a module
of its own beside this one."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading

from ponder.cli.args import Parser
from ponder.cli.data import add_data_parsers
from ponder.cli.interrupt import interrupted
from ponder.cli.official import add_official_parsers
from ponder.cli.puzzles import add_oracle_verify_parsers
from ponder.cli.tools import add_bench_parser, add_config_parser, add_parity_parser, demo_command
from ponder.cli.training import add_eval_solve_parsers, add_train_parser
from ponder.errors import UserError
from ponder.experiments.cli import add_suite_parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done, 1 a "no" verdict (verify), 2 a user's mistake,
    130 interrupted by Ctrl-C, 141 the reader of stdout went away (`ponder ... | head -1`),
    the codes a shell gives a command killed by SIGINT or SIGPIPE."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, so that a closed pipe is met inside this try
        return code
    except KeyboardInterrupt:  # anywhere: parsing, importing torch, training
        return interrupted()
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


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="ponder", description="Train and judge small recursive reasoning models.")
    sub = p.add_subparsers(metavar="COMMAND", parser_class=Parser, dest="command")
    add_data_parsers(sub)
    add_oracle_verify_parsers(sub)
    add_train_parser(sub)
    add_eval_solve_parsers(sub)
    add_official_parsers(sub)
    add_bench_parser(sub)
    add_parity_parser(sub)
    add_config_parser(sub)
    add_suite_parser(sub)
    demo = sub.add_parser("demo", help="build mazes, train TRM and the baseline, compare")
    demo.add_argument("--config", default=None, help="demo YAML (default: configs/demo.yaml)")
    demo.set_defaults(handler=demo_command)
    return p
