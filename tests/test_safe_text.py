"""safe_text: escaped text reads back exactly and cannot leave the place it is written to."""

from __future__ import annotations

import ast

from hypothesis import given
from hypothesis import strategies as st

from flask_safemigrate.safe_text import in_python_string, printable


@given(st.text())
def test_in_python_string_reads_back_in_every_literal(text: str) -> None:
    escaped = in_python_string(text)
    assert "\n" not in escaped and "\r" not in escaped
    for quote in ('"', "'", '"""', "'''"):
        assert ast.literal_eval(f"{quote}{escaped}{quote}") == text
    # in a comment it stays one comment: the module is empty
    assert ast.parse(f"# {escaped}\n").body == []


@given(st.text())
def test_printable_has_no_control_characters(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable()
    assert len(shown.splitlines()) <= 1


def test_printable_keeps_ordinary_text() -> None:
    assert printable("créé C:\\path 'x' \"y\"") == "créé C:\\path 'x' \"y\""
    assert printable("a\n::warning file=x::y\x1b[2J") == "a\\n::warning file=x::y\\x1b[2J"
