"""`ponder demo` end to end on a tiny demo file: the comparison, then the same TRM solving
larger mazes than it was trained on (the `extrapolate:` section)."""

from __future__ import annotations

import json

import pytest
from support import run, write

from ponder.demo import format_results


@pytest.mark.parametrize(
    "section, words",
    [
        ("{run: nobody, out: data/d11, size: 11, count: 2, segments: 2}", "not one of the runs"),
        ("{run: trm, out: data/d11, size: 11, count: 0, segments: 2}", "extrapolate.count"),
    ],
)
def test_a_bad_extrapolate_section_is_refused_before_anything_is_built(
    tmp_path, capsys, section, words
):
    (tmp_path / "configs").mkdir()
    write(tmp_path / "configs" / "tiny.yaml", "model: {name: trm}\n")
    demo = write(tmp_path / "configs" / "demo.yaml", (
        "dataset: {task: maze, out: data/d7, size: 7, min_path: 4, train: 16, test: 4, seed: 0}\n"
        f"runs: {{trm: configs/tiny.yaml}}\nout: runs/demo\nextrapolate: {section}\n"
    ))  # fmt: skip
    code, _, err = run(["demo", "--config", demo], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and words in err, err
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()


def test_demo_solves_larger_mazes_with_the_same_model(tmp_path, capsys):
    (tmp_path / "configs").mkdir()
    write(tmp_path / "configs" / "tiny.yaml", (
        "device: cpu\nprecision: fp32\n"
        "model: {name: trm, hidden_size: 16, num_heads: 2, ffn_multiple_of: 16, n: 1, T: 1, "
        "mixer: conv, pos_encoding: none, q_pool: mean}\n"
        "train: {steps: 2, global_batch_size: 4, N_sup: 2, halting: none, log_every: 1, "
        "checkpoint_every: 0, eval_examples: 4}\neval: {batch_size: 4, samples_png: 2}\n"
    ))  # fmt: skip
    demo = write(tmp_path / "configs" / "demo.yaml", (
        "dataset: {task: maze, out: data/d7, size: 7, min_path: 4, train: 8, test: 4, seed: 0}\n"
        "runs: {trm: configs/tiny.yaml}\nout: runs/demo\n"
        "extrapolate: {run: trm, out: data/d11, size: 11, min_path: 8, count: 3, segments: 4, draw: 2}\n"
    ))  # fmt: skip
    code, out, err = run(["demo", "--config", demo], capsys)
    assert code == 0, err
    assert "11x11 exact by segments: 1: " in out and "4: " in out
    assert (tmp_path / "runs" / "demo" / "solved_larger.png").is_file()
    # comparison.md is the table rendered from the figures written beside it
    results = json.loads((tmp_path / "runs" / "demo" / "results.json").read_text())
    assert list(results["models"]) == ["trm"] and results["larger"]["n"] == 3
    assert list(results["larger"]["exact_by_segments"]) == ["1", "2", "4"]
    table = (tmp_path / "runs" / "demo" / "comparison.md").read_text()
    assert table == format_results(results) + "\n" and "| 11x11 mazes (n 3" in table
    # the figures depend on the machine (auto precision, bf16 kernels): both are recorded
    assert results["models"]["trm"]["precision"] == "fp32" and "| precision | fp32 |" in table
    assert results["machine"]["cpu"] and f"{results['machine']['threads']} threads" in table
