"""``flask db safe-upgrade --dry-run --format markdown``: the plan of a pull request.

One document a reviewer reads in the pull request: the pending revisions in the order Alembic
applies them, and under each its statements on existing tables (the table's size when the
database was read, the lock it takes on PostgreSQL, MariaDB/MySQL and SQLite), lint's
findings on that script, and its SQL as ``--sql`` writes it (or why it has none). It reads
the report's ``revisions`` fact (:mod:`flask_safemigrate.upgrade.plan_details`) and escapes
through :mod:`.markdown`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from flask_safemigrate.render.markdown import (
    code,
    findings_table,
    fit,
    prose,
    sql_block,
    text,
)
from flask_safemigrate.report import Finding, Report, Severity
from flask_safemigrate.text import plural

__all__ = ["PER_REVISION_FINDINGS", "PER_REVISION_STATEMENTS", "render_plan_markdown"]

#: Findings listed under one revision before the rest are only counted.
PER_REVISION_FINDINGS: Final = 10
#: Statements listed under one revision before the rest are only counted.
PER_REVISION_STATEMENTS: Final = 40
_DIALECT_NAMES: Final = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL", "sqlite": "SQLite"}


def render_plan_markdown(report: Report, *, again: str) -> str:
    """The dry run's report as a comment-sized Markdown document (``again``: the command that
    shows everything, for the note when the document is cut)."""
    facts = report.facts
    revisions: list[Mapping[str, Any]] = list(facts.get("revisions") or [])
    findings = [*report.findings, *(_review_finding(entry) for entry in facts.get("review", []))]
    blocks = [_heading(report, revisions), prose(facts.get("summary", ""))]
    position = _position(facts)
    if position:
        blocks.append(position)
    sizes = _sizes_table(revisions)
    if sizes:
        blocks += ["#### Table sizes", sizes]
    assigned: set[int] = set()
    sections = []
    for number, revision in enumerate(revisions, 1):
        own = [f for f in findings if _same_file(f.path, revision.get("path"))]
        assigned |= {id(f) for f in own}
        sections.append(_revision_section(number, revision, own))
    general = [f for f in findings if id(f) not in assigned]
    if general:
        blocks += ["#### Pre-flight findings", findings_table(general)]
    return fit([*blocks, *sections], again=again)


def _heading(report: Report, revisions: Sequence[Mapping[str, Any]]) -> str:
    ok = report.facts.get("ok", report.ok)
    status = "✅ pre-flight passed" if ok else "❌ pre-flight failed"
    dialect = next((r.get("dialect") for r in revisions if r.get("dialect")), None)
    on = f" on {_DIALECT_NAMES.get(dialect, dialect)}" if dialect else ""
    count = plural(len(revisions), "pending revision") if revisions else "nothing to apply"
    return f"### flask-safemigrate plan: {count}{on} ({status})"


def _position(facts: Mapping[str, Any]) -> str:
    start, goal = facts.get("from"), facts.get("to")
    if start is None and not goal:
        return ""
    here = ", ".join(code(rev) for rev in start or []) or "base (empty database)"
    there = ", ".join(code(rev) for rev in goal or [])
    return f"From {here} to {there}."


def _sizes_table(revisions: Sequence[Mapping[str, Any]]) -> str:
    """One row per live table the plan touches, with the size the dry run read."""
    seen: dict[str, str] = {}
    for revision in revisions:
        for statement in revision.get("statements", []):
            if statement.get("size", "").startswith("created by"):
                continue
            seen.setdefault(_table(statement), statement.get("size", ""))
    if not seen:
        return ""
    rows = ["| Table | Size now |", "| --- | --- |"]
    rows += [f"| {code(table)} | {text(size)} |" for table, size in sorted(seen.items())]
    return "\n".join(rows)


def _table(statement: Mapping[str, Any]) -> str:
    schema = statement.get("schema")
    return f"{schema}.{statement['table']}" if schema else str(statement["table"])


def _revision_section(number: int, revision: Mapping[str, Any], findings: Sequence[Finding]) -> str:
    message = revision.get("message")
    title = f"#### {number}. {code(revision['revision'])}"
    if message:
        title += f" {text(message)}"
    parts = [title, code(revision.get("path", ""))]
    statements = revision.get("statements", [])
    if statements:
        parts.append(_statements_table(statements, revision.get("dialect")))
    else:
        parts.append("No statement on an existing table (nothing it locks was found).")
    if findings:
        parts.append(f"**Lint** ({plural(len(findings), 'finding')}):")
        parts.append(findings_table(findings, limit=PER_REVISION_FINDINGS))
    sql, note = revision.get("sql"), revision.get("sql_note")
    if sql:
        parts.append(sql_block(str(sql)))
    elif note:
        parts.append(f"> **SQL not shown:** {prose(note)}")
    return "\n\n".join(parts)


def _statements_table(statements: Sequence[Mapping[str, Any]], live: str | None) -> str:
    """A row per statement: where, what, its table's size, and its lock on each dialect
    (the live database's column is marked)."""
    dialects = list(_DIALECT_NAMES)
    names = [
        f"{_DIALECT_NAMES[d]} (this database)" if d == live else _DIALECT_NAMES[d] for d in dialects
    ]
    rows = [
        "| Line | Statement | Table | Size | " + " | ".join(names) + " |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in dialects) + " |",
    ]
    for statement in statements[:PER_REVISION_STATEMENTS]:
        kind = str(statement["kind"])
        if statement.get("batch"):
            kind += " (batch)"
        if statement.get("concurrently"):
            kind += " (concurrently)"
        locks = statement.get("locks", {})
        cells = [_lock_cell(locks.get(d)) for d in dialects]
        rows.append(
            f"| {statement['line']} | {code(kind)} | {code(_table(statement))} |"
            f" {text(statement.get('size', ''))} | " + " | ".join(cells) + " |"
        )
    rest = len(statements) - PER_REVISION_STATEMENTS
    if rest > 0:
        rows.append(f"\n_…and {plural(rest, 'more statement')}: the text `--dry-run` lists all._")
    return "\n".join(rows)


def _lock_cell(lock: Mapping[str, str] | None) -> str:
    if not lock:
        return ""
    return f"**{text(lock['lock'])}**: {text(lock['impact'])}"


def _same_file(path: str | None, other: object) -> bool:
    """Whether a finding's path is the revision's script (findings name it as the run
    showed it, relative or absolute: the file name is what both agree on)."""
    if path is None or not isinstance(other, str):
        return False
    return _name(path) == _name(other)


def _name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _review_finding(entry: Mapping[str, Any]) -> Finding:
    """A ``review`` entry (a pending script's finding that never blocks) as a finding."""
    return Finding(
        rule=str(entry.get("rule", "")),
        severity=Severity(entry.get("severity", "info")),
        message=str(entry.get("message", "")),
        code=entry.get("code"),
        path=entry.get("path"),
        line=entry.get("line"),
    )
