"""ponder: train and judge small recursive reasoning models on grid puzzles."""

__version__ = "0.1.0"
