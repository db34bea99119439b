"""The config reference: every key a config may set, with its type, default, description
and who uses its section, built from the config classes themselves (a field's attribute
docstring is its description), so it cannot drift from them.

`ponder config keys [--markdown]` prints it; docs/config.md holds the markdown, kept equal
to it by tests/test_config_reference.py. The model section is one
table across all models (ponder.config's MODEL_CLASSES): each key names the models that
have it, and where their defaults or descriptions differ, gives each with its models.
"""

from __future__ import annotations

import json
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ponder.config import MODEL_CLASSES, RunConfig

# Field(gt=0) and the like, shown after the type: int (> 0). Each holds its bound in the
# attribute named as its class in lower case (Gt(gt=0)).
_BOUNDS = {
    annotated_types.Gt: ">",
    annotated_types.Ge: ">=",
    annotated_types.Lt: "<",
    annotated_types.Le: "<=",
}

# (models, text) pairs: one ("", text) when every model agrees (and outside the model
# section), else one pair per distinct text, naming the models that give it.
Variants = list[tuple[str, str]]


@dataclass(frozen=True)
class Row:
    key: str  # dotted, e.g. train.early_stop.patience
    type: str  # e.g. int (> 0), "max" | "min", list[str], float | null, section
    default: Variants  # as YAML would write it; "required" where there is none
    description: Variants
    models: str = ""  # model keys only: "all" or the models that have it


@dataclass(frozen=True)
class Section:
    name: str  # dotted; "" for the top level; a list of sections ends in []
    used_by: Variants  # the first paragraph of the class docstring (per model for model)
    rows: list[Row]


def reference() -> list[Section]:
    """Every section, the top level first, each followed by its own sub-sections."""
    return _sections("", RunConfig)


def config_classes(annotation: Any) -> list[type[BaseModel]]:
    """The config classes in a field's annotation: a section, an optional section, a list
    of them, or a union of them (the model)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    args = typing.get_args(annotation)
    return list(dict.fromkeys(c for arg in args for c in config_classes(arg)))


def _sections(name: str, cls: type[BaseModel]) -> list[Section]:
    fields = cls.model_fields
    found = [Section(name, [("", _used_by(cls))], [_row(name, k, f) for k, f in fields.items()])]
    for key, field in fields.items():
        found += _sub_sections(_dotted(name, key), field)
    return found


def _sub_sections(name: str, field: FieldInfo) -> list[Section]:
    classes = config_classes(field.annotation)
    if set(classes) == set(MODEL_CLASSES.values()):
        return _model_sections(name, field.discriminator)
    if typing.get_origin(field.annotation) is list:
        name += "[]"
    return [s for cls in classes for s in _sections(name, cls)]


def _model_sections(name: str, discriminator: str) -> list[Section]:
    """The model table across all models (the name first, then the keys every model has),
    then the sub-sections of any model."""
    keys = dict.fromkeys(k for cls in MODEL_CLASSES.values() for k in cls.model_fields)
    rows = [_model_row(name, key, key == discriminator) for key in keys]
    rows.sort(key=lambda row: (row.key != _dotted(name, discriminator), row.models != "all"))
    used_by = [(model, _used_by(cls)) for model, cls in MODEL_CLASSES.items()]
    found = [Section(name, used_by, rows)]
    for key in keys:
        fields = [c.model_fields[key] for c in MODEL_CLASSES.values() if key in c.model_fields]
        classes = dict.fromkeys(c for f in fields for c in config_classes(f.annotation))
        found += [s for cls in classes for s in _sections(_dotted(name, key), cls)]
    return found


def _model_row(name: str, key: str, is_tag: bool) -> Row:
    having = {m: c.model_fields[key] for m, c in MODEL_CLASSES.items() if key in c.model_fields}
    # The tag's default is each model's own name, but a model section must give it.
    defaults = {m: "required" if is_tag else _default(f) for m, f in having.items()}
    return Row(
        key=_dotted(name, key),
        type=_type(*having.values()),
        default=_by_model(defaults),
        description=_by_model({m: _describe(f) for m, f in having.items()}),
        models="all" if len(having) == len(MODEL_CLASSES) else ", ".join(having),
    )


def _by_model(values: dict[str, str]) -> Variants:
    groups: dict[str, list[str]] = {}
    for model, value in values.items():
        groups.setdefault(value, []).append(model)
    if len(groups) == 1:
        return [("", next(iter(groups)))]
    return [(", ".join(models), value) for value, models in groups.items()]


def _dotted(name: str, key: str) -> str:
    return f"{name}.{key}" if name else key


def _used_by(cls: type[BaseModel]) -> str:
    """The first paragraph of the class docstring, on one line."""
    return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())


def _row(name: str, key: str, field: FieldInfo) -> Row:
    return Row(_dotted(name, key), _type(field), [("", _default(field))], [("", _describe(field))])


def _describe(field: FieldInfo) -> str:
    return " ".join((field.description or "").split())


def _type(*fields: FieldInfo) -> str:
    """A field's type and bounds; for a key several models have, the union of theirs (one
    model's `false` is part of another's `bool`)."""
    names = dict.fromkeys(n for f in fields for n in _type_name(f.annotation).split(" | "))
    if "bool" in names:
        names = {n: None for n in names if n not in ("true", "false")}
    bounds = dict.fromkeys(
        f"{_BOUNDS[type(m)]} {getattr(m, type(m).__name__.lower())}"
        for f in fields
        for m in f.metadata
        if type(m) in _BOUNDS
    )
    name = " | ".join(names)
    return f"{name} ({', '.join(bounds)})" if bounds else name


def _type_name(annotation: Any) -> str:
    """int, float | null, "a" | "b", list[str], [float, float], section (a config class)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(dict.fromkeys(_type_name(a) for a in args))
    if origin is tuple:
        return f"[{', '.join(_type_name(a) for a in args)}]"
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):  # a section at its defaults, naming its model if any
        tag = field.discriminator
        return json.dumps({tag: getattr(value, tag)} if isinstance(tag, str) else {})
    return json.dumps(value)


# ----- rendering ----------------------------------------------------------------------------
def format_text(width: int = 100) -> str:
    """A block per section; a key per entry: `key: type = default  [models]`, then its
    description, indented."""
    out = []
    for section in reference():
        out.append(f"[{section.name or 'top level'}]")
        for who, text in section.used_by:
            out.append(textwrap.fill(_labelled(who, text), width, subsequent_indent="  "))
        out += [line for row in section.rows for line in _text_row(row, width)]
        out.append("")
    return "\n".join(out)


def _text_row(row: Row, width: int) -> list[str]:
    head = f"  {row.key}: {row.type}"
    if len(row.default) == 1:
        head += f" = {row.default[0][1]}"
    lines = [head + (f"  [{row.models}]" if row.models else "")]
    if len(row.default) > 1:
        lines += [f"      = {_labelled(who, value)}" for who, value in row.default]
    wrap = textwrap.TextWrapper(width, initial_indent=" " * 6, subsequent_indent=" " * 8)
    lines += [wrap.fill(_labelled(who, text)) for who, text in row.description]
    return lines


def _labelled(who: str, text: str) -> str:
    return f"{who}: {text}" if who else text


def format_markdown() -> str:
    """A heading per section, who uses it, and a table of its keys."""
    out = []
    for section in reference():
        out += [f"### `{section.name}`" if section.name else "### Top level", ""]
        if len(section.used_by) == 1:
            out.append(_md_text(section.used_by[0][1]))
        else:  # the model section: what each model is
            out += [f"- *{who}*: {_md_text(text)}" for who, text in section.used_by]
        out += ["", *_md_table(section.rows), ""]
    return "\n".join(out)


def _md_table(rows: list[Row]) -> list[str]:
    with_models = any(row.models for row in rows)
    head = ["key", "models", "type", "default", "description"]
    if not with_models:
        head.remove("models")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [_md_code(row.key), _md_code(row.type), _md_variants(row.default, _md_code)]
        cells.append(_md_variants(row.description, _md_text))
        if with_models:
            cells.insert(1, row.models)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md_variants(variants: Variants, render) -> str:
    """Each variant on its own line in the cell, its models in italics."""
    return "<br>".join(
        f"*{who}*: {render(text)}" if who else render(text) for who, text in variants
    )


def _md_code(text: str) -> str:
    return "`" + text.replace("|", "\\|") + "`"


def _md_text(text: str) -> str:
    """Plain text in a table cell: pipes, emphasis stars and tags kept literal."""
    return text.replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")
