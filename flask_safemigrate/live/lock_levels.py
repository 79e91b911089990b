"""Which lock a statement takes on its table, and what that does to the app, per dialect.

What ``--dry-run`` prints next to each statement's table and size. The levels are the
servers' documented ones: PostgreSQL's table-level lock modes (``ALTER TABLE`` takes
ACCESS EXCLUSIVE unless noted), InnoDB's online DDL (a metadata lock at the start and end;
``LOCK=NONE`` where writes continue, a table copy where they do not), and SQLite's one
database write lock: ``ALTER TABLE ADD COLUMN`` and ``CREATE INDEX`` run in place, and a
batch block copies the table only when Alembic recreates it (:mod:`.batch_copy`). SQLite's
``ALTER TABLE DROP COLUMN`` is no catalog change: it "rewrites the entire table to purge the
data associated with that column" (sqlite.org, lang_altertable.html), and ``DROP TABLE`` and
``DROP INDEX`` free every page they held; all three take time in proportion to the table's
(or index's) size (``benchmarks/sqlite_ddl.py``).
"""

from __future__ import annotations

from typing import Final

from flask_safemigrate.live.statements import Statement

__all__ = ["lock_of"]

_BRIEF = "brief: catalog change only"
_PG_EXCLUSIVE = "ACCESS EXCLUSIVE"
_PG: Final[dict[str, tuple[str, str]]] = {
    "create_index": ("SHARE", "blocks writes until the index is built"),
    "create_index+concurrently": ("SHARE UPDATE EXCLUSIVE", "reads and writes continue"),
    "drop_index": (_PG_EXCLUSIVE, "blocks reads and writes while it waits and drops"),
    "drop_index+concurrently": ("SHARE UPDATE EXCLUSIVE", "reads and writes continue"),
    "add_column": (_PG_EXCLUSIVE, "brief, unless the default is volatile (rewrites the table)"),
    "drop_column": (_PG_EXCLUSIVE, _BRIEF),
    "alter_column+type": (_PG_EXCLUSIVE, "blocks reads and writes; most type changes rewrite"),
    "alter_column+not_null": (_PG_EXCLUSIVE, "blocks reads and writes while it scans the table"),
    "alter_column+other": (_PG_EXCLUSIVE, _BRIEF),
    "create_unique_constraint": (_PG_EXCLUSIVE, "blocks reads and writes while it builds"),
    "create_primary_key": (_PG_EXCLUSIVE, "blocks reads and writes while it builds"),
    "create_check_constraint": (_PG_EXCLUSIVE, "blocks reads and writes while it scans"),
    "create_exclude_constraint": (_PG_EXCLUSIVE, "blocks reads and writes while it builds"),
    "create_foreign_key": ("SHARE ROW EXCLUSIVE", "blocks writes while it scans to validate"),
    "drop_constraint": (_PG_EXCLUSIVE, _BRIEF),
    "drop_table": (_PG_EXCLUSIVE, "brief; the rows are gone"),
    "rename_table": (_PG_EXCLUSIVE, _BRIEF),
    "alter_table": (_PG_EXCLUSIVE, "depends on the actions: brief to a full rewrite"),
    "rewrite": (_PG_EXCLUSIVE, "blocks reads and writes while it rewrites the table"),
    "truncate": (_PG_EXCLUSIVE, "brief; the rows are gone"),
    "update": ("ROW EXCLUSIVE", "locks every row it changes until the revision commits"),
    "delete": ("ROW EXCLUSIVE", "locks every row it deletes until the revision commits"),
    "insert": ("ROW EXCLUSIVE", "writes rows; others continue"),
    "bulk_insert": ("ROW EXCLUSIVE", "writes rows; others continue"),
}
_MDL = "metadata lock"
_COPY = ("metadata lock, ALGORITHM=COPY", "blocks writes while the table is copied")
_MYSQL: Final[dict[str, tuple[str, str]]] = {
    "create_index": (_MDL + ", LOCK=NONE", "online: writes continue while it builds"),
    "drop_index": (_MDL, _BRIEF),
    "add_column": (_MDL + ", INSTANT or INPLACE", "writes continue (stored generated: copies)"),
    "drop_column": (_MDL + ", INPLACE", "rebuilds the table; writes continue"),
    "alter_column+type": _COPY,
    "alter_column+not_null": (_MDL + ", INPLACE", "rebuilds the table; writes continue"),
    "alter_column+other": (_MDL, _BRIEF),
    "create_unique_constraint": (_MDL + ", LOCK=NONE", "online: writes continue while it builds"),
    "create_primary_key": (_MDL + ", INPLACE", "rebuilds the table; writes continue"),
    "create_check_constraint": _COPY,
    "create_foreign_key": _COPY,
    "drop_constraint": (_MDL, _BRIEF),
    "drop_table": (_MDL, "brief; the rows are gone"),
    "rename_table": (_MDL, _BRIEF),
    "alter_table": (_MDL, "depends on the actions: instant to a table copy"),
    "truncate": (_MDL, "brief; the rows are gone"),
    "update": ("row locks", "locks every row it changes until the revision commits"),
    "delete": ("row locks", "locks every row it deletes until the revision commits"),
    "insert": ("row locks", "writes rows; others continue"),
    "bulk_insert": ("row locks", "writes rows; others continue"),
}
_SQLITE_LOCK = "database write lock"
_SQLITE_WAIT = "other writers wait until the revision commits"
_SQLITE_FAILS = (
    "fails: SQLite's ALTER TABLE cannot do this; run it in op.batch_alter_table (which copies"
    " the table)"
)
#: SQLite, a statement outside a batch block that copies: what it does in place.
_SQLITE: Final[dict[str, str]] = {
    "create_index": f"builds the index in place, no table copy; {_SQLITE_WAIT}",
    "update": _SQLITE_WAIT,
    "delete": _SQLITE_WAIT,
    "insert": _SQLITE_WAIT,
    "bulk_insert": _SQLITE_WAIT,
    "add_column": "brief: ALTER TABLE ADD COLUMN changes the catalog only",
    "drop_column": "rewrites every row of the table to purge the column's values (no copy, but"
    f" time grows with the table's size); {_SQLITE_WAIT}",
    "drop_table": "frees every page of the table (time grows with its size); the rows are gone;"
    f" {_SQLITE_WAIT}",
    "drop_index": f"frees every page of the index (time grows with its size); {_SQLITE_WAIT}",
    "alter_table": "depends on the actions: ADD COLUMN and RENAME change the catalog only,"
    f" DROP COLUMN rewrites every row; {_SQLITE_WAIT}",
    "rename_table": _BRIEF,
    "alter_column+type": _SQLITE_FAILS,
    "alter_column+not_null": _SQLITE_FAILS,
    "alter_column+other": "brief if it only renames the column (a catalog change); any other"
    " change fails: SQLite's ALTER TABLE cannot do it outside op.batch_alter_table",
    "create_unique_constraint": _SQLITE_FAILS,
    "create_primary_key": _SQLITE_FAILS,
    "create_check_constraint": _SQLITE_FAILS,
    "create_foreign_key": _SQLITE_FAILS,
    "drop_constraint": _SQLITE_FAILS,
}


def lock_of(statement: Statement, dialect: str | None) -> tuple[str, str]:
    """``(lock level, expected impact)`` of the statement on its dialect."""
    key = statement.kind
    if statement.change:
        key += "+" + statement.change
    elif statement.concurrently:
        key += "+concurrently"
    if dialect == "postgresql":
        return _PG.get(key, _PG.get(statement.kind, (_PG_EXCLUSIVE, "unknown: judge it")))
    if dialect == "mysql":
        return _MYSQL.get(key, _MYSQL.get(statement.kind, (_MDL, "unknown: judge it")))
    if dialect == "sqlite":
        return _SQLITE_LOCK, _sqlite_impact(statement, key)
    return "unknown", "unknown dialect"


def _sqlite_impact(statement: Statement, key: str) -> str:
    """SQLite: a batch block that recreates its table copies it (every statement of the
    block is part of that copy); anything else runs in place."""
    verdict = statement.batch_copy
    if statement.batch and verdict is not None and verdict.copies is not False:
        if verdict.copies:
            return f"copies the table (batch mode recreates it: {verdict.why}); other writers wait"
        return (
            f"copies the table if batch mode recreates it (cannot tell: {verdict.why});"
            " other writers wait"
        )
    return _SQLITE.get(key, _SQLITE.get(statement.kind, "unknown: judge it"))
