"""The one way a command reports Ctrl-C (imports nothing but `sys`, as ponder.cli)."""

from __future__ import annotations

import sys


def interrupted() -> int:
    """Say that Ctrl-C stopped the command; the exit code 130 to return.

    CPython 3.11 remembers a KeyboardInterrupt that passed through any `exec` of a string
    (dataclasses and namedtuples build their methods so, for one, while torch imports its
    parts lazily) even when it is caught further up, and `python -m` then ends the process
    by SIGINT instead of with the code returned. Running an empty string clears that mark.
    """
    exec("")  # resets the interpreter's "unhandled KeyboardInterrupt" flag
    print("ponder: interrupted", file=sys.stderr)
    return 130
