"""Findings about tables the database does not have yet: there is nothing on them to lose.

"Drops column x, losing its values" or "changes the type, rewriting the table" is true of a
table with rows that running code reads. A table the database does not have has neither:
the plan creates it first (with only the rows the plan itself writes, and no server of an
earlier release knows it) or the statement finds nothing (``DROP TABLE IF EXISTS``). Such a
destructive finding (SM1xx) is reported at ``info`` with the reason, and the gate lets it
through. A database with no tables at all (a fresh one that runs the whole history) goes
further: every table any statement touches comes from the plan, so the size-bound locking
findings are harmless too, even where lint cannot name their table (``f"... {table}"`` in a
loop over a constant).

A correctness finding (an operation SQLite cannot run) fails on an empty table as well, and
is not judged here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from flask_safemigrate import history
from flask_safemigrate.live.gate import SIZE_BOUND
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path
from flask_safemigrate.upgrade.adoption import SQL_TOUCHES, changes_of

__all__ = ["EMPTY_DATABASE", "FAMILIES", "SQL_FROM_BASE", "judge"]

#: The rule families judged by the table they act on: destructive operations.
FAMILIES = ("SM1",)

#: Why a finding is harmless when the database was read and has no tables.
EMPTY_DATABASE = "the database has no tables yet: the plan creates every table it touches"
#: Why with ``--sql`` from base: the SQL is for an empty database; the database is not read,
#: so nothing may be said of what it holds.
SQL_FROM_BASE = (
    "the SQL starts at base, for an empty database, and the plan creates every table it"
    " touches; --sql does not read the database"
)


def judge(
    findings: Sequence[Finding],
    plan: Sequence[history.Script],
    dialect: str | None,
    existing: Callable[[], set[str]],
    empty: str = EMPTY_DATABASE,
) -> list[Finding]:
    """``findings``, those about tables the database does not have held at ``info``.

    ``existing`` reads the app's tables in the database now (lower case; not the version
    table nor the ledger), only when a finding needs it; ``empty`` says why every finding is
    harmless when it finds none.
    """
    wanted = [
        f
        for f in findings
        if ((f.code or "").startswith(FAMILIES) or f.code in SIZE_BOUND)
        and f.severity is not Severity.INFO
        and f.extra.get("direction") != "downgrade"
        and f.line
    ]
    if not wanted:
        return list(findings)
    live = existing()
    if not live:
        return [_harmless(f, empty, None) if f in wanted else f for f in findings]
    created: dict[str, str] = {}  # table -> the pending revision that first creates it
    tables_at: dict[str, dict[int, list[str]]] = {}  # display path -> line -> tables
    for script in plan:
        for change in changes_of(script.path, dialect):
            if change.action == "create" and change.column is None:
                created.setdefault(change.table.lower(), script.revision)
        tables_at[display_path(script.path)] = _tables_by_line(script, dialect)
    out = []
    for finding in findings:
        about = tables_at.get(finding.path or "", {}).get(finding.line or 0, [])
        if (
            finding not in wanted
            or not (finding.code or "").startswith(FAMILIES)
            or not about
            or any(table in live for table in about)
        ):
            out.append(finding)
            continue
        table = about[0]
        why = f"`{table}` does not exist in this database yet" + (
            f"; pending revision {created[table]} creates it" if table in created else ""
        )
        out.append(_harmless(finding, why, created.get(table)))
    return out


def _harmless(finding: Finding, why: str, creator: str | None) -> Finding:
    extra = {**finding.extra, "harmless": True}
    if creator is not None:
        extra["created_in_plan"] = creator
    return replace(
        finding,
        severity=Severity.INFO,
        message=f"{finding.message} (harmless here: {why})",
        extra=extra,
    )


def _tables_by_line(script: history.Script, dialect: str | None) -> dict[int, list[str]]:
    """The tables of each ``upgrade()`` operation (and of literal ``DROP``/``ALTER TABLE``
    SQL), by the lines a finding may name."""
    from flask_safemigrate.lint import engine

    parsed = engine.parse(script.path, engine.LintConfig(dialect=dialect or "auto"))
    if not isinstance(parsed, engine.Migration):
        return {}
    found: dict[int, list[str]] = {}
    for call in parsed.upgrade_calls:
        tables = [call.table.lower()] if call.table is not None else []
        if call.name == "execute" and call.sql:
            tables += [m["table"].lower() for m in SQL_TOUCHES.finditer(call.sql)]
        for line in {call.line, call.stmt_line}:
            found.setdefault(line, []).extend(tables)
    return found
