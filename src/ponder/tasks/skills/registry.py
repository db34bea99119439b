"""The 18 skills by name, and which are trained on and which are held out."""

from __future__ import annotations

from ponder.tasks.skills.colours import ColourMap, MajorityColour, Mask
from ponder.tasks.skills.geometry import Flip, Rotate, Scale, SymmetryComplete, Tile, Translate
from ponder.tasks.skills.motion import DrawLine, Gravity, SortBars
from ponder.tasks.skills.shapes import (
    CountObjects,
    Crop,
    Denoise,
    FloodFill,
    Outline,
    RecolourBySize,
)
from ponder.tasks.skills.skill import Skill

# The order is part of every dataset: TRAIN_SKILLS follows it, and generate_split cycles
# through the skills it is given in order.
SKILLS: dict[str, Skill] = {
    skill.name: skill
    for skill in (
        Flip(), Rotate(), ColourMap(), Translate(), Gravity(), FloodFill(), CountObjects(),
        Crop(), Scale(), SymmetryComplete(), DrawLine(), RecolourBySize(), Denoise(),
        Outline(), Tile(), SortBars(), MajorityColour(), Mask(),
    )
}  # fmt: skip

# Held out of training, each built from parts that trained skills teach, so generalising
# to them is possible in principle:
#   flip: mirroring is in symmetry_complete, a flip of both axes is rotate 180;
#   outline: telling a shape's inside from its border is flood_fill's, deleting cells by
#     their neighbourhood is denoise's;
#   majority_colour: counting is count_objects', a grid filled with one colour or resized
#     to 1x1 is in scale / count_objects' outputs;
#   sort_bars: moving cells along an axis is gravity's, comparing sizes recolour_by_size's.
HELDOUT_SKILLS: tuple[str, ...] = ("flip", "outline", "majority_colour", "sort_bars")
TRAIN_SKILLS: tuple[str, ...] = tuple(s for s in SKILLS if s not in HELDOUT_SKILLS)
