"""A database whose schema is ahead of its recorded revision: adopting an existing database.

A project that built its database with ``db.create_all()`` or by hand (or whose history
starts after such a bootstrap) has tables while its version table is empty; one that was
stamped at too early a revision has the columns the next revisions add. ``flask db upgrade``
then fails on the first ``CREATE TABLE`` of a table that exists, halfway through a deploy.
Pre-flight sees it coming: it reads what the pending ``upgrade()`` functions create (tables
and columns, statically, on the live dialect's branches, unguarded) and asks the database
whether those already exist. The run stops before anything is written, with the path that
works: stamp the revision the schema matches, then run safe-upgrade again.

Read only, and on the side of letting the deploy go: a name that is not a literal, a table
in another schema, a guarded or ``IF NOT EXISTS`` create, one inside ``try:`` (its error may
be caught), and the multi-database template
(whose ``upgrade_<bind>()`` functions each run on another database) are not judged.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate import history
from flask_safemigrate.report import Finding, Severity

if TYPE_CHECKING:
    from flask_safemigrate.lint.calls import Call

__all__ = ["CHECK", "SQL_TOUCHES", "Change", "Clash", "changes_of", "finding", "schema_ahead"]

#: The finding's check name (safe-upgrade pre-flight, exit 3).
CHECK = "schema-ahead-of-revision"

_CREATE_TABLE = re.compile(
    r"^\s*CREATE\s+(?:TEMPORARY\s+|TEMP\s+)?TABLE\s+(?P<guard>IF\s+NOT\s+EXISTS\s+)?"
    r"[`\"\[]?(?P<name>\w+)[`\"\]]?\s*\(",
    re.IGNORECASE,
)
_OTHER_SCHEMA = re.compile(r"\bschema\s*=\s*(?!None\b)")
# Tables literal SQL drops, renames or alters: the plan touched them, so a later create of
# the name (or of one of its columns) is not judged.
SQL_TOUCHES = re.compile(
    r"\b(?:DROP|ALTER|RENAME)\s+TABLE\s+(?:IF\s+EXISTS\s+)?[`\"\[]?(?P<table>\w+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Change:
    """One step of a revision's ``upgrade()`` that creates or drops a table or a column."""

    action: str  # "create" or "drop"
    table: str
    column: str | None = None
    #: A create that is sure to run, unguarded, in the default schema: it fails on what
    #: exists. Other changes only tell that the plan touched the name.
    certain: bool = False
    line: int = 0

    @property
    def label(self) -> str:
        return (
            f"table {self.table}" if self.column is None else f"column {self.table}.{self.column}"
        )

    @property
    def key(self) -> tuple[str, str | None]:
        return _fold(self.table), None if self.column is None else _fold(self.column)


def changes_of(path: Path, dialect: str | None) -> list[Change]:
    """What ``upgrade()`` of the script at ``path`` creates and drops, in order.

    Every drop and rename counts, wherever it runs (the name may be free again after it);
    a create is ``certain`` only when it runs on ``dialect``, unguarded, outside ``try:``, in
    the default schema.
    """
    from flask_safemigrate.lint import engine

    config = engine.LintConfig(dialect=dialect or "auto")
    parsed = engine.parse(path, config)
    if not isinstance(parsed, engine.Migration):
        return []
    other_schema = bool(_OTHER_SCHEMA.search(parsed.source))
    tried = [
        (node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(parsed.tree)
        if isinstance(node, ast.Try | ast.TryStar)
    ]
    found: list[Change] = []
    for call in parsed.upgrade_calls:
        certain = not (
            call.guarded
            or call.flag("if_not_exists")
            or any(start <= call.line <= end for start, end in tried)  # the error may be caught
            or (dialect is not None and dialect not in call.dialects)
            or (call.receiver == "batch_op" and other_schema)  # the block's schema is not read
            or (call.has_keyword("schema") and call.value("schema") is not None)
        )
        for change in _changes(call):
            found.append(
                replace(change, certain=certain and change.action == "create", line=call.line)
            )
    return found


def _changes(call: Call) -> Iterator[Change]:
    name, table = call.name, call.table
    if name == "execute":
        sql = call.sql or ""
        match = _CREATE_TABLE.match(sql)
        if match is not None and match["guard"] is None:
            yield Change("create", match["name"])
        for touched in SQL_TOUCHES.finditer(sql):
            yield Change("drop", touched["table"])
        return
    if table is None:
        return
    if name == "create_table":
        yield Change("create", table)
    elif name == "drop_table":
        yield Change("drop", table)
    elif name == "rename_table":
        new = call.string("new_table_name")
        yield Change("drop", table)
        if new is not None:
            yield Change("drop", new)  # free before, taken after: either way not a clash
    elif name in {"add_column", "drop_column"} and call.column is not None:
        yield Change("create" if name == "add_column" else "drop", table, call.column)
    elif name == "alter_column" and call.column is not None:
        new = call.string("new_column_name")
        if new is not None:  # a rename frees one name and takes another
            yield Change("drop", table, call.column)
            yield Change("drop", table, new)


@dataclass
class _Live:
    """What the database has, asked once per table."""

    connection: Connection
    tables: set[str] = field(default_factory=set)
    columns: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, connection: Connection) -> _Live:
        names = sa.inspect(connection).get_table_names()
        return cls(connection, {_fold(n) for n in names})

    def has(self, change: Change) -> bool:
        table = _fold(change.table)
        if table not in self.tables:
            return False
        if change.column is None:
            return True
        if table not in self.columns:
            inspector = sa.inspect(self.connection)
            real = next(n for n in inspector.get_table_names() if _fold(n) == table)
            self.columns[table] = {_fold(c["name"]) for c in inspector.get_columns(real)}
        return _fold(change.column) in self.columns[table]


def _fold(name: str) -> str:
    """Names as the check compares them: without case (SQLite and MySQL on most systems
    ignore it; a PostgreSQL name differing only in case is rare enough not to matter here)."""
    return name.lower()


@dataclass(frozen=True)
class Clash:
    """The first pending revision that would create what exists, and where to stamp."""

    revision: str
    objects: list[str]
    #: The newest pending revision whose tables and columns all exist (every revision before
    #: it that creates something finding it there too); ``None`` when there is none.
    stamp: str | None


def schema_ahead(
    connection: Connection,
    plan: list[history.Script],
    dialect: str | None,
    *,
    ignore: set[str],
    failed: set[str],
) -> Clash | None:
    """The first pending revision that creates a table or column the database already has.

    ``ignore``: tables of the tool and of Alembic (version table, ledger). ``failed``:
    revisions with a failed attempt in the ledger; what such an attempt left behind (MariaDB
    keeps DDL) is the ledger check's business, so they are not judged here.
    """
    if not plan:
        return None
    live = _Live.read(connection)
    live.tables -= {_fold(n) for n in ignore}
    if not live.tables:
        return None  # an empty database: nothing can clash
    changes = {script.revision: changes_of(script.path, dialect) for script in plan}
    made: set[tuple[str, str | None]] = set()  # names the plan created or freed so far
    for script in plan:
        clashes: list[str] = []
        for change in changes[script.revision]:
            table, _ = change.key
            if (
                change.certain
                and (table, None) not in made
                and change.key not in made
                and live.has(change)
            ):
                clashes.append(change.label)
            made.add(change.key)
        if clashes and script.revision not in failed:
            return Clash(script.revision, list(dict.fromkeys(clashes)), _stamp(plan, changes, live))
    return None


def _stamp(plan: list[history.Script], changes: dict[str, list[Change]], live: _Live) -> str | None:
    stamp = None
    for script in plan:
        creates = [c for c in changes[script.revision] if c.certain]
        if creates and not all(live.has(c) for c in creates):
            break
        if creates:
            stamp = script.revision
    return stamp


def finding(clash: Clash, label: str, at: str, *, recorded: bool, ddl_kept: bool) -> Finding:
    """The pre-flight finding: what exists, what the revision would create, what to do."""
    what = ", ".join(clash.objects[:5]) + (
        f" and {len(clash.objects) - 5} more" if len(clash.objects) > 5 else ""
    )
    if recorded:
        how = (
            f"{label} is at {at}, but it already has {what}, which pending revision"
            f" {clash.revision} creates: its schema is ahead of the revision it records"
            " (stamped at too early a revision?"
            + (" or the leftover of a killed run: this database keeps DDL)." if ddl_kept else ")")
        )
    else:
        how = (
            f"{label} has no revision recorded, but it already has {what}, which pending"
            f" revision {clash.revision} creates: the database was built outside migrations"
            " (db.create_all() or by hand)."
        )
    if clash.stamp is not None:
        todo = (
            f"if its schema is that of revision {clash.stamp} (the newest whose tables and"
            f" columns all exist), record it with `flask db stamp {clash.stamp}`, then run"
            " `flask db safe-upgrade` again; nothing was changed"
        )
    else:
        todo = (
            "record the revision its schema matches with `flask db stamp REVISION`, then run"
            " `flask db safe-upgrade` again; nothing was changed"
        )
    return Finding(
        rule=CHECK,
        severity=Severity.ERROR,
        message=how,
        help=todo,
        extra={"revision": clash.revision, "objects": clash.objects, "stamp": clash.stamp},
    )
