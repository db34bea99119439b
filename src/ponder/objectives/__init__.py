"""Answer formulations (objectives): a registry in the spirit of CLRS's specs and TRM's
loss head. A run's `objective` key picks one; `auto` takes `fewshot` for a dataset of
few-shot tasks and `grid` otherwise. See ponder.objectives.base for what each provides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ponder.errors import UserError
from ponder.eval.evaluate import Depth
from ponder.objectives.base import Judgement, Objective, RunSettings
from ponder.objectives.fewshot import FewShotConfig, FewShotObjective
from ponder.objectives.grid import GridConfig, GridObjective
from ponder.objectives.path import PathConfig, PathObjective

if TYPE_CHECKING:
    from ponder.data.dataset import Dataset

OBJECTIVES: dict[str, type[Objective]] = {
    "grid": GridObjective,
    "path": PathObjective,
    "fewshot": FewShotObjective,
}
SECTIONS = {"grid": GridConfig, "path": PathConfig, "fewshot": FewShotConfig}


def objective_name(config: RunSettings, data: Dataset) -> str:
    """The run's formulation: `objective`, or for `auto` the one its dataset implies."""
    if config.objective != "auto":
        return config.objective
    return "fewshot" if data.fewshot else "grid"


def build_objective(config: RunSettings, data: Dataset) -> Objective:
    """The run's objective, bound to its dataset (which it prepares). A section of another
    formulation set to anything but its defaults is refused, naming the key."""
    name = objective_name(config, data)
    for section, cls in SECTIONS.items():
        if section != name:
            _refuse_unused(config, section, name, cls())
    return OBJECTIVES[name](config, data)


def _refuse_unused(config: RunSettings, section: str, chosen: str, default) -> None:
    values = getattr(config, section)
    for key in type(values).model_fields:
        if getattr(values, key) != getattr(default, key):
            raise UserError(
                f"config key '{section}.{key}' is for objective '{section}'; this run's "
                f"objective is '{chosen}'"
            )


__all__ = [
    "OBJECTIVES",
    "RunSettings",
    "SECTIONS",
    "Depth",
    "FewShotConfig",
    "GridConfig",
    "Judgement",
    "Objective",
    "PathConfig",
    "build_objective",
    "objective_name",
]
