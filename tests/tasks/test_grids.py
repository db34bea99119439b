"""The helpers grid tasks share: codec round trip and garbage ids, route F1, atomic save."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.errors import UserError
from ponder.tasks.grids import decode_grid, encode_grid, path_f1, save_figure_atomic


def test_encode_decode_round_trip_and_garbage_ids_become_pad() -> None:
    grid = np.array([[1, 2, 3], [4, 5, 0]], dtype=np.uint8)
    tokens = encode_grid(grid, "test")
    assert tokens.dtype == np.int64 and tokens.shape == (6,)
    assert np.array_equal(decode_grid(tokens, (2, 3), 6, 0, "test"), grid)
    garbage = np.array([1, 9, -3, 2, 5, 6])
    assert decode_grid(garbage, (2, 3), 6, 0, "test").tolist() == [[1, 0, 0], [2, 5, 0]]


def test_codec_refuses_wrong_shapes() -> None:
    with pytest.raises(UserError, match="must be 2-D"):
        encode_grid(np.zeros(4), "test")
    with pytest.raises(UserError, match="5 tokens cannot fill a 2x3 test"):
        decode_grid(np.zeros(5), (2, 3), 6, 0, "test")


def test_path_f1() -> None:
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    assert path_f1(a, b) == pytest.approx(0.5)
    assert path_f1(a, a) == 1.0 and path_f1(~a & a, ~a & a) == 1.0
    assert path_f1(a, ~a) == 0.0


def test_a_failed_save_leaves_nothing(tmp_path) -> None:
    class Broken:
        def savefig(self, path, format):
            raise OSError("disk full")

    with pytest.raises(OSError):
        save_figure_atomic(Broken(), tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []
