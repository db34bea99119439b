"""The docs' benchmark tables, rendered from committed results files, so that a figure on a
page is the figure a run produced.

Every benchmark writes its results as JSON beside the table it renders, with one function,
`format_results(results) -> str`, in the benchmark's script (`ponder.demo.format_results` for
`ponder demo`'s runs/demo/results.json). A results file published as docs/results/NAME.json
fills, in README.md and every docs/**/*.md, each block

    <!-- results:NAME:start -->
    <!-- results:NAME:end -->

with the table that the same function renders from it (the file's "benchmark" key names the
script that wrote it). Markers stand alone on their lines; those in fenced code are text.

    .venv/bin/python benchmarks/render_docs.py             # rewrite every block from its file
    .venv/bin/python benchmarks/render_docs.py --check     # exit 1 listing stale blocks
    .venv/bin/python benchmarks/render_docs.py --publish demo runs/demo/results.json
        # copy a run's results file to docs/results/demo.json (checked first), then rewrite

`--benchmark SCRIPT` with --publish names the script of a results file written before the
files carried their "benchmark" key; the copy then gets the key.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ponder.fileio import atomic_write_text

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
RESULTS = Path("docs/results")  # relative to the repository root
NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
MARKER = re.compile(r"<!-- results:([^:\s]+):(start|end) -->")
FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
# Benchmark scripts' own imports (`from runs import ...`) find their neighbours.
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))


class DocsError(Exception):
    """A block or a results file that cannot be rendered; the message names it."""


@dataclass(frozen=True)
class Block:
    name: str
    start: int  # index of the start marker's line
    end: int  # index of the end marker's line


def pages(root: Path) -> list[Path]:
    """README.md and every markdown page under docs/."""
    readme = [root / "README.md"] if (root / "README.md").is_file() else []
    return readme + sorted((root / "docs").rglob("*.md"))


def find_blocks(lines: list[str]) -> list[Block]:
    """The results blocks of a page's lines, outside fenced code; a marker without its pair,
    or one block inside another, is an error naming its line."""
    blocks, open_block, fence = [], None, ""
    for i, line in enumerate(lines):
        opened = FENCE.match(line)
        if fence:  # closed by a line of the same fence character, at least as long
            bare = line.strip()
            if set(bare) == {fence[0]} and len(bare) >= len(fence) and opened:
                fence = ""
            continue
        if opened:
            fence = opened.group(1)
            continue
        marker = MARKER.fullmatch(line.strip())
        if marker is None:
            continue
        name, side = marker.groups()
        if side == "start":
            if open_block is not None:
                inside = open_block[0]
                raise DocsError(f"line {i + 1}: results:{name} starts inside results:{inside}")
            open_block = (name, i)
        elif open_block is None or open_block[0] != name:
            raise DocsError(f"line {i + 1}: results:{name}:end without its start marker")
        else:
            blocks.append(Block(name, open_block[1], i))
            open_block = None
    if open_block is not None:
        raise DocsError(f"line {open_block[1] + 1}: results:{open_block[0]} has no end marker")
    return blocks


def renderer(benchmark: object) -> Callable[[dict], str]:
    """The format_results of the script a results file names."""
    if benchmark == "demo":
        from ponder.demo import format_results

        return format_results
    if not isinstance(benchmark, str) or not NAME.fullmatch(benchmark):
        raise DocsError(f'"benchmark" must name a script in benchmarks/, not {benchmark!r}')
    if not (BENCHMARKS / f"{benchmark}.py").is_file():
        raise DocsError(f'"benchmark": no benchmarks/{benchmark}.py')
    module = importlib.import_module(benchmark)
    if not callable(getattr(module, "format_results", None)):
        raise DocsError(f"benchmarks/{benchmark}.py has no format_results(results)")
    return module.format_results


def load_results(path: Path) -> dict:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocsError(f"{path} does not exist (publish it with --publish)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DocsError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(results, dict) or "benchmark" not in results:
        raise DocsError(f'{path}: a results file is a JSON object with a "benchmark" key')
    return results


def render(results: dict, where: object) -> str:
    """The table of a results file, by its benchmark's own format_results."""
    format_results = renderer(results["benchmark"])
    try:
        text = format_results(results)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise DocsError(f"{where}: {results['benchmark']} cannot render it ({err!r})") from None
    return text.strip("\n")


def rendered_blocks(root: Path) -> tuple[dict[Path, str], list[str]]:
    """Every page's text with its blocks rendered afresh, and the problems found on the way
    (a block or a results file that cannot be rendered)."""
    problems, tables, out = [], {}, {}
    for path in sorted((root / RESULTS).glob("*.json")):
        try:
            tables[path.stem] = render(load_results(path), path.relative_to(root))
        except DocsError as err:
            problems.append(str(err))
    for page in pages(root):
        where = page.relative_to(root)
        lines = page.read_text(encoding="utf-8").split("\n")
        try:
            blocks = find_blocks(lines)
        except DocsError as err:
            problems.append(f"{where}: {err}")
            continue
        for block in reversed(blocks):
            if block.name not in tables:
                missing = (root / RESULTS / f"{block.name}.json").is_file()
                why = "cannot be rendered (above)" if missing else "does not exist"
                problems.append(
                    f"{where}:{block.start + 1}: results:{block.name}: "
                    f"{RESULTS / (block.name + '.json')} {why}"
                )
                continue
            body = ["", *tables[block.name].split("\n"), ""]
            lines[block.start + 1 : block.end] = body
        out[page] = "\n".join(lines)
    return out, problems


def check(root: Path = ROOT) -> list[str]:
    """Every block that differs from its rendering, and every problem; [] when current."""
    rendered, problems = rendered_blocks(root)
    for page, text in rendered.items():
        old = page.read_text(encoding="utf-8").split("\n")
        new = text.split("\n")
        for block_old, block_new in zip(find_blocks(old), find_blocks(new), strict=True):
            if old[block_old.start : block_old.end] != new[block_new.start : block_new.end]:
                problems.append(
                    f"{page.relative_to(root)}:{block_old.start + 1}: results:{block_old.name} "
                    f"is stale: it differs from {RESULTS / (block_old.name + '.json')}"
                )
    return problems


def rewrite(root: Path = ROOT) -> list[Path]:
    """Render every block in place; the pages changed. Writes nothing if any block or
    results file cannot be rendered."""
    rendered, problems = rendered_blocks(root)
    if problems:
        raise DocsError("; ".join(problems))
    changed = [page for page, text in rendered.items() if page.read_text(encoding="utf-8") != text]
    for page in changed:
        atomic_write_text(page, rendered[page])
    return changed


def publish(name: str, source: Path, root: Path = ROOT, benchmark: str | None = None) -> Path:
    """Copy a run's results file to docs/results/NAME.json, once it renders."""
    if not NAME.fullmatch(name):
        raise DocsError(f"a results name is lower-case letters, digits, - and _, not {name!r}")
    try:
        results = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DocsError(f"{source}: not a readable JSON file ({err})") from None
    if not isinstance(results, dict):
        raise DocsError(f"{source}: a results file is a JSON object")
    if benchmark is not None and results.get("benchmark", benchmark) != benchmark:
        raise DocsError(f"{source} was written by {results['benchmark']}, not {benchmark}")
    if "benchmark" not in results:
        if benchmark is None:
            raise DocsError(f'{source} has no "benchmark" key: name its script with --benchmark')
        results = {"benchmark": benchmark, **results}
    render(results, source)
    target = root / RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, json.dumps(results, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 listing stale blocks")
    parser.add_argument("--publish", nargs=2, metavar=("NAME", "PATH"))
    parser.add_argument("--benchmark", help="with --publish: the script that wrote PATH")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check and args.publish:
        parser.error("--check and --publish do not go together")
    if args.benchmark and not args.publish:
        parser.error("--benchmark goes with --publish")
    if args.check:
        problems = check(args.root)
        for problem in problems:
            print(problem)
        if problems:
            print("rerun: .venv/bin/python benchmarks/render_docs.py", file=sys.stderr)
        return 1 if problems else 0
    try:
        if args.publish:
            name, source = args.publish
            print(f"published {publish(name, Path(source), args.root, args.benchmark)}")
        for page in rewrite(args.root):
            print(f"rendered {page.relative_to(args.root)}")
    except DocsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
