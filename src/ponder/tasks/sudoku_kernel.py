"""The Sudoku solver's search, compiled by numba: integer arrays and an explicit stack.

ponder.tasks.sudoku_solver prepares the arrays and reads the results. The same algorithm in
plain Python solved about 300 of magictour's top95 puzzles a second on this project's CPU, too
slow for an oracle that proves every generated puzzle unique. The first call in a fresh
environment compiles the kernels (a few seconds), then numba caches them on disk.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def propagate(cand, queue, qlen, peers, units, full):  # pragma: no cover (compiled)
    """Naked and hidden singles to a fixpoint, in place on `cand` (n * n masks); False on a
    contradiction. `queue[:qlen]` holds cells newly solved (each cell enters at most once).

    The queue is drained before any unit is scanned for hidden singles, so a scan sees no
    solved digit still listed as a candidate of a peer. Units are scanned round robin; the
    fixpoint is a full round without a find."""
    n_units, width = units.shape
    u = 0
    clean = 0
    while True:
        while qlen > 0:
            qlen -= 1
            cell = queue[qlen]
            bit = cand[cell]
            for i in range(peers.shape[1]):
                p = peers[cell, i]
                m = cand[p]
                if m & bit:
                    m ^= bit
                    if m == 0:
                        return False
                    cand[p] = m
                    if m & (m - 1) == 0:
                        queue[qlen] = p
                        qlen += 1
        while clean < n_units:
            once = 0
            twice = 0
            placed = 0
            for i in range(width):
                m = cand[units[u, i]]
                if m & (m - 1):
                    twice |= once & m
                    once |= m
                else:
                    placed |= m
            if once | placed != full:  # some digit has no place left in this unit
                return False
            only = once & ~twice  # digits with one open cell left, none placed (drained)
            if only == 0:
                u = u + 1 if u + 1 < n_units else 0
                clean += 1
                continue
            for i in range(width):
                c = units[u, i]
                h = cand[c] & only
                if h:  # the cell is the only place of digit h: it must hold it
                    if h & (h - 1):
                        return False  # two digits whose only place is the same cell
                    cand[c] = h
                    queue[qlen] = c
                    qlen += 1
            u = u + 1 if u + 1 < n_units else 0
            clean = 0
            break
        if qlen == 0:
            return True


@numba.njit(cache=True)
def search_kernel(
    cand0, queue0, peers, units, full, popcount, order, solutions
):  # pragma: no cover
    """Depth-first search from candidates `cand0` (n * n masks; `queue0` its solved cells
    still to propagate), trying the digits of a cell in `order[cell]` (0-based). Fills
    `solutions` (limit, n * n) with digits; returns (solutions found, guesses, nodes)."""
    n_cells = cand0.shape[0]
    n = order.shape[1]
    limit = solutions.shape[0]
    stack = np.empty((n_cells * n + 1, n_cells), dtype=np.int64)  # open nodes' candidates
    first = np.empty(n_cells * n + 1, dtype=np.int64)  # the cell each node guessed
    queue = np.empty(n_cells, dtype=np.int64)
    stack[0] = cand0
    first[0] = -1
    top = 1
    found = guesses = nodes = 0
    while top > 0:
        top -= 1
        cand = stack[top].copy()  # its slot is reused by the children pushed below
        nodes += 1
        if first[top] < 0:
            qlen = queue0.shape[0]
            queue[:qlen] = queue0
        else:
            queue[0] = first[top]
            qlen = 1
        if not propagate(cand, queue, qlen, peers, units, full):
            continue
        best = -1
        fewest = n + 1
        for k in range(n_cells):
            m = cand[k]
            if m & (m - 1) and popcount[m] < fewest:
                best = k
                fewest = popcount[m]
                if fewest == 2:
                    break
        if best < 0:
            for k in range(n_cells):
                digit = 0
                m = cand[k]
                while m:
                    m >>= 1
                    digit += 1
                solutions[found, k] = digit
            found += 1
            if found >= limit:
                break
            continue
        guesses += 1
        for j in range(n - 1, -1, -1):  # pushed last, order[best, 0] is tried first
            bit = 1 << order[best, j]
            if cand[best] & bit:
                stack[top] = cand
                stack[top, best] = bit
                first[top] = best
                top += 1
    return found, guesses, nodes
