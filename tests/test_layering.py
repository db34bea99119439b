"""The shape of the package, checked on the source: the layering of its rooms, no import
circle, no private name imported across modules, and the finer rules of DESIGN.md's flow.

A room is a top-level module or package of ponder (`tasks`, `config`, `limits`, ...). Each
room imports only rooms in lower layers. Every import counts: lazy ones inside functions and
those under `if TYPE_CHECKING:` (a type-only circle is still a circle a reader must untangle).
Importing `ponder.a.b` also imports the package `ponder.a` (its `__init__` runs), so that
edge counts too, except from inside the package itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ponder"

# Bottom to top. A room may import only rooms of strictly lower layers.
LAYERS: list[tuple[str, ...]] = [
    ("__init__", "errors"),  # the ground: errors every room raises
    ("fileio", "limits", "bench", "config_migration"),  # small shared helpers and bounds
    ("tasks",),  # generators, oracles, verifiers, renderers
    ("models",),  # the models and their config sections
    ("data",),  # datasets on disk, loaders (they know a model's DataSpec)
    ("eval",),  # judging: rollouts to a depth, decoding, verifying, voting, reports
    ("objectives",),  # answer formulations: loss, decoding and judging per formulation
    ("config",),  # the run config, composing every room's section below it
    ("runs",),  # a run's dataset and objective assembled from its config
    ("train",),  # the engine, checkpoints, launch
    ("trained",),  # a trained run reloaded; `ponder eval` and `ponder solve`
    ("official",),  # official checkpoints in and out: writes the trainer's checkpoint
    ("experiments", "parity", "config_reference"),
    ("demo",),
    ("cli",),
    ("__main__",),
]

# Finer rules inside the layering: (the room, a room it must never import, why).
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
    ("config", "ponder.train", "configs are read before anything trains"),
    ("data", "ponder.eval", "datasets are built and read before anything is judged"),
    ("data", "ponder.train", "datasets know no trainer"),
    ("data", "ponder.objectives", "datasets know no answer formulation"),
]


def module_paths(src: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at `src`."""
    found = {}
    for path in sorted(src.rglob("*.py")):
        parts = [src.name, *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a `from ... import` reads from (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_names(path: Path, module: str, root: str) -> list[tuple[str, str | None]]:
    """(module read from, name imported or None) for every import of the package `root` in
    the file; `import a.b` gives ("a.b", None)."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            found += [(source, alias.name) for alias in node.names]
    return [(m, n) for m, n in found if m == root or m.startswith(root + ".")]


def _owner(name: str, modules: dict[str, Path]) -> str:
    """The module `name` lives in: itself, or the nearest enclosing module."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, package __init__s on the way included."""
    modules = module_paths(src)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for source, name in imported_names(path, module, src.name):
            full = f"{source}.{name}" if name else source
            target = full if full in modules else _owner(source, modules)
            targets.add(target)
            parts = target.split(".")
            for depth in range(2, len(parts)):  # the packages `target` sits in
                package = ".".join(parts[:depth])
                inside = module == package or module.startswith(package + ".")
                if package in modules and not inside:
                    targets.add(package)
        targets.discard(module)
        graph[module] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(graph: dict[str, set[str]], layers: list[tuple[str, ...]]) -> list[str]:
    """Every import of a room in the same or a higher layer, and every room in no layer."""
    layer_of = {room: i for i, rooms in enumerate(layers) for room in rooms}
    problems = sorted(
        {f"room '{room_of(m)}' is in no layer" for m in graph if room_of(m) not in layer_of}
    )
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            here, there = room_of(module), room_of(target)
            if here == there or here not in layer_of or there not in layer_of:
                continue
            if layer_of[there] >= layer_of[here]:
                problems.append(
                    f"{module} imports {target} (layer {layer_of[there]} >= {layer_of[here]})"
                )
    return problems


def private_imports(src: Path) -> list[str]:
    """`from a import _name` and `a._name` (a bound to a module) across modules."""
    modules = module_paths(src)
    problems = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound = set()  # local names bound to one of the package's modules
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                bound |= {a.asname for a in node.names if a.asname and a.name in modules}
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(node, module, path.name == "__init__.py")
                if source != src.name and not source.startswith(src.name + "."):
                    continue
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules:
                        bound.add(alias.asname or alias.name)
                    elif _is_private(alias.name) and source != module:
                        problems.append(f"{module} imports {alias.name} from {source}")
        for node in ast.walk(tree):
            is_read = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            if is_read and node.value.id in bound and _is_private(node.attr):
                problems.append(f"{module} reads {node.value.id}.{node.attr}")
    return sorted(problems)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# The package itself.


def test_no_import_circle():
    found = cycles(import_graph(SRC))
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_rooms_import_only_lower_layers():
    problems = upward_imports(import_graph(SRC), LAYERS)
    assert not problems, "imports against the layering:\n" + "\n".join(problems)


def test_no_private_name_imported_across_modules():
    problems = private_imports(SRC)
    assert not problems, "private names used across modules:\n" + "\n".join(problems)


def test_no_source_file_over_500_lines():
    long = {
        str(path.relative_to(SRC)): n
        for path in SRC.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long, f"files over 500 lines (split them along their seams): {long}"


def _room_modules(room: str) -> list[Path]:
    target = SRC / room
    return sorted(target.rglob("*.py")) if target.is_dir() else [SRC / f"{room}.py"]


@pytest.mark.parametrize("room, banned, why", RULES, ids=[f"{r}-{b}" for r, b, _ in RULES])
def test_room_does_not_import(room, banned, why):
    modules = module_paths(SRC)
    offenders = [
        f"{path.relative_to(SRC)} imports {source}"
        for path in _room_modules(room)
        for source, _ in imported_names(path, "", "ponder")
        if source == banned or source.startswith(banned + ".")
    ]
    assert modules, "no modules found"
    assert not offenders, f"{why}: {offenders}"


# The checks themselves, on a hand-made package: they must see what they claim to.


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_checker_finds_a_circle_through_lazy_and_type_only_imports(tmp_path):
    src = _package(
        tmp_path,
        {
            "a.py": "def f():\n    from pkg.b import g\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n",
            "c.py": "import pkg.a\n",
        },
    )
    assert cycles(import_graph(src)) == [["pkg.a", "pkg.b"]]


def test_the_checker_counts_a_package_init_as_imported(tmp_path):
    src = _package(
        tmp_path,
        {
            "low/__init__.py": "from pkg.high import x\n",
            "low/m.py": "",
            "high.py": "from pkg.low.m import y\n",
        },
    )
    assert cycles(import_graph(src)) == [["pkg.high", "pkg.low"]]


def test_the_checker_finds_upward_imports_and_unplaced_rooms(tmp_path):
    src = _package(tmp_path, {"low.py": "from pkg.high import x\n", "high.py": "", "odd.py": ""})
    problems = upward_imports(import_graph(src), [("__init__",), ("low",), ("high",)])
    assert "room 'odd' is in no layer" in problems
    assert any(p.startswith("pkg.low imports pkg.high") for p in problems)


def test_the_checker_finds_private_names(tmp_path):
    src = _package(
        tmp_path,
        {
            "a.py": "_x = 1\ndef _f(): pass\n",
            "b.py": "from pkg.a import _x\nfrom pkg import a\nprint(a._f)\n",
            "c.py": "from .a import _f\n",
        },
    )
    assert private_imports(src) == [
        "pkg.b imports _x from pkg.a",
        "pkg.b reads a._f",
        "pkg.c imports _f from pkg.a",
    ]
