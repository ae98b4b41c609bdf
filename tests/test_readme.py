"""The README's layout block matches the tree, and every relative link in the docs resolves.

The layout block is the fenced block after the README's ``## Layout`` heading: one path per line,
relative to the repository root, then a description. A path ending in ``/`` is a folder; ``<app>``
stands for each of the six apps.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
LAYOUT_HEADING = "## Layout"
APPS = ("blog", "market", "cart", "events", "federation", "account")
APP_PLACEHOLDER = "<app>"

# Folders whose every tracked entry the block must name (hidden files and __init__.py aside), so
# that what it lists is the tree, not a selection of it.
COMPLETE_FOLDERS = ("", "shared", "shared/services", "shared/infrastructure", "shared/tooling")

FENCE = re.compile(r"^(```|~~~)")
# [text](target) and [text](target "title"); images too. Reference definitions: [label]: target
INLINE_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
CODE_SPAN = re.compile(r"`+[^`]*`+")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def layout_lines(text: str, heading: str = LAYOUT_HEADING) -> list[str]:
    """The non-blank lines of the first fenced block after ``heading``."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    except StopIteration:
        raise AssertionError(f"README.md has no {heading!r} heading") from None
    block: list[str] = []
    inside = False
    for line in lines[start + 1 :]:
        if FENCE.match(line.strip()):
            if inside:
                return block
            inside = True
            continue
        if not inside and line.startswith("#"):
            break
        if inside and line.strip():
            block.append(line)
    raise AssertionError(f"no complete fenced block after {heading!r} in README.md")


def layout_paths(text: str) -> list[str]:
    """Every path the layout block names, with ``<app>`` expanded to each app."""
    paths: list[str] = []
    for line in layout_lines(text):
        path = line.split()[0]
        if APP_PLACEHOLDER in path:
            paths.extend(path.replace(APP_PLACEHOLDER, app) for app in APPS)
        else:
            paths.append(path)
    return paths


def markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose(text: str) -> str:
    """``text`` without its fenced blocks and code spans, where nothing is a link."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        if not inside:
            kept.append(CODE_SPAN.sub("", line))
    return "\n".join(kept)


def link_targets(text: str) -> list[str]:
    body = prose(text)
    return INLINE_LINK.findall(body) + REFERENCE_LINK.findall(body)


def relative_links(text: str) -> list[str]:
    """The targets of the links in ``text`` that point into the repository, another page."""
    return [t for t in link_targets(text) if not EXTERNAL.match(t) and not t.startswith("#")]


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of ``text`` (lower case, punctuation dropped, spaces
    to hyphens, ``-1``, ``-2`` … after a repeat)."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    inside = False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            inside = not inside
            continue
        heading = HEADING.match(line)
        if inside or not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def same_page_anchors(text: str) -> list[str]:
    """The anchors of links to a heading of the same page: ``[text](#anchor)``."""
    return [t[1:] for t in link_targets(text) if t.startswith("#")]


def resolves(doc: Path, target: str) -> bool:
    """Whether ``target``, linked from ``doc``, is a file (and a heading of it, after ``#``)."""
    path, _, anchor = target.partition("#")
    linked = (doc.parent / path).resolve() if path else doc
    if not linked.exists():
        return False
    return not anchor or linked.suffix != ".md" or anchor in anchors(linked.read_text())


def tracked_entries(folder: str) -> set[str]:
    """The direct children of ``folder`` that git tracks, folders with a trailing ``/``."""
    prefix = f"{folder}/" if folder else ""
    listing = subprocess.run(
        ["git", "ls-files", "--", prefix or "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    entries: set[str] = set()
    for name in listing:
        rest = name[len(prefix) :].split("/")
        if rest[0].startswith(".") or rest[0] == "__init__.py":
            continue
        entries.add(prefix + rest[0] + ("/" if len(rest) > 1 else ""))
    return entries


def test_the_layout_block_is_one_path_and_a_description_per_line() -> None:
    lines = layout_lines(README.read_text())
    assert len(lines) > 20
    bare = [line for line in lines if len(line.split(maxsplit=1)) < 2]
    assert not bare, f"layout lines without a description: {bare}"
    paths = [line.split()[0] for line in lines]
    repeated = sorted({p for p in paths if paths.count(p) > 1})
    assert not repeated, f"named twice in the layout block: {repeated}"
    absolute = [p for p in paths if p.startswith("/") or ".." in p.split("/")]
    assert not absolute, f"layout paths must be relative to the repository root: {absolute}"


def test_every_path_in_the_layout_block_exists() -> None:
    missing = [
        path
        for path in layout_paths(README.read_text())
        if not ((REPO_ROOT / path).is_dir() if path.endswith("/") else (REPO_ROOT / path).is_file())
    ]
    assert not missing, f"the README's layout block names what does not exist: {missing}"


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO_ROOT / ".git").exists(),
    reason="needs a git checkout to list the tracked files",
)
@pytest.mark.parametrize("folder", COMPLETE_FOLDERS, ids=lambda f: f or "<root>")
def test_the_layout_block_names_every_entry_of(folder: str) -> None:
    named = layout_paths(README.read_text())

    def is_named(entry: str) -> bool:
        # A folder is named by its own line or by a line for something inside it.
        return any(p == entry or (entry.endswith("/") and p.startswith(entry)) for p in named)

    entries = tracked_entries(folder) - {"README.md"}  # the page the block is in
    unnamed = sorted(entry for entry in entries if not is_named(entry))
    assert not unnamed, f"the README's layout block does not name: {unnamed}"


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_points_at_a_file_and_heading(doc: Path) -> None:
    text = doc.read_text()
    targets = relative_links(text) + [f"#{anchor}" for anchor in same_page_anchors(text)]
    broken = [target for target in targets if not resolves(doc, target)]
    assert not broken, f"{doc.relative_to(REPO_ROOT)} links to what does not exist: {broken}"


def test_the_link_finder_sees_links_and_skips_code() -> None:
    text = (
        "See [the map](docs/ARCHITECTURE.md#layers) and [web](https://example.org).\n"
        "`[not](a-link.md)`\n"
        "```\n[also not](inside-a-block.md)\n```\n"
        "[ref]: decisions/README.md\n"
        "[anchor](#here)\n"
    )
    assert relative_links(text) == ["docs/ARCHITECTURE.md#layers", "decisions/README.md"]
    assert same_page_anchors(text) == ["here"]


def test_anchors_are_githubs() -> None:
    headings = ["# Title", "## The `rose-ash` command", "## Ghost (blog: Ghost sync)"]
    text = "\n".join([*headings, "## The editors' desk", "## Title", "```", "# not one", "```"])
    assert anchors(text) == {
        "title",
        "the-rose-ash-command",
        "ghost-blog-ghost-sync",
        "the-editors-desk",
        "title-1",
    }
