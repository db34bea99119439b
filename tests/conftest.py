"""Shared fixtures: tiny maze datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ponder.data import build_dataset

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_maze_dir(tmp_path_factory) -> Path:
    """7x7 mazes: 16 train, 8 test."""
    out = tmp_path_factory.mktemp("data") / "maze7"
    return build_dataset("maze", out, train=16, test=8, seed=0, size=7, min_path=4)
