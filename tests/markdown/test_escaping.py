"""Outside text in ``--format markdown`` cannot break a table, a code block or the comment:
revision messages, findings, table names and SQL are written by whoever wrote the script."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flask_safemigrate.render.markdown import (
    COMMENT_MARKER,
    code,
    fenced,
    prose,
    render_lint_markdown,
    render_markdown,
    text,
)
from flask_safemigrate.render.markdown_plan import render_plan_markdown
from flask_safemigrate.report import Finding, Report, Severity
from tests.markdown.support import code_blocks, headings, html_blocks, paragraphs, tables, tokens

HOSTILE = "drop | users `x` <script>alert(1)</script>\n| a | b |\n```\n" + COMMENT_MARKER
HOSTILE_SQL = "SELECT 1;\n```\n</details>\n<script>alert(1)</script>\n````\nSELECT 2;"


def statement(table: str) -> dict[str, Any]:
    locks = {
        d: {"lock": f"{d} | lock", "impact": "`impact` <b>x</b>"}
        for d in ("postgresql", "mysql", "sqlite")
    }
    return {
        "line": 7,
        "kind": "add_column",
        "table": table,
        "schema": None,
        "batch": False,
        "concurrently": False,
        "size": "12 rows | <i>",
        "locks": locks,
    }


def hostile_report() -> Report:
    finding = Finding(
        rule="drop-column",
        severity=Severity.ERROR,
        message=HOSTILE,
        code="SM102",
        path="migrations/versions/abc_hostile.py",
        line=3,
        help="use `op.drop_column` | later <img src=x>",
    )
    revision = {
        "revision": "abc",
        "message": HOSTILE,
        "path": "migrations/versions/abc_hostile.py",
        "dialect": "postgresql",
        "sql": HOSTILE_SQL,
        "sql_note": None,
        "statements": [statement("items|x`y")],
    }
    return Report(
        "safe-upgrade",
        [finding],
        facts={
            "ok": False,
            "summary": HOSTILE,
            "from": ["a|b"],
            "to": ["abc"],
            "revisions": [revision],
        },
    )


def test_hostile_plan_keeps_its_structure() -> None:
    document = render_plan_markdown(hostile_report(), again="`flask db safe-upgrade --dry-run`")
    # No HTML of the author's: only the renderer's own tags (none here: the SQL is short).
    assert html_blocks(document) == []
    # The hidden marker of the Action's comment cannot be forged by a message (the `<script>`
    # of the SQL stays inside its code block, checked below).
    assert COMMENT_MARKER not in document
    # One heading per revision, whatever the message holds.
    (revision_heading,) = [h for h in headings(document, 4) if h.startswith("1.")]
    assert revision_heading == "1. abc " + HOSTILE.replace("\n", "\\n")
    # Each table keeps its columns: the hostile cells did not add any.
    found = tables(document)
    statements = next(t for t in found if t.header[:2] == ["Line", "Statement"])
    assert len(statements.rows) == 1
    assert len(statements.rows[0]) == len(statements.header) == 7
    assert statements.rows[0][2] == "items|x`y"
    assert statements.rows[0][4] == "postgresql | lock: `impact` <b>x</b>"
    lint = next(t for t in found if t.header[0] == "Code")
    assert len(lint.rows) == 1 and len(lint.rows[0]) == 5
    # A finding's balanced `spans` stay code spans (copyable advice); the rest is text.
    assert lint.rows[0][3] == HOSTILE.replace("\n", "\\n").replace("`x`", "x")
    assert lint.rows[0][4] == "use op.drop_column | later <img src=x>"
    # The SQL stays one code block, closed by its own fence.
    ((info, content),) = code_blocks(document)
    assert info == "sql"
    assert content == HOSTILE_SQL + "\n"


@given(st.text())
def test_any_text_is_one_cell(value: str) -> None:
    """Whatever a message holds, it is one table cell, read back as written (control
    characters shown as escapes, as the text output shows them)."""
    document = (
        f"| A | B | C |\n| --- | --- | --- |\n| {text(value)} | {code(value)} | {prose(value)} |\n"
    )
    (table,) = tables(document)
    assert len(table.rows) == 1
    assert len(table.rows[0]) == 3
    assert html_blocks(document) == []


@given(st.text(min_size=1))
def test_any_sql_is_one_code_block(sql: str) -> None:
    document = fenced(sql, "sql") + "\n\nafter"
    blocks = code_blocks(document)
    assert len(blocks) == 1
    assert paragraphs(document)[-1] == "after"


def test_verify_and_lint_escape_too() -> None:
    finding = Finding(
        rule="breaks-previous-release",
        severity=Severity.ERROR,
        message=HOSTILE,
        path="migrations/versions/x.py",
        help=HOSTILE,
    )
    verify = render_markdown(
        Report("verify", [finding], facts={"compat": {"with": "v1|<b>", "ran": True}}),
        title="flask-safemigrate verify",
        again="`flask db verify`",
    )
    lint = render_lint_markdown(
        Report("lint", [finding], facts={"files": 1}), again="`flask db lint`"
    )
    for document in (verify, lint):
        assert html_blocks(document) == []
        (table,) = tables(document)
        assert len(table.rows) == 1 and len(table.rows[0]) == len(table.header) == 5


@given(st.text())
def test_any_text_is_one_paragraph(value: str) -> None:
    """As a line of its own, escaped text is a paragraph (or nothing): no heading, list,
    quote, code block, thematic break or HTML, whatever it starts with."""
    for escaped in (text(value), prose(value)):
        kinds = [t.type for t in tokens(escaped + "\n")]
        assert kinds in ([], ["paragraph_open", "inline", "paragraph_close"]), (value, kinds)
        assert html_blocks(escaped) == []
