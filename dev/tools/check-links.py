#!/usr/bin/env python3
"""Checks every relative link and anchor in the repository's Markdown.

A link to a file must name a file or directory that exists; a link with an
anchor (`docs/api.md#errors`, `#errors`) must name a heading of that Markdown
file, slugged as GitHub does. Links with a scheme (https:, mailto:) are not
followed: this checks the repository, not the web.

    python3 dev/tools/check-links.py            # the whole repository
    python3 dev/tools/check-links.py DIR FILE   # only these (tests use it)

Exit 1 and one line per broken link (`file:line: link: why`) when any is
broken. `make lint` runs it.
"""
from __future__ import annotations

import re
import sys
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Installed or generated trees, not ours to check.
SKIPPED_DIRS = {".git", "node_modules", "target", ".venv", "venv", ".aws-sam", "test-artifacts"}

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](dest) and ![alt](dest); dest may be <wrapped> and followed by a "title".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+[\"'(].*?[\"')])?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)
HTML_ANCHOR = re.compile(r"<[a-z][^>]*?\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: the rendered text lowercased,
    punctuation dropped (letters, digits, `_`, `-` and spaces stay), each
    space a `-`."""
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link renders as its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML renders as nothing
    text = text.strip().lower()
    return "".join(c for c in text if c.isalnum() or c in "_- ").replace(" ", "-")


def prose_lines(text: str):
    """(line number, line) for every line outside fenced code blocks."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        opened = FENCE.match(line)
        if fence is None:
            if opened:
                fence = opened.group(1)
                continue
            yield number, line
        elif opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence) \
                and not line.strip()[len(opened.group(1)):].strip():
            fence = None


def anchors(text: str) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (a repeated
    slug gets -1, -2, ... as on GitHub) and explicit HTML ids and names."""
    found: set[str] = set()
    seen: dict[str, int] = {}

    def add(heading: str) -> None:
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")

    previous = ""
    for _, line in prose_lines(text):
        heading = ATX_HEADING.match(line)
        if heading:
            add(heading.group(1) or "")
        elif SETEXT_UNDERLINE.match(line) and previous.strip() and not previous.startswith((" " * 4, "\t")) \
                and not (line.strip().startswith("-") and previous.lstrip().startswith(("-", "*", "|"))):
            add(previous.strip())
        found.update(HTML_ANCHOR.findall(line))
        previous = line
    return found


def links(text: str):
    """(line number, destination) for every link outside code."""
    for number, line in prose_lines(text):
        outside_code = CODE_SPAN.sub("", line)
        for pattern in (INLINE_LINK, REFERENCE_DEFINITION, HTML_LINK):
            for match in pattern.finditer(outside_code):
                yield number, match.group(1).strip("<>")


def broken(source: Path, destination: str, root: Path, anchor_cache: dict[Path, set[str]]) -> str | None:
    """Why a link from `source` is broken, or None when it is good (or not ours to check)."""
    if not destination or SCHEME.match(destination) or destination.startswith("//"):
        return None
    path_part, _, fragment = destination.partition("#")
    path_part = urllib.parse.unquote(path_part.split("?", 1)[0])
    if path_part.startswith("/"):
        target = root / path_part.lstrip("/")  # GitHub reads /x as the repository's x
    elif path_part:
        target = source.parent / path_part
    else:
        target = source
    if not target.exists():
        return f"no such file: {target.relative_to(root) if target.is_relative_to(root) else target}"
    if not fragment or target.is_dir() or target.suffix.lower() != ".md":
        return None  # anchors of other files (a source line's #L10) are GitHub's business
    target = target.resolve()
    if target not in anchor_cache:
        anchor_cache[target] = anchors(target.read_text(encoding="utf-8"))
    if urllib.parse.unquote(fragment) not in anchor_cache[target]:
        return f"no heading with the anchor #{fragment} in {target.name}"
    return None


def markdown_files(paths: list[Path]) -> list[Path]:
    files = []
    for path in paths:
        if path.is_file():
            files.append(path)
            continue
        for candidate in sorted(path.rglob("*.md")):
            relative = candidate.relative_to(path).parts[:-1]
            if not SKIPPED_DIRS.intersection(relative):
                files.append(candidate)
    return files


def check(paths: list[Path], root: Path) -> list[str]:
    problems = []
    anchor_cache: dict[Path, set[str]] = {}
    for source in markdown_files(paths):
        text = source.read_text(encoding="utf-8")
        for number, destination in links(text):
            why = broken(source, destination, root, anchor_cache)
            if why:
                shown = source.relative_to(root) if source.is_relative_to(root) else source
                problems.append(f"{shown}:{number}: {destination}: {why}")
    return problems


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or [REPO]
    root = paths[0] if len(paths) == 1 and paths[0].is_dir() else REPO
    files = markdown_files(paths)
    problems = check(paths, root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-links: {len(problems)} broken link(s) in {len(files)} Markdown files")
        return 1
    print(f"check-links: every relative link and anchor in {len(files)} Markdown files resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
