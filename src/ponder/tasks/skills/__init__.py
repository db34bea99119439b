"""Synthetic few-shot grid tasks (ARC-style) drawn from 18 named elementary skills.

A skill is one grid transformation (flip the grid, fill enclosed holes, count the objects,
...) in three parts: `sample_params` draws what one task instance fixes for all its pairs
(which axis to flip, which colour to fill with), `sample_input` draws one input grid for
those parameters, and `apply` is the exact oracle, input -> output. An instance is a
FewShotTask whose demonstration and test pairs share one draw of parameters, so the
demonstrations pin down the rule that the test asks for.

Inputs are drawn so that every answer is unique and every pair teaches something: inputs
that would be ambiguous (ties, touching objects) are never built, and pairs whose output
is blank or equal to the input are drawn again. Fourteen skills are for training; four
(HELDOUT_SKILLS) are kept back to measure whether a model composes what it learned.

All randomness comes from the caller's np.random.Generator: one seed, one task.

The package's modules, lowest first: grids (grid operations), draws (random inputs),
skill (the Skill base class), geometry / colours / shapes / motion (the skills by family),
registry (SKILLS and the train / held-out split), generation (instances and splits) and
solving (the oracle of a task file). This module only gathers their public names.
"""

from __future__ import annotations

from ponder.tasks.skills.colours import GREY, ColourMap, MajorityColour, Mask
from ponder.tasks.skills.generation import (
    generate_instance,
    generate_split,
    generate_task,
    random_task,
    task_key,
)
from ponder.tasks.skills.geometry import Flip, Rotate, Scale, SymmetryComplete, Tile, Translate
from ponder.tasks.skills.motion import DrawLine, Gravity, SortBars
from ponder.tasks.skills.registry import HELDOUT_SKILLS, SKILLS, TRAIN_SKILLS
from ponder.tasks.skills.shapes import (
    CountObjects,
    Crop,
    Denoise,
    FloodFill,
    Outline,
    RecolourBySize,
)
from ponder.tasks.skills.skill import Params, Skill
from ponder.tasks.skills.solving import solve_task

__all__ = [
    "GREY",
    "HELDOUT_SKILLS",
    "SKILLS",
    "TRAIN_SKILLS",
    "ColourMap",
    "CountObjects",
    "Crop",
    "Denoise",
    "DrawLine",
    "Flip",
    "FloodFill",
    "Gravity",
    "MajorityColour",
    "Mask",
    "Outline",
    "Params",
    "RecolourBySize",
    "Rotate",
    "Scale",
    "Skill",
    "SortBars",
    "SymmetryComplete",
    "Tile",
    "Translate",
    "generate_instance",
    "generate_split",
    "generate_task",
    "random_task",
    "solve_task",
    "task_key",
]
