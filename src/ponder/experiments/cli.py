"""`ponder suite FILE [--dry-run]`: run an experiment suite or sweep from a YAML file.

The main CLI adds this sub-command with `add_suite_parser(sub)`; the handler returns an
exit code and raises UserError for a user's mistake, which the main CLI prints as one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_suite_parser(sub) -> None:
    """Add `suite` to the main parser's sub-commands (`sub` from add_subparsers)."""
    suite = sub.add_parser(
        "suite", help="run an experiment suite or an Optuna sweep from a YAML file"
    )
    suite.add_argument("file", type=Path, help="experiment file (for example experiments/*.yaml)")
    suite.add_argument(
        "--dry-run", action="store_true", help="check the file and print the plan; train nothing"
    )
    suite.set_defaults(handler=run_suite_command)


def run_suite_command(args: argparse.Namespace) -> int:
    """A sweep when the file says `mode: sweep`, else a suite; --dry-run only plans."""
    # Imported here: building the parser must stay light (the suite pulls in torch).
    from ponder.experiments.suite import format_plan, load_suite, read_experiment_file, run_suite

    if read_experiment_file(args.file).get("mode") == "sweep":
        # lazy: only sweeps need Optuna
        from ponder.experiments.sweep import format_sweep_plan, load_sweep, run_sweep

        sweep = load_sweep(args.file)
        print(format_sweep_plan(sweep))
        if not args.dry_run:
            run_sweep(sweep)
        return 0
    plan = load_suite(args.file)
    print(format_plan(plan))
    if not args.dry_run:
        run_suite(plan)
    return 0
