"""Dihedral transforms: 8 distinct, invertible, HRM-ordered; canonical keys up to symmetry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ponder.data.augment import canonical_key, dihedral, inverse_dihedral_index

GRID = np.arange(12, dtype=np.uint8).reshape(3, 4)  # no symmetry: all 8 images differ


def test_eight_distinct_transforms() -> None:
    images = {(dihedral(GRID, k).shape, dihedral(GRID, k).tobytes()) for k in range(8)}
    assert len(images) == 8


@pytest.mark.parametrize("k", range(8))
def test_inverse_undoes_each_transform(k: int) -> None:
    back = dihedral(dihedral(GRID, k), inverse_dihedral_index(k))
    np.testing.assert_array_equal(back, GRID)


def test_matches_hrm_ordering() -> None:
    # HRM's dataset/common.py: 1-3 rot90 k times, 4 fliplr, 5 flipud, 6 transpose, 7 fliplr(rot90).
    expected = [
        GRID,
        np.rot90(GRID, 1),
        np.rot90(GRID, 2),
        np.rot90(GRID, 3),
        np.fliplr(GRID),
        np.flipud(GRID),
        GRID.T,
        np.fliplr(np.rot90(GRID, 1)),
    ]
    for k, want in enumerate(expected):
        np.testing.assert_array_equal(dihedral(GRID, k), want)
        assert dihedral(GRID, k).flags.c_contiguous


def test_rejects_bad_id_and_shape() -> None:
    with pytest.raises(ValueError):
        dihedral(GRID, 8)
    with pytest.raises(ValueError):
        inverse_dihedral_index(-1)
    with pytest.raises(ValueError):
        dihedral(np.zeros(4), 0)


def test_canonical_key_separates_different_grids() -> None:
    other = GRID.copy()
    other[0, 0] = 99
    assert canonical_key(GRID) != canonical_key(other)
    # Same bytes, different shape: must not collide.
    assert canonical_key(np.zeros((2, 6), np.uint8)) != canonical_key(np.zeros((3, 4), np.uint8))


@given(arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(1, 5))), st.integers(0, 7))
def test_canonical_key_invariant_under_symmetry(grid: np.ndarray, k: int) -> None:
    assert canonical_key(dihedral(grid, k)) == canonical_key(grid)
    np.testing.assert_array_equal(dihedral(dihedral(grid, k), inverse_dihedral_index(k)), grid)
