"""``breaks-previous-release``: the previous release's models (its snapshot) against the schema
the migrations build, each finding with the expand/contract sequence that makes it safe.

In a rolling deploy (and after a rollback of the app) the release before runs against the
migrated schema. It breaks when the schema drops or renames a table or column it maps, needs
a value its inserts do not give (a NOT NULL column without a server default), no longer
holds its values (a narrower type, a removed enum value), or (a warning) refuses rows it may
write (a new unique key or check). Both sides are described as
:mod:`flask_safemigrate.models_snapshot` describes models; "release N" below is the one
running, N+1 the one deployed with these migrations.

A column rename the caller knows the migrations perform (both commands read their pending
scripts: :mod:`flask_safemigrate.compat.breaks`) is one ``column-renamed`` break: the old
column is compared with the one it became, so its NOT NULL, unique key or checks, which came
with it, are not reported as added under the new name; a change the rename made besides (a
narrower type, NOT NULL where the column was nullable) still is. A rename not known (SQL built
at run time) reads as the old column dropped and a new one added.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.type_fit import narrowing

__all__ = ["ADVICE", "ENUM_NARROWED_ADVICE", "Renamed", "Tables", "advice", "breaking_findings"]

Tables = Mapping[str, Mapping[str, Any]]
#: ``renamed(table, column)``: the name the migrations give a column of the old release's
#: snapshot (any case), or ``None`` when it keeps its name or is not known to be renamed.
Renamed = Callable[[str, str], str | None]


def _not_renamed(table: str, column: str) -> str | None:
    return None


#: The expand/contract sequence for each kind of break (``{t}`` the table, ``{c}`` the column,
#: ``{n}`` the new name of a renamed one).
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
    "column-renamed": (
        "expand/contract: release N+1 adds {t}.{n} beside {t}.{c} (nullable, or with a server"
        " default) and writes both, and its migration backfills it (UPDATE {t} SET {n} = {c});"
        " release N+2 reads and writes only {t}.{n} ({t}.{c} leaves the models, nullable or"
        " with a server default); release N+3 drops {t}.{c}"
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
        "expand/contract: release N+1 writes only values that fit the new type and migrates"
        " the rows that do not; release N+2 narrows {t}.{c}. Or add a new column of the new"
        " type, write both and backfill in N+1, read it in N+2, drop {t}.{c} in N+3"
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


#: ``type-narrowed``'s advice when the old type is an enum (a value removed, or the enum made
#: a string too short for one): there the fix is to stop writing that value.
ENUM_NARROWED_ADVICE: str = (
    "expand/contract: release N+1 stops writing the removed value (or the values too long for"
    " the new type) and migrates the rows that hold it; release N+2 narrows {t}.{c}. Or add a"
    " new column of the new type, write both and backfill in N+1, read it in N+2, drop {t}.{c}"
    " in N+3"
)


def advice(
    kind: str, table: str, column: str | None, renamed_to: str | None = None, *, enum: bool = False
) -> str:
    """The expand/contract advice for one break, fitted to it: ``enum`` (a narrowed enum
    column) gets :data:`ENUM_NARROWED_ADVICE`, a string or number the plain one."""
    template = ENUM_NARROWED_ADVICE if kind == "type-narrowed" and enum else ADVICE[kind]
    return template.format(t=table, c=column, n=renamed_to)


def _finding(
    kind: str,
    table: str,
    column: str | None,
    what: str,
    old: str,
    bind: str | None,
    renamed_to: str | None = None,
    *,
    enum: bool = False,
) -> Finding:
    where = table if column is None else f"{table}.{column}"
    label = "" if bind is None else f" (bind {bind!r})"
    warning = kind in ("unique-added", "check-added")
    impact = "may be refused" if warning else "fails"
    extra: dict[str, Any] = {"table": table, "column": column, "change": kind, "bind": bind}
    if kind == "column-renamed":
        extra["renamed_to"] = renamed_to
    return Finding(
        rule="breaks-previous-release",
        severity=Severity.WARNING if warning else Severity.ERROR,
        message=(
            f"{where}{label}: {what}; the previous release ({old}) {impact} against the"
            " schema the migrations build"
        ),
        help=advice(kind, table, column, renamed_to, enum=enum),
        extra=extra,
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


def _renames(
    table: str, old: Mapping[str, Any], new: Mapping[str, Any], renamed: Renamed
) -> dict[str, str]:
    """Each column of ``old`` the migrations rename to a column ``new`` has: old name to new
    (as ``new`` spells it). A rename to a name the new table lacks (dropped after, or not
    mapped) is left out: the old column then reads as dropped."""
    spelled = {name.lower(): name for name in new.get("columns", {})}
    found = {}
    for column in old.get("columns", {}):
        target = renamed(table, column)
        after = spelled.get(target.lower()) if target is not None else None
        if after is not None and after != column:
            found[column] = after
    return found


def _enum_columns(old: Mapping[str, Any], renames: Mapping[str, str]) -> set[str]:
    """The columns that were enums in ``old``, by the name the findings use (a renamed
    column's new name)."""
    return {
        renames.get(column, column)
        for column, described in old.get("columns", {}).items()
        if described.get("type") == "enum"
    }


def _columns(
    old: Mapping[str, Any], new: Mapping[str, Any], renames: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """``(kind, column, what)`` for each column-level break of a table; a renamed column is
    compared with the column it became."""
    found = []
    new_columns = new.get("columns", {})
    for column, before in sorted(old.get("columns", {}).items()):
        target = renames.get(column)
        after = new_columns.get(column if target is None else target)
        if after is None:
            found.append(("column-dropped", column, "column dropped or renamed"))
            continue
        subject, was = column, ""
        if target is not None:  # what else changed is said of the new column
            found.append(("column-renamed", column, f"column renamed to {target}"))
            subject, was = target, f" (renamed from {column})"
        supplied = before.get("insert_default") is not None
        if _requires_value(after) and not supplied and not _requires_value(before):
            found.append(("made-not-null", subject, f"made NOT NULL without a server default{was}"))
        narrowed = narrowing(before, after)
        if narrowed is not None:
            found.append(("type-narrowed", subject, f"type narrowed: {narrowed}{was}"))
    targets = set(renames.values())
    for column, after in sorted(new_columns.items()):
        added = column not in old.get("columns", {}) and column not in targets
        if added and _requires_value(after):
            found.append(
                ("not-null-added", column, "NOT NULL column without a server default added")
            )
    return found


#: A check's SQL in pieces: a string literal (kept as it is) or a word (a column, maybe).
_CHECK_WORDS = re.compile(r"'(?:[^']|'')*'|\b[A-Za-z_][\w$]*\b")


def _renamed_check(check: str, renames: Mapping[str, str]) -> str:
    """``check`` with each renamed column's old name replaced by its new one, as the database
    rewrites a check on a rename (string literals untouched)."""
    lower = {old.lower(): new for old, new in renames.items()}
    if not lower:
        return check
    return _CHECK_WORDS.sub(lambda word: lower.get(word.group().lower(), word.group()), check)


def _numbered_new_columns(
    old: Mapping[str, Any], new: Mapping[str, Any], renames: Mapping[str, str]
) -> set[str]:
    """The columns of ``new`` that ``old`` lacks and the database numbers on insert."""
    had = {renames.get(column, column) for column in old.get("columns", {})}
    return {
        name
        for name, column in new.get("columns", {}).items()
        if name not in had and column.get("insert_default") == "autoincrement"
    }


def _keys(
    old: Mapping[str, Any], new: Mapping[str, Any], renames: Mapping[str, str]
) -> list[tuple[str, str | None, str]]:
    """A key or check of ``new`` that ``old`` lacks, a renamed column read by its new name."""
    found: list[tuple[str, str | None, str]] = []
    known = {tuple(renames.get(c, c) for c in key) for key in old.get("unique", [])}
    known.add(tuple(renames.get(c, c) for c in old.get("primary_key", [])))
    numbered = _numbered_new_columns(old, new, renames)
    for key in sorted({tuple(key) for key in new.get("unique", [])} - known):
        if numbered.intersection(key):
            continue  # the running release never writes it: each of its rows gets a new number
        columns = ", ".join(key)
        found.append(
            ("unique-added", key[0] if len(key) == 1 else None, f"unique ({columns}) added")
        )
    checks = {_normalized(_renamed_check(check, renames)) for check in old.get("checks", [])}
    for check in sorted(new.get("checks", [])):
        if _normalized(check) not in checks and "json_valid" not in check.lower():
            found.append(("check-added", None, f"check ({check}) added"))
    return found


def breaking_findings(
    old: Tables,
    new: Tables,
    old_label: str,
    bind: str | None,
    renamed: Renamed = _not_renamed,
) -> list[Finding]:
    """``breaks-previous-release`` for one database: ``old`` the previous release's tables
    (its snapshot), ``new`` the tables the migrations build, both keyed by table name
    (``schema.name`` outside the default schema); ``renamed`` the column renames the
    migrations are known to perform."""
    findings = []
    for name, before in sorted(old.items()):
        after = new.get(name)
        if after is None:
            findings.append(
                _finding("table-dropped", name, None, "table dropped or renamed", old_label, bind)
            )
            continue
        renames = _renames(name, before, after, renamed)
        enums = _enum_columns(before, renames)
        for kind, column, what in [
            *_columns(before, after, renames),
            *_keys(before, after, renames),
        ]:
            target = renames.get(column) if kind == "column-renamed" and column else None
            enum = kind == "type-narrowed" and column in enums
            findings.append(_finding(kind, name, column, what, old_label, bind, target, enum=enum))
    return findings
