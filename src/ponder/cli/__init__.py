"""The `ponder` command (entry point `ponder.cli:main`); see ponder.cli.main."""

from ponder.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
