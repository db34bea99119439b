"""Text and PNG renderings of few-shot tasks."""

from __future__ import annotations

import numpy as np
import pytest

from ponder.errors import UserError
from ponder.tasks.fewshot import FewShotTask, Pair
from ponder.tasks.fewshot_render import format_task, render_task_png
from ponder.tasks.skills import generate_task


def test_format_task_labels_every_pair_and_hides_unknown_answers() -> None:
    task = generate_task("crop", np.random.default_rng(0), num_demos=2, num_tests=2)
    text = format_task(task)
    for label in ("demo 1", "demo 2", "test 1", "test 2"):
        assert f"{label} input\n" in text and f"{label} output\n" in text
    first = task.train[0].input
    assert "\n".join("".join(map(str, row)) for row in first.tolist()) in text
    hidden = FewShotTask("h", task.train, (Pair(task.test[0].input, None),), "crop")
    assert format_task(hidden).endswith("test 1 output\n?\n")


def test_render_task_png_writes_a_png_atomically(tmp_path) -> None:
    task = generate_task("mask", np.random.default_rng(0), num_demos=2)
    plain = render_task_png(task, tmp_path / "plain.png")
    guesses = [np.array([[1, 12], [0, 3]])]  # a wrong guess with a garbage colour
    with_guess = render_task_png(task, tmp_path / "sub" / "guess.png", predictions=guesses)
    for path in (plain, with_guess):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["guess.png", "plain.png"]
    with pytest.raises(UserError, match="2 predictions for 1 test pairs"):
        render_task_png(task, tmp_path / "bad.png", predictions=guesses * 2)
