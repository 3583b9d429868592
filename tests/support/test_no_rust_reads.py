"""No Python reads a Rust source: the suites and tools take what the code
states from the facts file (support.project), so Rust files can move and
change shape freely. Checked two ways: statically, every string literal in
every Python file of the repository that names a `.rs` file; and at run
time, support/__init__.py refuses to open one in any suite that imports it.

    pytest tests/support
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".venv", "node_modules", "target", "test-artifacts", ".git"}
# The two files that enforce the rule name Rust files to do it.
ENFORCERS = {"tests/support/__init__.py", "tests/support/test_no_rust_reads.py"}
# A literal that is a path (or glob) ending in .rs: "main.rs", "*.rs", "shared/src/x.rs".
RUST_PATH = re.compile(r"[\w*./-]*\.rs")


def python_files() -> list[Path]:
    found = []
    for path in REPO.rglob("*.py"):
        if not SKIPPED_DIRS.intersection(path.relative_to(REPO).parts):
            found.append(path)
    return sorted(found)


def rust_paths_named(source: str) -> list[str]:
    """String literals (f-string parts included) that are a Rust file's path."""
    named = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            prefix = re.match(r"[rRbBuUfF]*", token.string).group()
            text = token.string[len(prefix):].strip("'\"")
            if "f" in prefix.lower():
                text = text.rsplit("}", 1)[-1]  # Python < 3.12: the literal part after the last field
        elif token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            text = token.string
        else:
            continue
        if RUST_PATH.fullmatch(text):
            named.append(text)
    return named


def test_the_scan_finds_a_rust_path_and_ignores_prose():
    source = (
        'def f():\n    """Reads nothing from config.rs any more."""\n'
        '    a = REPO / "shared" / "main.rs"\n    b = list(p.rglob("*.rs"))\n'
        '    c = f"{d}/lib.rs"\n    e = "see https://rustup.rs for cargo"\n'
    )
    assert rust_paths_named(source) == ["main.rs", "*.rs", "/lib.rs"]


def test_no_python_file_names_a_rust_source():
    files = python_files()
    assert len(files) >= 20, files
    offenders = {}
    for path in files:
        if str(path.relative_to(REPO)) in ENFORCERS:
            continue
        named = rust_paths_named(path.read_text())
        if named:
            offenders[str(path.relative_to(REPO))] = named
    assert offenders == {}


def test_opening_a_rust_source_is_refused_at_run_time():
    with pytest.raises(PermissionError, match="facts"):
        open(REPO / "shared" / "src" / "lib.rs").close()
