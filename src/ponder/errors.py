"""The one exception type for a user's mistake.

The CLI turns a UserError into one line on stderr and exit code 2; any other exception
is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user: a file, a key, a value or a path. The message names it."""


class TrainingDiverged(UserError):
    """Too many non-finite losses: the run stops cleanly, its last checkpoint intact."""
