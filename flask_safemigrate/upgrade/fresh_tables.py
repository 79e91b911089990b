"""Destructive findings on a table this deploy creates: there is nothing on it to lose yet.

"Drops column x, losing its values" or "changes the type, rewriting the table" is true of a
table with rows that running code reads. A table that the database does not have, and that
an earlier step of the same plan creates, has neither: only the rows the plan itself writes,
and no server of an earlier release knows it. That is every table of a fresh database built
by running the whole history, and the new tables of any release. Such a finding is reported
at ``info`` with the revision that creates the table, and the gate lets it through.

Only the destructive family (SM1xx): whether a lock on a table matters is judged by its live
size elsewhere, and a correctness finding (an operation SQLite cannot run) fails on an empty
table as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from flask_safemigrate import history
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path
from flask_safemigrate.upgrade.adoption import changes_of

__all__ = ["FAMILIES", "judge"]

#: The rule families judged here: destructive operations.
FAMILIES = ("SM1",)


def judge(
    findings: Sequence[Finding],
    plan: Sequence[history.Script],
    dialect: str | None,
    existing: Callable[[], set[str]],
) -> list[Finding]:
    """``findings``, those about a table the plan creates before them held at ``info``.

    ``existing`` reads the tables the database has now (lower case), only when a finding
    needs it: a create the plan guards with an existence check may find the table there,
    rows and all.
    """
    wanted = [
        f
        for f in findings
        if (f.code or "").startswith(FAMILIES) and f.severity is not Severity.INFO and f.line
    ]
    if not wanted:
        return list(findings)
    live = existing()
    created: dict[str, tuple[int, int, str]] = {}  # table -> (script index, line, revision)
    tables_at: dict[str, tuple[int, dict[int, str]]] = {}  # display path -> index, line -> table
    for index, script in enumerate(plan):
        for change in changes_of(script.path, dialect):
            table = change.table.lower()
            if change.action == "create" and change.column is None and table not in live:
                created.setdefault(table, (index, change.line, script.revision))
        tables_at[display_path(script.path)] = (index, _tables_by_line(script, dialect))
    out = []
    for finding in findings:
        if finding not in wanted or finding.path not in tables_at:
            out.append(finding)
            continue
        index, lines = tables_at[finding.path]
        about = lines.get(finding.line or 0)
        made = created.get(about or "")
        if about is None or made is None or (made[0], made[1]) >= (index, finding.line or 0):
            out.append(finding)
            continue
        out.append(
            replace(
                finding,
                severity=Severity.INFO,
                message=f"{finding.message} (harmless here: `{about}` does not exist yet;"
                f" pending revision {made[2]} creates it)",
                extra={**finding.extra, "created_in_plan": made[2]},
            )
        )
    return out


def _tables_by_line(script: history.Script, dialect: str | None) -> dict[int, str]:
    """The table of each ``upgrade()`` operation, by the lines a finding may name."""
    from flask_safemigrate.lint import engine

    parsed = engine.parse(script.path, engine.LintConfig(dialect=dialect or "auto"))
    if not isinstance(parsed, engine.Migration):
        return {}
    found: dict[int, str] = {}
    for call in parsed.upgrade_calls:
        if call.table is not None:
            found.setdefault(call.line, call.table.lower())
            found.setdefault(call.stmt_line, call.table.lower())
    return found
