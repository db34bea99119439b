"""The experiment file: its pydantic models, reading it, and one-line messages for bad keys.

A suite file is described in `ponder.experiments.suite`, a sweep file (`mode: sweep`) in
`ponder.experiments.sweep`; both share the reading, the validation messages, `out` and
the way overrides are written.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ponder.errors import UserError
from ponder.fileio import read_yaml_file
from ponder.limits import SEED_MAX
from ponder.models.base import FrozenConfig, error_location

STOP = "stop"  # the rule target that ends a suite
_SUITE_NAME = re.compile(r"[A-Za-z0-9_.-]+\Z")
Schema = TypeVar("Schema", bound=FrozenConfig)


class StopRule(FrozenConfig):
    """Stop a run whose `metric` is below `below` at the fraction `at` of its steps."""

    metric: str = "exact"
    below: float
    at: float = Field(gt=0, lt=1)


class RunSpec(FrozenConfig):
    config: str  # a YAML preset, relative to the current directory
    overrides: list[str] | dict[str, Any] = []  # "key=value" strings or {key: value}
    seeds: list[Annotated[int, Field(ge=0, le=SEED_MAX)]] = Field([0], min_length=1)
    after: list[str] = []  # runs that must be complete before this one starts

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds repeat: {seeds}")
        return seeds


class Rule(FrozenConfig):
    """`{if: CONDITION, then: NEXT}` or `{else: NEXT}`, NEXT a phase name or `stop`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    when: str | None = Field(None, alias="if")
    then: str | None = None
    otherwise: str | None = Field(None, alias="else")
    say: str | None = None  # recorded as the suite's outcome when this rule is taken

    @model_validator(mode="after")
    def _one_form(self) -> Rule:
        if self.when is not None or self.then is not None:
            valid = self.when is not None and self.then is not None and self.otherwise is None
        else:
            valid = self.otherwise is not None
        if not valid:
            raise ValueError("a rule is either {if: CONDITION, then: NEXT} or {else: NEXT}")
        return self

    @property
    def target(self) -> str:
        return self.then if self.then is not None else self.otherwise  # type: ignore[return-value]

    @property
    def label(self) -> str:
        return self.when if self.when is not None else "else"


class Phase(FrozenConfig):
    name: str
    runs: list[str] = Field(min_length=1)
    decide: list[Rule] = []


class SuiteSpec(FrozenConfig):
    name: str
    mode: Literal["suite"] = "suite"
    out: str | None = None  # default runs/suites/<name>
    metric: str = "exact"
    runs: dict[str, RunSpec] = Field(min_length=1)
    stop_rules: list[StopRule] = []
    phases: list[Phase] = []

    @field_validator("name")
    @classmethod
    def _path_safe(cls, name: str) -> str:
        if not _SUITE_NAME.match(name):
            raise ValueError(f"name {name!r} may hold only letters, digits, '_', '-' and '.'")
        return name


def out_dir(name: str, out: str | None) -> Path:
    """Where a suite or sweep writes: its `out`, else runs/suites/<name>."""
    return Path(out) if out else Path("runs") / "suites" / name


def read_experiment_file(path: str | Path) -> dict[str, Any]:
    """The raw mapping of an experiment file, or a UserError naming what is wrong."""
    return read_yaml_file(Path(path), "experiment file")


def parse_schema(cls: type[Schema], raw: dict[str, Any], source: Path) -> Schema:
    """Validate `raw` against a pydantic schema; the first problem becomes one line."""
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(part) for part in error_location(first))
        if first["type"] == "extra_forbidden":
            known = [f.alias or name for name, f in _fields_at(cls, first["loc"][:-1])]
            near = difflib.get_close_matches(str(first["loc"][-1]), known, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else f" (known: {', '.join(known)})"
            raise UserError(f"{source}: unknown key '{loc}'{hint}") from None
        message = first["msg"].removeprefix("Value error, ")
        raise UserError(f"{source}: '{loc}': {message}") from None


def _fields_at(cls: type[BaseModel], loc: Sequence[Any]) -> list[tuple[str, Any]]:
    """The fields of the schema that `loc` (a pydantic error location) points into."""
    for part in loc:
        field = cls.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            continue  # a list index or a mapping key (a run id)
        inner = [a for a in (field.annotation, *get_args(field.annotation)) if _is_schema(a)]
        if not inner:
            break
        cls = inner[0]
    return list(cls.model_fields.items())


def _is_schema(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def override_strings(overrides: list[str] | dict[str, Any]) -> list[str]:
    """Overrides as `key=value` strings; a mapping's values are written back as YAML so
    load_config reads exactly the value the file gave (3e-5 stays a float)."""
    if isinstance(overrides, list):
        return list(overrides)
    return [f"{key}={yaml_value(value)}" for key, value in overrides.items()]


def yaml_value(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000)
    return text.removesuffix("\n...\n").strip()
