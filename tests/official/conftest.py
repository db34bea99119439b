"""Shared by the official import/export tests: one thread, and the 4x4 maze dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from official_support import write_maze4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: one thread runs them fast where two wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def maze4_dir(tmp_path_factory) -> Path:
    return write_maze4(tmp_path_factory.mktemp("data") / "maze4")
