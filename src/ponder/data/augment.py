"""Grid augmentations: the 8 dihedral transforms (rotations and reflections).

Transform ids follow HRM's and TRM's `dihedral_transform`, so an augmentation id recorded by
their code means the same transform here:
0 identity, 1-3 rotate 90/180/270 degrees counter-clockwise, 4 mirror left-right,
5 mirror up-down, 6 transpose, 7 anti-transpose.
"""

from __future__ import annotations

import numpy as np

NUM_DIHEDRAL = 8
# Rotations by 90 and 270 degrees undo each other; every other transform is its own inverse.
_DIHEDRAL_INVERSE = (0, 3, 2, 1, 4, 5, 6, 7)


def _check_k(k: int) -> int:
    if not 0 <= int(k) < NUM_DIHEDRAL:
        raise ValueError(f"dihedral transform id must be in 0..7, got {k}")
    return int(k)


def dihedral(grid: np.ndarray, k: int) -> np.ndarray:
    """Transform `k` (0..7) of a 2D grid [H, W]; a new contiguous array ([W, H] when k
    swaps the axes)."""
    k = _check_k(k)
    if grid.ndim != 2:
        raise ValueError(f"dihedral expects a 2D grid, got shape {grid.shape}")
    if k < 4:
        out = np.rot90(grid, k)
    elif k == 4:
        out = np.fliplr(grid)
    elif k == 5:
        out = np.flipud(grid)
    elif k == 6:
        out = grid.T
    else:
        out = np.fliplr(np.rot90(grid, 1))
    return np.ascontiguousarray(out)


def inverse_dihedral_index(k: int) -> int:
    """The id j with dihedral(dihedral(g, k), j) == g."""
    return _DIHEDRAL_INVERSE[_check_k(k)]


def canonical_key(grid: np.ndarray) -> bytes:
    """A key equal for two grids exactly when one is a dihedral transform of the other.

    The shape is part of each candidate so grids of different shapes never collide."""
    candidates = []
    for k in range(NUM_DIHEDRAL):
        t = dihedral(grid, k)
        candidates.append(np.asarray(t.shape, dtype=np.int64).tobytes() + t.tobytes())
    return min(candidates)
