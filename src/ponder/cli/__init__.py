"""The `ponder` command (entry point `ponder.cli:main`); see ponder.cli.main.

This module imports nothing but ponder.cli.interrupt (itself only `sys`), so that a Ctrl-C
while the command groups are being imported still ends as an interrupt (exit 130, one
line), not a traceback.
"""

from __future__ import annotations

from ponder.cli.interrupt import interrupted


def main(argv: list[str] | None = None) -> int:
    """Run one command (ponder.cli.main.main); exit codes as it documents."""
    try:
        from ponder.cli.main import main as run_command
    except KeyboardInterrupt:
        return interrupted()
    return run_command(argv)


def build_parser():
    """The parser of every command (ponder.cli.main.build_parser)."""
    from ponder.cli.main import build_parser as build

    return build()


__all__ = ["build_parser", "interrupted", "main"]
