"""End to end: a checkpoint the official TRM (and HRM) code trained and evaluated on a CPU
(tools/official_e2e.py; tests/fixtures/official_e2e, its manifest names the commits),
imported by `ponder import` and judged by `ponder eval`, gives the official exact
accuracy: the same exact test mazes, judged at the same depth.

The official eval runs each batch until every row halts, and in eval mode a row halts only
at halt_max_steps; `ponder eval --segments halt_max_steps` judges there too. The official
metric asks for the label in every cell, ponder's verifier for any shortest route: the
fixture's mazes have one shortest route each, so the two rules judge alike (checked below).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from ponder.cli import main

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "tests" / "fixtures" / "official_e2e"
MANIFEST = json.loads((E2E / "manifest.json").read_text())
RUNS = MANIFEST["runs"]  # model ("trm", "hrm") -> its config, dataset, files, figures


def _tool():
    """tools/official_e2e.py as a module (it imports its neighbours official_*_fixtures)."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        return importlib.import_module("official_e2e")
    finally:
        sys.path.remove(str(ROOT / "tools"))


def _official(model: str) -> dict:
    return RUNS[model]["official_eval"]


def _official_depth(model: str) -> int:
    """halt_max_steps of the checkpoint's all_config.yaml: where the official eval judges."""
    weights = E2E / RUNS[model]["checkpoint"]["weights"]
    raw = yaml.safe_load((weights.parent / "all_config.yaml").read_text())
    return int(raw["arch"]["halt_max_steps"])


def _ponder(args: list) -> tuple[int, str, str]:
    """`ponder ARGS` in-process: (exit code, stdout, stderr); pytest's capsys is not at
    hand in a module-scoped fixture."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module", params=sorted(RUNS))
def judged(request, tmp_path_factory) -> tuple[str, dict, dict]:
    """(model, ponder eval's report, its trace) for an imported official checkpoint, judged
    at the official depth."""
    model, folder = request.param, tmp_path_factory.mktemp("e2e")
    weights, data = E2E / RUNS[model]["checkpoint"]["weights"], E2E / RUNS[model]["dataset"]["path"]
    args = ["import", model, weights, "--data", data, "--task", "maze", "--out", folder / "run"]
    code, _, err = _ponder(args)
    assert code == 0, err
    trace, depth = folder / "trace.json", _official_depth(model)
    args = ["eval", folder / "run", "--device", "cpu", "--json", "--segments", depth]
    code, out, err = _ponder([*args, "--trace", trace])
    assert code == 0, err
    return model, json.loads(out), json.loads(trace.read_text())


def test_the_fixtures_are_the_files_the_manifest_names():
    for name, entry in MANIFEST["files"].items():
        data = (E2E / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (entry["bytes"], entry["sha256"])


def test_the_trm_run_is_there():
    """The end-to-end target is TRM; HRM is there when the fixtures were made with --hrm."""
    assert "trm" in RUNS


@pytest.mark.parametrize("model", sorted(RUNS))
def test_the_official_figure_is_neither_none_nor_all(model):
    """A model that solved nothing or everything would agree with any judge."""
    official = _official(model)
    assert 0 < official["exact_count"] < official["count"]
    assert official["exact_count"] == len(official["exact_examples"])


@pytest.mark.parametrize("model", sorted(RUNS))
def test_the_official_eval_judged_at_halt_max_steps(model):
    """Its `steps` metric: the mean steps of the counted rows when they halted."""
    assert _official(model)["other_metrics"]["steps"] == _official_depth(model)


def test_ponder_gives_the_official_exact_accuracy(judged):
    model, report, _ = judged
    official = _official(model)
    assert report["n"] == official["count"]  # the same test set, its padding rows not counted
    assert round(report["exact"] * report["n"]) == official["exact_count"]
    assert np.float32(report["exact"]) == np.float32(official["exact_accuracy"])
    # ponder's label_exact is the official rule itself (every cell equal to the label).
    assert round(report["label_exact"] * report["n"]) == official["exact_count"]


def test_ponder_finds_the_same_exact_mazes(judged):
    model, _, trace = judged
    ours = sorted(p["index"] for p in trace["puzzles"] if p["exact"][-1])
    assert ours == _official(model)["exact_examples"]


def test_ponder_gives_the_official_cell_accuracy(judged):
    """The official `accuracy`: the mean over counted rows of their cells equal to the label
    (float32 sums on its side, hence the tolerance; exactness is judged above)."""
    model, report, _ = judged
    assert abs(report["cell_acc"] - _official(model)["other_metrics"]["accuracy"]) < 1e-6


@pytest.mark.parametrize("model", sorted(RUNS))
def test_every_test_maze_has_one_shortest_route(model):
    """What makes the official rule (the label's route) and ponder's (any shortest route)
    one rule on this test set."""
    tool, side = _tool(), MANIFEST["mazes"]["side"]
    inputs = np.load(E2E / RUNS[model]["dataset"]["path"] / "test" / "all__inputs.npy")
    counts = {tool.shortest_routes(grid.reshape(side, side))[1] for grid in inputs}
    assert counts == {1}


def _checkout(folder: Path, pretrain: str | None = None) -> Path:
    """The files the tool looks for; pretrain.py holds the CUDA placements as often as the
    official one does, or `pretrain`."""
    official = _tool().OFFICIAL["trm"]
    for name in official.needed:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("")
    places = "\n".join(old * count for old, (_, count) in official.cpu_rewrites.items())
    (folder / "pretrain.py").write_text(places if pretrain is None else pretrain)
    return folder


def _refusal(argv: list, capsys) -> str:
    """The tool's stderr for `argv`, which it must refuse with exit 2 and one line."""
    code = _tool().main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1, err
    return err


def test_the_tool_refuses_a_missing_checkout(tmp_path, capsys):
    assert "no such folder" in _refusal(["--trm", tmp_path / "missing"], capsys)


def test_the_tool_refuses_a_folder_that_is_no_trm_checkout(tmp_path, capsys):
    err = _refusal(["--trm", tmp_path], capsys)
    assert "not a SamsungSAILMontreal/TinyRecursiveModels checkout" in err


def test_the_tool_refuses_a_pretrain_py_it_does_not_know(tmp_path, capsys):
    checkout = _checkout(tmp_path / "trm", pretrain='torch.device("cuda")')
    assert "another version" in _refusal(["--trm", checkout], capsys)


def test_the_tool_refuses_an_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    err = _refusal(["--trm", _checkout(tmp_path / "trm"), "--out", tmp_path / "file"], capsys)
    assert "is a file" in err
