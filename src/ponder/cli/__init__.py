"""The `ponder` command (entry point `ponder.cli:main`); see ponder.cli.main.

This module imports nothing but `sys`, so that a Ctrl-C while the command groups are being
imported still ends as an interrupt (exit 130, one line), not a traceback.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Run one command (ponder.cli.main.main); exit codes as it documents."""
    try:
        from ponder.cli.main import main as run_command
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        return 130
    return run_command(argv)


def build_parser():
    """The parser of every command (ponder.cli.main.build_parser)."""
    from ponder.cli.main import build_parser as build

    return build()


__all__ = ["build_parser", "main"]
