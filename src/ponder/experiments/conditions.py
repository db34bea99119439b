"""Decision conditions: a small language parsed with `ast` against a whitelist, never
evaluated as Python.

`RUN.metric OP number` (OP one of < <= > >= == !=; `RUN.exact` etc. read another
final_eval metric, `RUN.stopped` is true when a seed stopped early or diverged), `and`,
`or`, `not`, parentheses, and `any(RUN1, RUN2).metric >= 0.9` / `all(...)`. Evaluating a
condition asks a `read(run, attribute)` function for each value it compares.
"""

from __future__ import annotations

import ast
import dataclasses
import operator
from collections.abc import Callable
from typing import Any

from ponder.errors import UserError

_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_QUANTIFIERS = {"any": any, "all": all}
ReadValue = Callable[[str, str], float | bool]  # (run id, attribute) -> value


@dataclasses.dataclass(frozen=True)
class Condition:
    """A parsed decision condition: its text, its syntax tree and the runs it reads."""

    text: str
    tree: ast.expr
    runs: frozenset[str]

    @classmethod
    def parse(cls, text: str, where: str) -> Condition:
        try:
            tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError:
            raise UserError(f"{where}: condition {text!r} is not a valid expression") from None
        runs = _runs_in_test(tree, f"{where}: condition {text!r}")
        return cls(text=text, tree=tree, runs=frozenset(runs))

    def evaluate(self, read: ReadValue) -> bool:
        return _test(self.tree, read)


def _refuse(node: ast.AST, where: str) -> UserError:
    return UserError(
        f"{where}: {ast.unparse(node)} is not allowed (write RUN.metric OP number, "
        "and/or/not, any(RUN, ...).metric or all(...))"
    )


def _runs_in_test(node: ast.expr, where: str) -> set[str]:
    """Check a node in a true/false position; return the runs it reads."""
    if isinstance(node, ast.BoolOp):
        return set().union(*(_runs_in_test(value, where) for value in node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _runs_in_test(node.operand, where)
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        if any(type(op) not in _COMPARISONS for op in node.ops):
            raise _refuse(node, where)
        if sum(_is_quantified(o) for o in operands) > 1:
            raise UserError(f"{where}: use at most one any()/all() per comparison")
        return set().union(*(_runs_in_operand(o, where) for o in operands))
    if isinstance(node, ast.Attribute) and node.attr == "stopped":
        return _runs_in_subject(node.value, where)
    raise _refuse(node, where)


def _runs_in_operand(node: ast.expr, where: str) -> set[str]:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand  # a negative number
    if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
        return set()
    if isinstance(node, ast.Attribute) and not node.attr.startswith("_"):
        return _runs_in_subject(node.value, where)
    raise _refuse(node, where)


def _runs_in_subject(node: ast.expr, where: str) -> set[str]:
    """RUN or any(RUN, ...) / all(RUN, ...), the part before `.metric`."""
    if isinstance(node, ast.Name):
        return {node.id}
    if _is_quantifier(node):
        return {arg.id for arg in node.args}  # type: ignore[attr-defined]
    raise _refuse(node, where)


def _is_quantifier(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _QUANTIFIERS
        and bool(node.args)
        and not node.keywords
        and all(isinstance(arg, ast.Name) for arg in node.args)
    )


def _is_quantified(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and _is_quantifier(node.value)


def _test(node: ast.expr, read: ReadValue) -> bool:
    if isinstance(node, ast.BoolOp):
        combine = all if isinstance(node.op, ast.And) else any
        return combine(_test(value, read) for value in node.values)
    if isinstance(node, ast.UnaryOp):
        return not _test(node.operand, read)
    if isinstance(node, ast.Compare):
        return _compare(node, read)
    assert isinstance(node, ast.Attribute)  # RUN.stopped, checked when parsed
    return _over_subject(node.value, lambda run: bool(read(run, node.attr)))


def _compare(node: ast.Compare, read: ReadValue) -> bool:
    operands = [node.left, *node.comparators]
    quantified = next((o for o in operands if _is_quantified(o)), None)

    def holds(run: str | None) -> bool:
        values = [_value(o, read, run if o is quantified else None) for o in operands]
        pairs = zip(node.ops, values, values[1:], strict=False)
        return all(_COMPARISONS[type(op)](a, b) for op, a, b in pairs)

    if quantified is None:
        return holds(None)
    return _over_subject(quantified.value, holds)  # type: ignore[attr-defined]


def _over_subject(subject: ast.expr, holds: Callable[[str], bool]) -> bool:
    if isinstance(subject, ast.Name):
        return holds(subject.id)
    combine = _QUANTIFIERS[subject.func.id]  # type: ignore[attr-defined]
    return combine(holds(arg.id) for arg in subject.args)  # type: ignore[attr-defined]


def _value(node: ast.expr, read: ReadValue, run: str | None) -> float | bool:
    if isinstance(node, ast.UnaryOp):
        return -_value(node.operand, read, run)
    if isinstance(node, ast.Constant):
        return node.value
    assert isinstance(node, ast.Attribute)
    return read(run or node.value.id, node.attr)  # type: ignore[attr-defined]
