"""The flow of DESIGN.md, checked on the source: which room may import which.

task -> dataset -> loader -> model -> engine -> evaluation; objectives sit between the tasks
and the engine (each formulation's loss, decoding and judging). Every `import ponder.X` /
`from ponder.X import ...` in a module counts, lazy ones inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ponder"

# (the modules, a room they must never import, why)
RULES = [
    ("train", "ponder.tasks", "the engine knows no task: task facts reach it through objectives"),
    ("train", "ponder.eval", "training evaluates through its objective's judge"),
    ("eval", "ponder.train", "evaluating a run does not need the trainer"),
    ("models", "ponder.tasks", "a model never imports a task"),
    ("models", "ponder.train", "halting rules live beside the models' heads"),
    ("models", "ponder.objectives", "models return outputs; objectives read them"),
    ("models", "ponder.eval", "models know nothing of judging"),
    ("tasks", "ponder.models", "a task never imports a model"),
    ("tasks", "ponder.train", "a task knows no trainer"),
    ("tasks", "ponder.objectives", "tasks state facts; objectives use them"),
    ("objectives", "ponder.train", "an objective is used by the engine, not the reverse"),
    ("config.py", "ponder.train", "configs are read before anything trains"),
    ("data", "ponder.eval", "datasets are built and read before anything is judged"),
    ("data", "ponder.train", "datasets know no trainer"),
    ("data", "ponder.objectives", "datasets know no answer formulation"),
]


def imports_of(path: Path) -> set[str]:
    """Every ponder module `path` imports (absolute names)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("ponder")}


def modules(room: str) -> list[Path]:
    target = SRC / room
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize("room, banned, why", RULES, ids=[f"{r}-{b}" for r, b, _ in RULES])
def test_room_does_not_import(room, banned, why):
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in modules(room)
        for name in sorted(imports_of(path))
        if name == banned or name.startswith(banned + ".")
    ]
    assert not offenders, f"{why}: {offenders}"


def test_the_checker_sees_lazy_imports(tmp_path):
    """The rules could pass vacuously if imports inside functions were missed."""
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from ponder.train.engine import Trainer\n    import ponder.tasks\n"
    )
    assert imports_of(module) >= {"ponder.train.engine", "ponder.tasks"}
