"""Decision conditions: a small language checked against a whitelist, never Python."""

from __future__ import annotations

import pytest

from ponder.errors import UserError
from ponder.experiments.conditions import Condition


def test_conditions_are_a_small_safe_language():
    values = {"a": {"metric": 0.5, "stopped": False}, "b": {"metric": 0.95, "stopped": True}}

    def holds(text: str) -> bool:
        return Condition.parse(text, "test").evaluate(lambda run, attr: values[run][attr])

    assert holds("a.metric < 0.9 and b.metric >= 0.9")
    assert holds("not (a.metric > 0.9 or a.stopped)") and holds("b.stopped")
    assert holds("any(a, b).metric >= 0.9") and not holds("all(a, b).metric >= 0.9")
    assert holds("0.2 < a.metric <= 0.5") and holds("b.metric > a.metric")
    assert holds("any(a, b).stopped") and not holds("all(a, b).stopped")
    assert Condition.parse("any(a, b).metric > c.metric", "t").runs == {"a", "b", "c"}
    for unsafe in ["a.metric", "a.__class__ < 1", "open('x')", "a.metric < b", "[1] == [1]"]:
        with pytest.raises(UserError, match="not allowed"):
            Condition.parse(unsafe, "test")


def test_a_condition_that_does_not_parse_or_mixes_quantifiers_is_refused():
    assert Condition.parse("a.metric > -0.5", "t").evaluate(lambda run, attr: 0.0)
    with pytest.raises(UserError, match="where: condition 'a.metric <' is not a valid"):
        Condition.parse("a.metric <", "where")
    with pytest.raises(UserError, match=r"at most one any\(\)/all\(\)"):
        Condition.parse("any(a, b).metric > all(c, d).metric", "where")
