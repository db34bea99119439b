"""Shared fixtures: tiny maze datasets."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import torch

from ponder.data import build_dataset

torch.set_num_threads(2)
# precision: auto caches its measurements; the suite (and the commands it starts) must not
# write into the user's cache, and shares one of its own.
os.environ["PONDER_CACHE_DIR"] = tempfile.mkdtemp(prefix="ponder-test-cache-")


@pytest.fixture(scope="session")
def tiny_maze_dir(tmp_path_factory) -> Path:
    """7x7 mazes: 16 train, 8 test."""
    out = tmp_path_factory.mktemp("data") / "maze7"
    return build_dataset("maze", out, train=16, test=8, seed=0, size=7, min_path=4)
