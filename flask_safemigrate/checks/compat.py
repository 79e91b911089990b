"""``breaks-previous-release``: the previous release's models (its snapshot) against the schema
the migrations build, each finding with the expand/contract sequence that makes it safe.

In a rolling deploy (and after a rollback of the app) the release before runs against the
migrated schema. It breaks when the schema drops or renames a table or column it maps, needs
a value its inserts do not give (a NOT NULL column without a server default), no longer
holds its values (a narrower type, a removed enum value), or (a warning) refuses rows it may
write (a new unique key or check). Both sides are described as
:mod:`flask_safemigrate.models_snapshot` describes models; "release N" below is the one
running, N+1 the one deployed with these migrations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask_safemigrate.compat.fit import narrowing
from flask_safemigrate.report import Finding, Severity

__all__ = ["ADVICE", "breaking_findings"]

Tables = Mapping[str, Mapping[str, Any]]

#: The expand/contract sequence for each kind of break (``{t}`` the table, ``{c}`` the column).
ADVICE: Mapping[str, str] = {
    "table-dropped": (
        "expand/contract: release N+1 stops using table {t} (its model removed, the table"
        " kept); release N+2 drops it. To rename it: N+1 creates the new table and writes"
        " both, backfill, N+2 reads only the new one, N+3 drops {t}"
    ),
    "column-dropped": (
        "expand/contract: release N+1 removes {t}.{c} from the models and keeps the column"
        " (nullable or with a server default, so N+1's inserts work); release N+2 drops it."
        " To rename it: N+1 adds the new column and writes both, backfill, N+2 reads only the"
        " new one, N+3 drops {t}.{c}"
    ),
    "not-null-added": (
        "expand/contract: add {t}.{c} nullable or with a server default (the running release"
        " inserts without it) in a release whose models set it on every insert; backfill"
        " the rows; make it NOT NULL in the release after, when no older one runs"
    ),
    "made-not-null": (
        "expand/contract: release N+1's models always set {t}.{c} (a value or a Python"
        " default) and the rows are backfilled; release N+2 makes it NOT NULL. Or give it a"
        " server default in this migration"
    ),
    "type-narrowed": (
        "expand/contract: release N+1 writes only values that fit the new type (for an enum:"
        " stops writing the removed value) and migrates the rows that do not; release N+2"
        " narrows {t}.{c}. Or add a new column of the new type, write both and backfill in"
        " N+1, read it in N+2, drop {t}.{c} in N+3"
    ),
    "unique-added": (
        "expand/contract: release N+1 stops writing duplicates (it checks first, or handles"
        " the conflict) and the existing ones are cleaned; release N+2 adds the unique key"
        " (on PostgreSQL, its index built CONCURRENTLY first)"
    ),
    "check-added": (
        "expand/contract: release N+1 writes only rows that pass the check and the existing"
        " ones are fixed; release N+2 adds it (on PostgreSQL NOT VALID, then VALIDATE)"
    ),
}


def _finding(
    kind: str, table: str, column: str | None, what: str, old: str, bind: str | None
) -> Finding:
    where = table if column is None else f"{table}.{column}"
    label = "" if bind is None else f" (bind {bind!r})"
    warning = kind in ("unique-added", "check-added")
    impact = "may be refused" if warning else "fails"
    return Finding(
        rule="breaks-previous-release",
        severity=Severity.WARNING if warning else Severity.ERROR,
        message=(
            f"{where}{label}: {what}; the previous release ({old}) {impact} against the"
            " schema the migrations build"
        ),
        help=ADVICE[kind].format(t=table, c=column),
        extra={"table": table, "column": column, "change": kind, "bind": bind},
    )


def _requires_value(column: Mapping[str, Any]) -> bool:
    """Whether an insert must name ``column`` (NOT NULL, no server default, not generated)."""
    return (
        not column.get("nullable", True)
        and column.get("server_default") is None
        and column.get("insert_default") != "autoincrement"
    )


def _normalized(check: str) -> str:
    """A check's SQL as databases read it back differently: no quotes, brackets or spaces."""
    return re.sub(r"[\s()`\"\[\]]", "", check).lower()


def _columns(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """``(kind, column, what)`` for each column-level break of a table."""
    found = []
    new_columns = new.get("columns", {})
    for column, before in sorted(old.get("columns", {}).items()):
        after = new_columns.get(column)
        if after is None:
            found.append(("column-dropped", column, "column dropped or renamed"))
            continue
        supplied = before.get("insert_default") is not None
        if _requires_value(after) and not supplied and not _requires_value(before):
            found.append(("made-not-null", column, "made NOT NULL without a server default"))
        narrowed = narrowing(before, after)
        if narrowed is not None:
            found.append(("type-narrowed", column, f"type narrowed: {narrowed}"))
    for column, after in sorted(new_columns.items()):
        if column not in old.get("columns", {}) and _requires_value(after):
            found.append(
                ("not-null-added", column, "NOT NULL column without a server default added")
            )
    return found


def _keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str | None, str]]:
    found: list[tuple[str, str | None, str]] = []
    known = {tuple(key) for key in old.get("unique", [])}
    known.add(tuple(old.get("primary_key", [])))
    for key in sorted({tuple(key) for key in new.get("unique", [])} - known):
        columns = ", ".join(key)
        found.append(
            ("unique-added", key[0] if len(key) == 1 else None, f"unique ({columns}) added")
        )
    checks = {_normalized(check) for check in old.get("checks", [])}
    for check in sorted(new.get("checks", [])):
        if _normalized(check) not in checks and "json_valid" not in check.lower():
            found.append(("check-added", None, f"check ({check}) added"))
    return found


def breaking_findings(old: Tables, new: Tables, old_label: str, bind: str | None) -> list[Finding]:
    """``breaks-previous-release`` for one database: ``old`` the previous release's tables
    (its snapshot), ``new`` the tables the migrations build, both keyed by table name
    (``schema.name`` outside the default schema)."""
    findings = []
    for name, before in sorted(old.items()):
        after = new.get(name)
        if after is None:
            findings.append(
                _finding("table-dropped", name, None, "table dropped or renamed", old_label, bind)
            )
            continue
        for kind, column, what in [*_columns(before, after), *_keys(before, after)]:
            findings.append(_finding(kind, name, column, what, old_label, bind))
    return findings
