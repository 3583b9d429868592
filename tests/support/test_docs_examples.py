"""The code examples in the docs do what the docs say they do.

    pytest tests/support
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
API_MD = REPO / "docs" / "api.md"


def python_block(text: str, containing: str) -> str:
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if containing in b]
    assert len(blocks) == 1, f"expected one python block with {containing!r}, found {len(blocks)}"
    return blocks[0]


def intercept_example() -> dict:
    namespace: dict = {}
    exec(python_block(API_MD.read_text(), "def answer("), namespace)  # noqa: S102 - our own docs
    return namespace


def test_the_intercept_example_removes_numbers_and_links_from_texts():
    answer = intercept_example()["answer"]
    question = {"type": "message", "session": "CH0", "body": "call me on +1 (415) 555-0199 or see www.example.com/x"}
    reply = answer(question)
    assert reply["action"] == "allow"
    assert "555" not in reply["body"] and "example.com" not in reply["body"]
    assert reply["body"] == "call me on [number removed] or see [link removed]"


def test_the_intercept_example_leaves_clean_texts_and_calls_alone():
    answer = intercept_example()["answer"]
    assert answer({"type": "message", "session": "CH0", "body": "on my way, 2 minutes"}) == {"action": "allow"}
    assert answer({"type": "call", "session": "CH0"}) == {"action": "allow"}
