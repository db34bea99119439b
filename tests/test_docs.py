"""README.md and docs/**/*.md: every relative link and image names a file of the repository,
every anchor a heading of its page (GitHub's slugs), and the README stays short."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 300

FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r" {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
CODE_SPAN = re.compile(r"(`+).*?\1")
# [text](target) and ![alt](target); the text may hold one level of brackets (an image
# inside a link), the target an optional "title".
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
DEFINITION = re.compile(r" {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HTML_ANCHOR = re.compile(r"<a\s[^>]*(?:name|id)=\"([^\"]+)\"")
EXTERNAL = re.compile(r"(?:https?|mailto):", re.IGNORECASE)


def pages(root: Path) -> list[Path]:
    readme = [root / "README.md"] if (root / "README.md").is_file() else []
    return readme + sorted((root / "docs").rglob("*.md"))


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fence = [], ""
    for number, line in enumerate(text.split("\n"), start=1):
        opened = FENCE.match(line)
        if fence:  # closed by a bare line of the same character, at least as long
            bare = line.strip()
            if opened and set(bare) == {fence[0]} and len(bare) >= len(fence):
                fence = ""
        elif opened:
            fence = opened.group(1)
        else:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: the rendered text (links as their text, no
    code or emphasis marks), lower-case, without punctuation but '-' and '_', spaces to
    '-' one for one."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor of a page: its headings' slugs (a repeated one gets -1, -2, ...) and
    HTML anchors (<a name="..."> or id="...")."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(text):
        found |= set(HTML_ANCHOR.findall(line))
        heading = HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        name = base
        while name in found:
            seen[base] = seen.get(base, 0) + 1
            name = f"{base}-{seen[base]}"
        found.add(name)
    return found


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of every markdown link and image outside code."""
    out = []
    for number, line in prose_lines(text):
        bare = CODE_SPAN.sub("", line)
        out += [(number, target) for target in LINK.findall(bare)]
        definition = DEFINITION.match(bare)
        if definition:
            out.append((number, definition.group(1)))
    return out


def ignored_by_git(root: Path, paths: list[Path]) -> set[Path]:
    """Those of `paths` that git ignores (not in a clone); none outside a git work tree."""
    if not paths:
        return set()
    names = "\n".join(str(p.relative_to(root)) for p in paths)
    done = subprocess.run(["git", "-C", str(root), "check-ignore", "--stdin"], input=names,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode not in (0, 1):  # 128: not a repository
        return set()
    return {root / line for line in done.stdout.splitlines() if line}


def broken_links(root: Path, files: list[Path] | None = None) -> list[str]:
    """'page:line: target: why' for every link that would not work on the code host."""
    problems, found = [], []
    files = pages(root) if files is None else files
    texts = {page.resolve(): page.read_text(encoding="utf-8") for page in files}
    for page in files:
        where = page.relative_to(root)
        for number, target in links(texts[page.resolve()]):
            if not target or EXTERNAL.match(target):
                continue
            path_part, _, anchor = target.partition("#")
            at = f"{where}:{number}: {target}"
            if path_part.startswith("/") or re.match(r"[a-z][a-z0-9+.-]*:", path_part):
                problems.append(f"{at}: not a relative link")
                continue
            file = (page.parent / unquote(path_part)).resolve() if path_part else page.resolve()
            if not file.is_relative_to(root.resolve()):
                problems.append(f"{at}: leaves the repository")
                continue
            if not file.exists():
                problems.append(f"{at}: no such file")
                continue
            found.append(file)
            if anchor and file.suffix == ".md" and file.is_file():
                if file not in texts:
                    texts[file] = file.read_text(encoding="utf-8")
                if unquote(anchor) not in anchors(texts[file]):
                    problems.append(f"{at}: no heading with anchor #{anchor} in {file.name}")
    ignored = ignored_by_git(root.resolve(), found)
    problems += [f"{p.relative_to(root.resolve())}: linked, but ignored by git" for p in ignored]
    return problems


def test_no_broken_links_in_the_readme_and_docs():
    problems = broken_links(ROOT)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_readme_is_short():
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"
    )


def test_the_checker_reports_a_broken_file_and_a_broken_anchor(tmp_path):
    """It could pass vacuously if it missed links; a hand-made page proves it does not."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Models (`ponder.models`)\n")
    (tmp_path / "README.md").write_text(
        "# Title\n\n"
        "[good](docs/a.md#models-pondermodels) [same page](#title)\n"
        "[missing file](docs/nothing.md) and ![missing image](docs/figures/x.png)\n"
        "[missing anchor](docs/a.md#no-such-heading) [here too](#nope)\n"
        "[outside](../elsewhere.md) `[in code](docs/nothing.md)` [web](https://example.com)\n"
        "```\n[in a fence](docs/nothing.md)\n```\n"
    )
    problems = broken_links(tmp_path)
    assert problems == [
        "README.md:4: docs/nothing.md: no such file",
        "README.md:4: docs/figures/x.png: no such file",
        "README.md:5: docs/a.md#no-such-heading: no heading with anchor #no-such-heading in a.md",
        "README.md:5: #nope: no heading with anchor #nope in README.md",
        "README.md:6: ../elsewhere.md: leaves the repository",
    ], problems


@pytest.mark.parametrize(
    "heading, expected",
    [
        ("Models (`ponder.models`)", "models-pondermodels"),
        ("Thinking longer, on grids of other sizes", "thinking-longer-on-grids-of-other-sizes"),
        ("`train.fail_fast[]`", "trainfail_fast"),
        ("Speed (part 10): against a peer, and the quick preset",
         "speed-part-10-against-a-peer-and-the-quick-preset"),
        ("TRM, HRM and the direct baseline: 8 / 16 segments", "trm-hrm-and-the-direct-baseline-8--16-segments"),
        ("A [linked](x.md) **bold** heading", "a-linked-bold-heading"),
    ],
)  # fmt: skip
def test_slugs_are_githubs(heading, expected):
    assert slug(heading) == expected


def test_repeated_headings_get_numbered_anchors():
    page = "# Notes\n\n## Notes\n\n### Notes\n\n```\n# Notes\n```\n## Other #\n"
    assert anchors(page) == {"notes", "notes-1", "notes-2", "other"}


def layout_tree(page: Path) -> set[str]:
    """The module paths (relative to src/ponder) listed in the page's first code block under
    its "## Layout" heading: an entry's folder is given by its indentation, two spaces a
    level below `src/ponder/`."""
    text = page.read_text(encoding="utf-8").split("## Layout", 1)[1]
    block = text.split("```", 2)[1]
    listed, folders = set(), []
    for line in block.splitlines()[2:]:  # past the opening fence's line and src/ponder/
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2 - 1
        name = line.split()[0]
        folders = folders[:depth]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
        else:
            listed.add("/".join([*folders, name]))
    return listed


def test_the_development_page_lists_every_module():
    src = ROOT / "src" / "ponder"
    modules = {str(p.relative_to(src)) for p in src.rglob("*.py")}
    listed = layout_tree(ROOT / "docs" / "development.md")
    assert modules - listed == set(), (
        f"modules missing from docs/development.md's layout: {sorted(modules - listed)}"
    )
    assert listed - modules == set(), (
        f"docs/development.md lists modules that are gone: {sorted(listed - modules)}"
    )
