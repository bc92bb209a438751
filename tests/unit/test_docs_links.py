"""The README and docs/: every relative link and image resolves, and the README fits on a page.

A link into a Markdown file with `#anchor` must name one of its headings, slugged as GitHub
does it (lower case; punctuation other than `-` and `_` dropped; each space a `-`; a repeated
heading gets `-1`, `-2`, ...).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_LINES = 200

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+\1")
# [text](target) and ![alt](target); the text may hold an image: [![alt](img)](target).
LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\](?:\([^()]*\))?)*\]\(\s*<?([^()\s>]*)>?(?:\s+[\"'(][^)]*)?\)"
)
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$")
HTML_TARGET = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)=[\"']([^\"']+)[\"']", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"<a\b[^>]*?\b(?:name|id)=[\"']([^\"']+)[\"']", re.IGNORECASE)
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub("", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    # Inline code keeps its text (`<name>` included); outside it, HTML tags and emphasis go.
    parts = re.split(r"(`+[^`]*`+)", text)
    text = "".join(
        part.strip("`") if part.startswith("`") else re.sub(r"<[^>]+>|\*", "", part)
        for part in parts
    )
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        found.update(HTML_ANCHOR.findall(line))
        if match := HEADING.match(line):
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def targets(path: Path) -> list[str]:
    found = []
    for line in prose_lines(path.read_text(encoding="utf-8")):
        found += LINK.findall(line)
        found += HTML_TARGET.findall(line)
        if match := REFERENCE.match(line):
            found.append(match.group(1))
    return found


def broken_links(path: Path) -> list[str]:
    """The relative links and images of a Markdown file that lead nowhere."""
    broken = []
    for target in targets(path):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue  # absolute URLs are not checked (no network in tests)
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and unquote(anchor) not in anchors(resolved):
            broken.append(f"{target}: no heading with the anchor #{anchor}")
    return broken


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    assert broken_links(path) == []


def test_the_readme_fits_on_a_page() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}"


def test_broken_files_and_anchors_are_reported(tmp_path: Path) -> None:
    (tmp_path / "img.png").write_bytes(b"")
    (tmp_path / "guide.md").write_text(
        "# The guide\n\n## Exports on `<GCS>`: step 1\n\n## Step\n\n## Step\n", encoding="utf-8"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "[ok](guide.md#exports-on-gcs-step-1) [ok](guide.md#step-1) [ok](#page) ![ok](img.png)\n"
        "[web](https://example.com/x.md) `[code](missing.md)`\n"
        "```\n[fenced](missing.md)\n```\n"
        "[gone](missing.md) ![gone](pics/none.png) [bad](guide.md#step-2) [bad](#nowhere)\n"
        "[ref]: also-missing.md\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "pics/none.png: no such file",
        "guide.md#step-2: no heading with the anchor #step-2",
        "#nowhere: no heading with the anchor #nowhere",
        "also-missing.md: no such file",
    ]
