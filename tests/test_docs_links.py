"""The documentation holds together in a clone: every relative link in README.md, docs/*.md and
benchmarks/README.md reaches a file of the repository (and, with ``#anchor``, a heading of it, as
GitHub slugs headings), nothing points outside the repository, and the README stays a front page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS, ROOT / "benchmarks" / "README.md"]
OUTSIDE = "../" + "shared"  # the sibling folder of the maintainers' checkout, absent from a clone
README_MAX_LINES = 200

FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(?:<([^>]*)>|([^)\s]*))(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s[^>]*(?:name|id)=\"([^\"]+)\"")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, with inline code spans blanked."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, re.sub(r"(`+)(?:(?!\1).)+?\1", lambda m: " " * len(m.group(0)), line)))
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lower-cased, punctuation other than - and _ dropped, spaces as -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor of a Markdown file: its headings' slugs (a repeated slug gets -1, -2, ...) and HTML anchors."""
    found: set[str] = set()
    counts: dict[str, int] = {}
    text = path.read_text(encoding="utf-8")
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        heading = HEADING.match(line)
        if heading:
            slug = github_slug(heading.group(2))
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
        found.update(HTML_ANCHOR.findall(line))
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """(line number, target) of every link and image of a Markdown file, outside code."""
    found = []
    for number, line in _prose_lines(path.read_text(encoding="utf-8")):
        found += [(number, bracketed or bare) for bracketed, bare in INLINE_LINK.findall(line)]
        definition = REFERENCE_DEFINITION.match(line)
        if definition:
            found.append((number, definition.group(1)))
    return found


def test_the_slugs_are_githubs() -> None:
    assert github_slug("Real data: the default search against the presets") == "real-data-the-default-search-against-the-presets"
    assert github_slug("(c) The protocol audit (`--audit`)") == "c-the-protocol-audit---audit"
    assert github_slug("Ensembles of a search's trials") == "ensembles-of-a-searchs-trials"
    assert github_slug("`kill -9` anywhere, then the same command") == "kill--9-anywhere-then-the-same-command"
    assert github_slug("Spotting: the memo a spotting search keeps") == "spotting-the-memo-a-spotting-search-keeps"


def test_the_link_reader_sees_links_and_skips_code(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        '# Title\n\nSee [a](a.md#x), ![b](img/b.png "t") and [c](<c d.md>).\n`[no](code.md)`\n'
        "```\n[no](fenced.md)\n```\n[ref]: ref.md\n[ext](https://example.org)\n"
    )
    assert [target for _, target in links(page)] == ["a.md#x", "img/b.png", "c d.md", "ref.md", "https://example.org"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading_of_the_repository(page: Path) -> None:
    assert page.is_file(), f"{page.relative_to(ROOT)} is missing"
    broken = []
    for number, target in links(page):
        where = f"{page.relative_to(ROOT)}:{number}: {target}"
        if SCHEME.match(target) or target.startswith("//"):
            continue  # a web address: not followed (no network)
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.is_relative_to(ROOT):
            broken.append(f"{where} (outside the repository)")
        elif not destination.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{where} (no heading with this anchor in {destination.relative_to(ROOT)})")
    assert broken == []


def test_nothing_points_outside_the_repository() -> None:
    """Neither the documentation nor the code, its docstrings and comments name the maintainers' sibling folder."""
    here = Path(__file__).resolve()
    files = PAGES + [p for folder in ("merauto", "tests", "benchmarks", ".ci") for p in sorted((ROOT / folder).rglob("*")) if p.is_file()]
    mentions = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        if path != here and path.suffix in {".md", ".py", ".toml", ""}
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1)
        if OUTSIDE in line
    ]
    assert mentions == []


def test_the_readme_is_a_front_page_that_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES
    linked = {(ROOT / target.partition("#")[0]).resolve() for _, target in links(ROOT / "README.md") if not SCHEME.match(target)}
    assert [p.name for p in DOCS if p.resolve() not in linked] == []


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_each_docs_page_opens_with_a_title_and_a_summary(page: Path) -> None:
    blocks = [b for b in page.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    assert blocks[0].startswith("# ") and "\n" not in blocks[0].strip()
    summary = blocks[1].lstrip()
    assert not summary.startswith(("#", "-", "*", "|", "```", ">")) and len(summary.split()) >= 20


def test_ci_runs_the_readmes_commands() -> None:
    """`.ci/run` runs the README's Debian step, installs as its first command does and runs its test command, byte for byte."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    install, test, debian = re.findall(r"```bash\n(.*?)\n```", section, re.S)[:3]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    install_line = next(line for line in ci if "pip install" in line and "venv" in line)
    assert install.startswith(install_line + " && ")
    assert debian in ci, "the Debian step, as the README gives it"
    assert ci[-1] == test
