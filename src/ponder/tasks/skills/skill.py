"""The Skill base class: one grid transformation, in the three parts every skill defines
(what an instance fixes, how its inputs are drawn, the exact oracle)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ponder.tasks.fewshot import Pair
from ponder.tasks.skills.draws import choose

Params = dict[str, Any]


class Skill:
    """One transformation: what an instance fixes, how its inputs are drawn, the oracle."""

    name = ""
    min_size = 3  # the smallest max_size at which its inputs and outputs fit
    # Every value each parameter can take, in the order the draws are made: the default
    # sample_params draws each uniformly, and the oracle of a task file tries them all.
    choices: dict[str, tuple[Any, ...]] = {}

    def sample_params(self, rng: np.random.Generator) -> Params:
        """What all pairs of one instance share (plain Python values)."""
        return {key: choose(rng, options) for key, options in self.choices.items()}

    def candidates(self, pairs: Sequence[Pair]) -> list[Params]:
        """Every parameter setting that may have made the demonstration `pairs`: all of
        `choices` (a skill may instead read its parameters off the pairs)."""
        keys, combos = list(self.choices), itertools.product(*self.choices.values())
        return [dict(zip(keys, combo, strict=True)) for combo in combos]

    def accepts(self, grid: np.ndarray) -> bool:
        """Whether `apply` is defined on `grid` (a task file may hold any grid)."""
        return True

    def sample_input(
        self, rng: np.random.Generator, params: Params, max_size: int
    ) -> np.ndarray | None:
        """One input grid, or None when this draw failed (the caller draws again)."""
        raise NotImplementedError

    def apply(self, grid: np.ndarray, params: Params) -> np.ndarray:
        """The oracle: the output for `grid`."""
        raise NotImplementedError
