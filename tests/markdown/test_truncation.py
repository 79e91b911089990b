"""``--format markdown`` stays comment-sized: long SQL collapsed, findings capped with a
count, and a document past GitHub's 65,536 characters cut at a section with a note."""

from __future__ import annotations

from typing import Any

from flask_safemigrate.render.markdown import (
    COMMENT_LIMIT,
    COMMENT_MARKER,
    DOCUMENT_LIMIT,
    join_comment,
    render_lint_markdown,
)
from flask_safemigrate.render.markdown_plan import PER_REVISION_FINDINGS, render_plan_markdown
from flask_safemigrate.report import Finding, Report, Severity
from tests.markdown.support import code_blocks, headings, html_blocks, paragraphs, tables


def revision(number: int, sql_lines: int) -> dict[str, Any]:
    sql = "\n".join(f"ALTER TABLE t{number} ADD COLUMN c{i} INTEGER;" for i in range(sql_lines))
    return {
        "revision": f"r{number:04d}",
        "message": f"revision {number}",
        "path": f"migrations/versions/r{number:04d}_x.py",
        "dialect": "sqlite",
        "sql": sql,
        "sql_note": None,
        "statements": [],
    }


def findings_in(path: str, count: int) -> list[Finding]:
    return [
        Finding(
            rule="drop-column",
            severity=Severity.WARNING if n % 2 else Severity.ERROR,
            message=f"finding {n}",
            code="SM102",
            path=path,
            line=n + 1,
            help="expand, then contract",
        )
        for n in range(count)
    ]


def plan(revisions: list[dict[str, Any]], findings: list[Finding]) -> str:
    report = Report(
        "safe-upgrade",
        findings,
        facts={"ok": True, "summary": "Dry run.", "from": [], "to": ["x"], "revisions": revisions},
    )
    return render_plan_markdown(report, again="`flask db safe-upgrade --dry-run`")


def test_long_sql_is_collapsed_short_sql_is_not() -> None:
    document = plan([revision(1, 3), revision(2, 40)], [])
    assert [block.count("<details") for block in html_blocks(document)].count(1) == 1
    (opened,) = [b for b in html_blocks(document) if b.startswith("<details")]
    assert "SQL (40 lines)" in opened
    assert len(code_blocks(document)) == 2


def test_findings_per_revision_are_capped_with_a_count() -> None:
    path = "migrations/versions/r0001_x.py"
    document = plan([revision(1, 1)], findings_in(path, PER_REVISION_FINDINGS + 7))
    (table,) = tables(document)
    assert len(table.rows) == PER_REVISION_FINDINGS
    assert all(row[1].endswith("error") for row in table.rows[:5])  # worst first
    assert "…and 7 more findings not shown here." in paragraphs(document)


def test_a_plan_past_the_comment_limit_is_cut_at_a_section_with_a_note() -> None:
    revisions = [revision(n, 200) for n in range(1, 60)]  # ~10 kB of SQL each
    document = plan(revisions, [])
    assert len(document) <= DOCUMENT_LIMIT < COMMENT_LIMIT
    shown = [h for h in headings(document, 4) if h[:1].isdigit()]
    assert 0 < len(shown) < len(revisions)
    note = paragraphs(document)[-1]
    assert note.startswith("[!WARNING]")
    assert f"{len(revisions) - len(shown)} sections not shown" in note
    assert "flask db safe-upgrade --dry-run shows everything" in note
    # Every code block and <details> that was started is closed: nothing cut in the middle.
    assert len(code_blocks(document)) == len(shown)
    assert document.count("<details>") == document.count("</details>")


def test_lint_past_the_limit_is_cut_too() -> None:
    findings = [f for n in range(400) for f in findings_in(f"migrations/versions/f{n}.py", 5)]
    document = render_lint_markdown(
        Report("lint", findings, facts={"files": 400}), again="`safemigrate lint`"
    )
    assert len(document) <= DOCUMENT_LIMIT
    assert "safemigrate lint shows everything" in paragraphs(document)[-1]


def test_the_comment_keeps_the_marker_and_never_passes_the_limit() -> None:
    big = plan([revision(n, 200) for n in range(1, 60)], [])
    body = join_comment([big, big])
    assert body.startswith(COMMENT_MARKER + "\n")
    assert len(body) <= COMMENT_LIMIT
    assert body.count(big.strip()) == 1
    assert "One more report" in paragraphs(body)[-1]
    small = join_comment(["### plan", "### verify"])
    assert small == f"{COMMENT_MARKER}\n### plan\n\n---\n\n### verify\n"
