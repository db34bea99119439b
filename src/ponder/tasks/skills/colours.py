"""Skills that read or rewrite colours cell by cell: a colour permutation, the majority
colour, and the overlap mask of a grid's two halves."""

from __future__ import annotations

import numpy as np

from ponder.tasks.skills.draws import noise, pick_colours, size
from ponder.tasks.skills.grids import COLOURS
from ponder.tasks.skills.skill import Skill

GREY = 5  # mask's separator colour


class ColourMap(Skill):
    name = "colour_map"

    def sample_params(self, rng):
        sources = pick_colours(rng, size(rng, 2, 4))
        while True:  # a derangement: every listed colour changes
            order = rng.permutation(len(sources))
            if all(int(j) != i for i, j in enumerate(order)):
                break
        return {"mapping": tuple((s, sources[int(j)]) for s, j in zip(sources, order, strict=True))}

    def candidates(self, pairs):
        # The mapping is read off the pairs, cell by cell: one colour, one image.
        image: dict[int, int] = {}
        for pair in pairs:
            if pair.input.shape != pair.output.shape:
                return []
            cells = np.unique(np.stack([pair.input.ravel(), pair.output.ravel()], axis=1), axis=0)
            for source, target in cells.tolist():
                if image.setdefault(source, target) != target:
                    return []
        moved = tuple((s, t) for s, t in sorted(image.items()) if s != t)
        # sample_params permutes 2..4 non-black colours among themselves
        sources, targets = {s for s, _ in moved}, {t for _, t in moved}
        permuted = sources == targets and 0 not in sources
        return [{"mapping": moved}] if moved and permuted else []

    def sample_input(self, rng, params, max_size):
        sources = [s for s, _ in params["mapping"]]
        shape = (size(rng, 3, max_size), size(rng, 3, max_size))
        grid = noise(rng, shape, rng.uniform(0.6, 0.9), sources)
        # Every mapped colour shows in every input, so any demonstration reveals the mapping.
        return grid if set(sources) <= set(np.unique(grid).tolist()) else None

    def apply(self, grid, params):
        table = np.arange(10, dtype=np.uint8)
        for source, target in params["mapping"]:
            table[source] = target
        return table[grid]


class MajorityColour(Skill):
    name = "majority_colour"
    choices = {"output": ("1x1", "same_shape")}

    def sample_input(self, rng, params, max_size):
        shape = (size(rng, 3, max_size), size(rng, 3, max_size))
        colours = pick_colours(rng, size(rng, 2, 3))
        values = rng.choice(colours, size=shape, p=rng.dirichlet(np.ones(len(colours))))
        grid = np.where(rng.random(shape) < rng.uniform(0.5, 0.9), values, 0).astype(np.uint8)
        counts = sorted((int((grid == c).sum()) for c in colours), reverse=True)
        return grid if counts[0] > counts[1] else None  # no ties

    def apply(self, grid, params):
        counts = np.bincount(grid.ravel(), minlength=10)
        counts[0] = 0
        shape = (1, 1) if params["output"] == "1x1" else grid.shape
        return np.full(shape, int(np.argmax(counts)), dtype=np.uint8)


class Mask(Skill):
    name = "mask"
    min_size = 5  # two 2-wide halves and the separator
    choices = {"colour": tuple(c for c in COLOURS if c != GREY)}

    def sample_params(self, rng):
        return {"colour": pick_colours(rng, 1, exclude=[GREY])[0]}

    def sample_input(self, rng, params, max_size):
        h, half = size(rng, 3, max_size), size(rng, 2, (max_size - 1) // 2)
        left_colour, right_colour = pick_colours(rng, 2, exclude=[GREY])
        left = noise(rng, (h, half), rng.uniform(0.3, 0.7), [left_colour])
        right = noise(rng, (h, half), rng.uniform(0.3, 0.7), [right_colour])
        return np.hstack([left, np.full((h, 1), GREY, dtype=np.uint8), right])

    def accepts(self, grid):
        return grid.shape[1] >= 3 and grid.shape[1] % 2 == 1  # two halves and the separator

    def apply(self, grid, params):
        middle = grid.shape[1] // 2
        both = (grid[:, :middle] != 0) & (grid[:, middle + 1 :] != 0)
        return np.where(both, params["colour"], 0).astype(np.uint8)
