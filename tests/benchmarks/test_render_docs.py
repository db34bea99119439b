"""benchmarks/render_docs.py: the docs' benchmark tables are their results files rendered by
the benchmarks' own format_results, on the repository and on hand-made pages where a figure
was edited by hand."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from ponder.demo import DemoExtrapolate, demo_results, format_results

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
# Scripts that are not benchmarks: shared helpers, the peer's child process, this renderer.
NOT_BENCHMARKS = {"runs.py", "peer_trm_child.py", "render_docs.py"}


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


render_docs = load("render_docs")


def demo_figures() -> dict:
    """A demo's results.json for two runs and the larger mazes, made by hand."""
    run = {"params": 37314, "n": 500, "exact": 0.96, "exact_ci_low": 0.939,
           "exact_ci_high": 0.974, "valid": 1.0, "connected": 0.96, "optimal": 0.96,
           "path_f1": 0.9873, "cell_acc": 0.9979, "halt_steps_mean": 8.0,
           "train_seconds": 268.0, "files": {"samples": "x.png"}}  # fmt: skip
    baseline = {**run, "params": 40353, "exact": 0.0, "exact_ci_low": 0.0, "exact_ci_high": 0.008}
    larger = DemoExtrapolate(run="hrm", out="data/d31", size=31, min_path=110, count=50,
                             segments=64)  # fmt: skip
    curve = {"n": 50, "exact_by_segments": {1: 0.0, 8: 0.02, 64: 0.4}}
    return demo_results({"hrm": run, "transformer": baseline}, larger, curve)


def docs_tree(tmp_path: Path, page: str) -> Path:
    """A repository with docs/results/demo.json and README.md holding `page`."""
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "demo.json").write_text(json.dumps(demo_figures()))
    (tmp_path / "README.md").write_text(page)
    return tmp_path


BLOCK = "<!-- results:demo:start -->\n<!-- results:demo:end -->\n"


def test_the_repository_docs_are_their_results_rendered():
    """Every block in README.md and docs/**/*.md equals its rendering, and every
    docs/results/*.json renders."""
    problems = render_docs.check(ROOT)
    assert not problems, (
        "docs' results blocks are out of date (run `.venv/bin/python benchmarks/render_docs.py`):\n"
        + "\n".join(problems)
    )


def test_a_hand_edited_figure_is_caught(tmp_path):
    root = docs_tree(tmp_path, f"# Demo\n\nThe demo's figures:\n\n{BLOCK}\nAfter.\n")
    assert render_docs.check(root) != []  # the empty block is stale
    assert render_docs.rewrite(root) == [root / "README.md"]
    text = (root / "README.md").read_text()
    assert format_results(demo_figures()) in text and text.endswith("\nAfter.\n")
    assert "| 31x31 mazes (n 50, paths >= 110), exact at 1 / 8 / 64 segments |" in text
    assert render_docs.check(root) == [] and render_docs.rewrite(root) == []
    (root / "README.md").write_text(text.replace("96.00%", "97.00%"))
    problems = render_docs.check(root)
    assert len(problems) == 1 and "README.md:5: results:demo is stale" in problems[0], problems
    assert render_docs.main(["--check", "--root", str(root)]) == 1


def test_blocks_in_docs_pages_are_rendered_and_fenced_markers_are_text(tmp_path):
    root = docs_tree(tmp_path, "# Top\n")
    page = root / "docs" / "tracks" / "maze.md"
    page.parent.mkdir()
    page.write_text(f"# Maze\n\n```markdown\n{BLOCK}```\n\n{BLOCK}")
    render_docs.rewrite(root)
    text = page.read_text()
    assert text.startswith(f"# Maze\n\n```markdown\n{BLOCK}```\n")  # the fenced one untouched
    assert text.count("| exact | 96.00% | 0.00% |") == 1


@pytest.mark.parametrize(
    "page, words",
    [
        (BLOCK.replace("demo:start", "nothing:start").replace("demo:end", "nothing:end"),
         "docs/results/nothing.json does not exist"),
        ("<!-- results:demo:start -->\n", "results:demo has no end marker"),
        ("<!-- results:demo:end -->\n", "results:demo:end without its start marker"),
        (BLOCK.replace("<!-- results:demo:end -->\n", "") + BLOCK, "starts inside results:demo"),
    ],
)  # fmt: skip
def test_a_block_that_cannot_be_rendered_is_named_and_nothing_is_written(tmp_path, page, words):
    root = docs_tree(tmp_path, page)
    problems = render_docs.check(root)
    assert len(problems) == 1 and words in problems[0], problems
    assert render_docs.main(["--root", str(root)]) == 2
    assert (root / "README.md").read_text() == page


def test_a_results_file_that_does_not_render_is_named(tmp_path):
    root = docs_tree(tmp_path, "# Top\n")
    results = root / "docs" / "results"
    (results / "broken.json").write_text('{"benchmark": "demo", "models": {"a": {}}}')
    (results / "nameless.json").write_text("[1, 2]")
    (results / "stranger.json").write_text('{"benchmark": "../../etc/x"}')
    problems = "\n".join(render_docs.check(root))
    assert "broken.json: demo cannot render it" in problems
    assert 'nameless.json: a results file is a JSON object with a "benchmark" key' in problems
    assert "must name a script in benchmarks/" in problems


def test_publish_copies_a_results_file_that_renders(tmp_path, capsys):
    root = docs_tree(tmp_path, BLOCK)
    (root / "docs" / "results" / "demo.json").unlink()
    run = tmp_path / "runs" / "demo" / "results.json"
    run.parent.mkdir(parents=True)
    run.write_text(json.dumps(demo_figures()))
    assert render_docs.main(["--root", str(root), "--publish", "demo", str(run)]) == 0
    assert json.loads((root / "docs" / "results" / "demo.json").read_text()) == demo_figures()
    assert format_results(demo_figures()) in (root / "README.md").read_text()
    for argv, words in [
        (["--publish", "Demo!", str(run)], "a results name is lower-case"),
        (["--publish", "demo", str(tmp_path / "none.json")], "not a readable JSON file"),
        (["--publish", "demo", str(run), "--benchmark", "skills"], "written by demo, not skills"),
    ]:
        assert render_docs.main(["--root", str(root), *argv]) == 2
        assert words in capsys.readouterr().err


def test_publish_stamps_an_unnamed_file_with_its_benchmark(tmp_path, capsys):
    root = docs_tree(tmp_path, "# Top\n")
    old = tmp_path / "old.json"
    old.write_text(json.dumps({k: v for k, v in demo_figures().items() if k != "benchmark"}))
    assert render_docs.main(["--root", str(root), "--publish", "old", str(old)]) == 2
    assert "name its script with --benchmark" in capsys.readouterr().err
    argv = ["--root", str(root), "--publish", "old", str(old), "--benchmark", "demo"]
    assert render_docs.main(argv) == 0
    assert json.loads((root / "docs" / "results" / "old.json").read_text()) == demo_figures()


def benchmark_scripts() -> list[Path]:
    return [p for p in sorted(BENCHMARKS.glob("*.py")) if p.name not in NOT_BENCHMARKS]


@pytest.mark.parametrize("script", benchmark_scripts(), ids=lambda p: p.stem)
def test_every_benchmark_renders_its_table_from_its_results(script):
    """Each script names itself in the results it writes and has the format_results that
    renders them, so its table can be published into the docs."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "format_results" in functions, f"{script.name} has no format_results(results)"
    named = [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Dict) and any(
            isinstance(k, ast.Constant) and k.value == "benchmark" for k in n.keys)
    ]  # fmt: skip
    values = [n.values[[getattr(k, "value", None) for k in n.keys].index("benchmark")]
              for n in named]  # fmt: skip
    assert {getattr(v, "value", None) for v in values} == {script.stem}, (
        f'{script.name} must write "benchmark": "{script.stem}" into its results'
    )


def test_benchmark_tables_render_from_hand_made_results():
    maze_models = render_docs.renderer("maze_models")
    runs = [{"model": "hrm", "params": 37314, "steps": 10, "train_seconds": 5.0, "n": 100,
             "exact": e} for e in (0.9, 0.8)]  # fmt: skip
    assert "| hrm | 37,314 | 10 | 5 | 90.0 / 80.0 | 85.0 (7.1) |" in maze_models({"runs": runs})
    skills = render_docs.renderer("skills")
    row = {"model": "champion", "seed": 0, "params": 343809, "train_seconds": 941.0,
           "seen_pass1": 0.15, "seen_pass2": 0.15, "unseen_pass1": 0.0, "unseen_pass2": 0.0,
           "val_loss": 0.672, "collapse_spread": None, "collapse_cosine": None,
           "prefix_norm": None, "seen_n": 200, "unseen_n": 200}  # fmt: skip
    assert "| champion | 0 | 343,809 | 941 | 15.0 | 15.0 | 0.0 | 0.0 | 0.672 |" in skills(
        {"rows": [row]}
    )
    puzzle_emb = render_docs.renderer("puzzle_emb")
    figures = {"rows": 1000, "dim": 8, "batch": 4, "sparse_signsgd_ms": 2.4,
               "sparse_signsgd_state_mb": 0.0, "sparse_adamw_ms": 19.9,
               "sparse_adamw_state_mb": 2048.0, "dense_adamw_ms": 11716.0,
               "dense_adamw_state_mb": 3072.0}  # fmt: skip
    table = puzzle_emb(figures)
    assert "| 2.4 | none |" in table and "| 11,716.0 | 3.0 GiB |" in table
