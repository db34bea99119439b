"""Loading a run config: YAML presets plus dotted `key=value` overrides, validated once.

Unknown keys are an error that names the nearest valid keys; a wrong type or an out-of-range
value is an error that names the key. Every error is a UserError (one line, exit 2).
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ponder.config.run import RunConfig
from ponder.config.train import CurriculumConfig, EarlyStopConfig, TrainConfig
from ponder.config_migration import migrate_moved_keys
from ponder.data.config import DataConfig
from ponder.errors import UserError
from ponder.eval.config import EvalConfig
from ponder.fileio import read_yaml_file
from ponder.models.base import BOOL_FOR_NUMBER, DemoEncoderConfig, DemoMemoryConfig, error_location
from ponder.models.dt import DTConfig
from ponder.models.hrm import HRMConfig
from ponder.models.poh import PoHConfig
from ponder.models.seq_champion import SeqChampionConfig
from ponder.models.seq_decoder import SeqDecoderConfig
from ponder.models.seq_encdec import SeqEncDecConfig
from ponder.models.transformer import TransformerConfig
from ponder.models.trm import TRMConfig
from ponder.objectives import SECTIONS as OBJECTIVE_SECTIONS


def load_config(path: str | Path | None, overrides: list[str] = ()) -> RunConfig:
    """Load a YAML preset (or the defaults when path is None) and apply dotted overrides."""
    raw: dict[str, Any] = {}
    if path is not None and not str(path):  # Path("") would read as the current directory
        raise UserError("the config file path is empty; give a YAML file")
    if path is not None:
        raw = _read_yaml(Path(path))
    for item in overrides:
        key, value = _parse_override(item)
        _set_dotted(raw, key, value)
    _require_sections(raw)
    for note in migrate_moved_keys(raw):  # a preset written before keys moved still loads
        print(f"ponder: note: {note}", file=sys.stderr)
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> RunConfig:
    """A RunConfig from a raw mapping (a run's saved config too: keys that moved since it
    was saved are read under their new names)."""
    _require_sections(raw)
    migrate_moved_keys(raw)
    _reject_unknown_keys(raw)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        raise UserError(_describe_error(err.errors()[0])) from None


def _describe_error(first: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error_location(first) if not _is_union_tag(p))
    message = first["msg"].removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]  # not all of it: model.T stays model.T
    if not key:  # a rule across keys (RunConfig's validators): the message names them
        return f"config: {message}"
    if first["type"] == BOOL_FOR_NUMBER:  # its input is the whole section
        return f"config key '{key}': {message}"
    return f"config key '{key}': {message} (got {first.get('input')!r})"


def _is_union_tag(part: Any) -> bool:
    return part in MODEL_CLASSES


def _read_yaml(path: Path) -> dict[str, Any]:
    return read_yaml_file(path, "config file")


def _parse_override(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise UserError(f"override '{item}' must look like key=value (for example train.lr=1e-3)")
    key, text = item.split("=", 1)
    try:
        # Blank text stays text (YAML would read `name= ` as null): the key then says
        # what it needs, e.g. "a run name must not be empty".
        value = yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise UserError(f"config key '{key}': '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


_SECTIONS: dict[str, type[BaseModel]] = {
    "data": DataConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    **OBJECTIVE_SECTIONS,
}
# Each model's config class by model.name (the config reference reads it too).
MODEL_CLASSES: dict[str, type[BaseModel]] = {
    "trm": TRMConfig,
    "hrm": HRMConfig,
    "transformer": TransformerConfig,
    "poh": PoHConfig,
    "seq_decoder": SeqDecoderConfig,
    "seq_encdec": SeqEncDecConfig,
    "seq_champion": SeqChampionConfig,
    "dt": DTConfig,
}
_NESTED = {
    "train.early_stop",
    "train.curriculum",
    "model.demo_encoder",
    "model.demo_memory",
}  # sub-sections whose keys are checked one by one


def valid_keys(model_name: str = "trm") -> list[str]:
    """Every dotted key a config may set (model keys depend on the chosen model)."""
    keys = [k for k in RunConfig.model_fields if k not in (*_SECTIONS, "model")]
    for section, cls in _SECTIONS.items():
        keys += [f"{section}.{k}" for k in cls.model_fields]
    keys += [f"train.early_stop.{k}" for k in EarlyStopConfig.model_fields]
    keys += [f"train.curriculum.{k}" for k in CurriculumConfig.model_fields]
    model_cls = MODEL_CLASSES.get(model_name, TRMConfig)
    keys += [f"model.{k}" for k in model_cls.model_fields]
    if "demo_encoder" in model_cls.model_fields:
        keys += [f"model.demo_encoder.{k}" for k in DemoEncoderConfig.model_fields]
    if "demo_memory" in model_cls.model_fields:
        keys += [f"model.demo_memory.{k}" for k in DemoMemoryConfig.model_fields]
    return keys


def _require_sections(raw: dict[str, Any]) -> None:
    """`model: trm` or `train: 5` is a section written as a value: say so, rather than
    calling a valid key unknown."""
    for section in ("model", *_SECTIONS):
        value = raw.get(section, {})
        if not isinstance(value, dict):
            shown = "null" if value is None else repr(value)
            raise UserError(
                f"config section '{section}' must be a mapping of keys to values, got {shown}"
            )


def _reject_unknown_keys(raw: dict[str, Any]) -> None:
    model_name = str((raw.get("model") or {}).get("name", "trm"))
    if model_name not in MODEL_CLASSES:
        known = ", ".join(MODEL_CLASSES)
        raise UserError(f"config key 'model.name': unknown model '{model_name}' (known: {known})")
    known = set(valid_keys(model_name))
    for key in _flatten_keys(raw):
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            raise UserError(f"unknown config key '{key}'{hint}")


def _flatten_keys(raw: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        is_section = (prefix == "" and key in (*_SECTIONS, "model")) or dotted in _NESTED
        if is_section and isinstance(value, dict):
            keys += _flatten_keys(value, dotted + ".")
        else:
            keys.append(dotted)
    return keys


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


# Where a run lives and on what device it runs do not make it a different run.
PLACE_KEYS = ("device", "run_dir", "name")


def config_differences(
    old: dict[str, Any], new: dict[str, Any], *, common_only: bool = False
) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) wherever two config dicts differ, in key order,
    ignoring PLACE_KEYS. A key only one side has shows None on the other; common_only skips
    such keys (a key added to or removed from ponder since `old` was saved)."""
    flat_old, flat_new = _flatten_values(old), _flatten_values(new)
    keys = set(flat_old) & set(flat_new) if common_only else set(flat_old) | set(flat_new)
    return [
        (key, flat_old.get(key), flat_new.get(key))
        for key in sorted(keys)
        if key.split(".")[0] not in PLACE_KEYS
        and (key not in flat_old or key not in flat_new or flat_old[key] != flat_new[key])
    ]


def _flatten_values(raw: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten_values(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
