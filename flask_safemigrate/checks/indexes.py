"""``invalid-index``: a PostgreSQL index left INVALID, which ``IF NOT EXISTS`` then skips.

``CREATE INDEX CONCURRENTLY`` that fails or is cancelled (a lock timeout, a unique violation,
Ctrl-C) does not roll back: it leaves the index in the catalog marked ``indisvalid = false``.
PostgreSQL keeps updating it on every write but never uses it for a query, and a retry written
with ``IF NOT EXISTS`` (``op.create_index(..., if_not_exists=True)``) finds the name taken and
does nothing: the deploy "succeeds" without the index. Only dropping it and building it again
repairs that. (safe-upgrade's own guards treat an INVALID index as missing and rebuild it.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate.report import Finding, Severity

__all__ = ["invalid_index_findings", "invalid_indexes"]

_INVALID = sa.text(
    "SELECT n.nspname, c.relname, t.relname FROM pg_index i"
    " JOIN pg_class c ON c.oid = i.indexrelid"
    " JOIN pg_class t ON t.oid = i.indrelid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY 1, 2"
)


def invalid_indexes(connection: Connection) -> list[tuple[str, str, str]]:
    """``(schema, index, table)`` of every INVALID index (PostgreSQL only; ``[]`` elsewhere)."""
    if connection.dialect.name != "postgresql":
        return []
    return [(str(s), str(i), str(t)) for s, i, t in connection.execute(_INVALID)]


def invalid_index_findings(
    connection: Connection, database: str, pending_sources: Iterable[str] = ()
) -> list[Finding]:
    """One ``invalid-index`` finding per INVALID index of the database.

    A warning, unless a pending script names the index (``pending_sources``: their text,
    read only when there is an INVALID index; pass a generator to read them lazily):
    then its create would be skipped by ``IF NOT EXISTS`` or fail on the name, so it is an
    error. Only a sign of trouble outside a running build: an index another session is
    building right now is INVALID until it finishes, which the message says.
    """
    invalid = invalid_indexes(connection)
    if not invalid:
        return []  # the usual case: the scripts' text is not read at all
    sources = list(pending_sources)
    findings = []
    for schema, index, table in invalid:
        qualified = index if schema == "public" else f"{schema}.{index}"
        named = [source for source in sources if _names(source, index)]
        # A script that asks guards.index_missing/index_exists about it has it rebuilt: the
        # guard drops an INVALID index and answers "missing" (what the crash tests resume on).
        rebuilt = bool(named) and all(_guarded(source, index) for source in named)
        if rebuilt:
            why = " (a pending revision checks it with guards.index_missing, which rebuilds it)"
        elif named:
            why = " (a pending revision creates an index of that name)"
        else:
            why = ""
        findings.append(
            Finding(
                rule="invalid-index",
                severity=Severity.ERROR if named and not rebuilt else Severity.WARNING,
                message=(
                    f"Index {qualified} on table {table} of {database} is INVALID: a CREATE"
                    " INDEX CONCURRENTLY failed or was interrupted (or is running right now),"
                    " PostgreSQL does not use it, and a create with IF NOT EXISTS skips it" + why
                ),
                help=(
                    f"unless a build is running now, run `DROP INDEX CONCURRENTLY {qualified};`"
                    " then run safe-upgrade again (a revision that created it with IF NOT"
                    " EXISTS: downgrade it first, or create the index again in a new revision)"
                ),
                extra={"database": database, "schema": schema, "index": index, "table": table},
            )
        )
    return findings


def _names(source: str, index: str) -> bool:
    return any(f"{quote}{index}{quote}" in source for quote in ("'", '"'))


def _guarded(source: str, index: str) -> bool:
    """Whether ``source`` asks ``index_missing``/``index_exists`` about ``index``."""
    name = re.escape(index)
    return re.search(rf"index_(?:missing|exists)\(\s*[^()]*?['\"]{name}['\"]", source) is not None
