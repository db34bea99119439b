"""ponder.train.runtime: flush_denormal sets the CPU's subnormals-as-zero mode."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch

from ponder.train.runtime import make_runtime

# A subnormal fp32 value (below the smallest normal, 1.18e-38) times one: itself, or 0 when
# subnormals are read as zero. In a fresh process, so the mode cannot leak into other tests
# and the check sees the mode a run's first ops see.
_PROBE = """
import torch
from ponder.train.runtime import make_runtime
make_runtime("cpu", "fp32", flush_denormal={flush})
x = torch.full((4096,), 1e-39)  # large enough for the thread pool to share the work
print(float((x * 1.0).abs().max()))
"""


@pytest.mark.parametrize("flush", [False, True])
def test_flush_denormal_reads_subnormals_as_zero_only_when_asked(flush):
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("FTZ/DAZ is an x86 mode")
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(flush=flush)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (float(out) == 0.0) is flush, out


def test_the_default_runtime_leaves_the_mode_alone():
    runtime = make_runtime("cpu", "fp32")
    assert runtime.dtype == torch.float32
    assert float(torch.tensor([1e-39]) * 1.0) > 0
