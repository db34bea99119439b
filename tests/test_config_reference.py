"""The config reference (ponder.config_reference): docs/config.md's copy is current, it lists
every key a config accepts, and every key and section says what it is for."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import run

from ponder.config import MODEL_CLASSES, RunConfig, valid_keys
from ponder.config_reference import config_classes, format_markdown, reference

CONFIG_DOC = Path(__file__).resolve().parents[1] / "docs" / "config.md"
START, END = "<!-- config-keys:start -->", "<!-- config-keys:end -->"


def all_config_classes() -> list[type]:
    """RunConfig and every config class reachable through its fields and the models'."""
    found, todo = [], [RunConfig, *MODEL_CLASSES.values()]
    while todo:
        cls = todo.pop(0)
        if cls not in found:
            found.append(cls)
            todo += [c for f in cls.model_fields.values() for c in config_classes(f.annotation)]
    return found


def test_docs_config_block_is_the_generated_markdown():
    text = CONFIG_DOC.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, (
        f"docs/config.md needs {START} ... {END}"
    )
    block = text.split(START)[1].split(END)[0]
    assert block.strip() == format_markdown().strip(), (
        "docs/config.md's config keys are out of date: replace the lines between "
        f"{START} and {END} with the output of `.venv/bin/python -m ponder config keys "
        "--markdown`"
    )


@pytest.mark.parametrize("model", list(MODEL_CLASSES))
def test_every_valid_key_is_in_the_reference(model):
    listed = {row.key for section in reference() for row in section.rows}
    missing = sorted(set(valid_keys(model)) - listed)
    assert not missing, f"keys of model {model} missing from the reference: {missing}"


@pytest.mark.parametrize("cls", all_config_classes(), ids=lambda cls: cls.__name__)
def test_every_field_has_a_description(cls):
    bare = [key for key, field in cls.model_fields.items() if not (field.description or "").strip()]
    assert not bare, (
        f"{cls.__name__}: give {bare} a docstring (a string literal on the line under the "
        "field): it is the key's description in `ponder config keys`"
    )


@pytest.mark.parametrize("cls", all_config_classes(), ids=lambda cls: cls.__name__)
def test_every_section_says_who_uses_it(cls):
    assert (cls.__doc__ or "").startswith("Used by "), (
        f"{cls.__name__}'s docstring must start with 'Used by ...' (the part of ponder that "
        "reads the section)"
    )


def test_model_keys_name_their_models():
    model = next(section for section in reference() if section.name == "model")
    rows = {row.key: row for row in model.rows}
    assert rows["model.name"].models == "all"
    assert rows["model.n"].models == "trm"
    assert rows["model.H_cycles"].models == "hrm"
    assert len(rows["model.hidden_size"].default) == 2  # 512 (attention trunk) and 64


@pytest.mark.parametrize("args", [[], ["--markdown"]])
def test_config_keys_command(args, capsys):
    code, out, err = run(["config", "keys", *args], capsys)
    assert code == 0, err
    assert "train.early_stop.patience" in out and "model.demo_encoder.kind" in out
