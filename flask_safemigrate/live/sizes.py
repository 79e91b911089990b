"""How big the tables a plan touches are right now: one cheap read per database.

Pre-flight asks once for every table, never once per table (a deploy of 200 revisions must
not pay 200 round trips), and never counts a big table's rows on a server:

- PostgreSQL: ``pg_class`` and ``pg_total_relation_size`` (table, indexes and TOAST). Rows
  are estimated as the planner does: ``reltuples`` per page of the last ANALYZE/VACUUM
  scaled to the pages the table has now; a table never analysed (``reltuples = -1``, or 0
  pages then) falls back to the statistics' live-row count, then to the most rows its pages
  can hold; an empty heap is 0 rows. An
  unqualified name is looked up along the search path, first schema first.
- MariaDB/MySQL: ``information_schema.tables`` (``table_rows`` is InnoDB's estimate, and
  says so; ``data_length + index_length`` the size).
- SQLite: a bounded count, ``SELECT count(*) FROM (SELECT 1 FROM t LIMIT N+1)``: exact for
  a small table, "more than N" for a large one, never a full scan of it.

Names are always bound as parameters. SQLite's count is the one statement that must name the
table in SQL: it names only tables the catalog listed (looked up by a bound parameter), in
the dialect's quoting, which doubles any quote inside the name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["TableKey", "TableSize", "format_bytes", "read_sizes"]

#: ``(schema or None, table)`` as the scripts name it.
TableKey = tuple[str | None, str]


@dataclass(frozen=True)
class TableSize:
    """What the database says of one table.

    ``rows`` is ``None`` when it cannot be told (PostgreSQL never analysed it and its
    statistics have no count yet). ``estimated``: the server's estimate, not a count;
    ``at_least``: a bounded count that stopped (SQLite, more than the limit).
    """

    exists: bool
    rows: int | None = None
    size_bytes: int | None = None
    estimated: bool = False
    at_least: bool = False
    note: str | None = None

    def describe(self) -> str:
        """``~3,200,000 rows (estimate), 1.1 GB``, ``0 rows, 16 kB``, ``does not exist``."""
        if not self.exists:
            return "does not exist"
        if self.rows is None:
            rows = f"rows unknown ({self.note})" if self.note else "rows unknown"
        elif self.at_least:
            rows = f"more than {self.rows - 1:,} rows"
        elif self.estimated and self.rows:
            rows = f"~{self.rows:,} rows ({self.note or 'an estimate'})"
        else:
            rows = f"{self.rows:,} {'row' if self.rows == 1 else 'rows'}"
        if self.size_bytes is None:
            return rows
        return f"{rows}, {format_bytes(self.size_bytes)}"


def format_bytes(count: int) -> str:
    """``16 kB``, ``18.4 MB``, ``1.1 GB`` (powers of 1024, as the servers' tools print)."""
    size = float(count)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit in {"bytes", "kB"} else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def read_sizes(
    connection: Connection, tables: Iterable[TableKey], *, limit: int
) -> dict[TableKey, TableSize]:
    """The size of every table in ``tables`` (absent ones too), in one read per dialect.

    ``limit`` bounds SQLite's count (it stops at ``limit + 1`` rows). Raises
    ``sqlalchemy.exc.SQLAlchemyError`` when the server refuses or the connection drops: the
    caller falls back to judging without sizes.
    """
    wanted = sorted(set(tables), key=lambda key: (key[0] or "", key[1]))
    if not wanted:
        return {}
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return _postgresql(connection, wanted)
    if dialect in ("mysql", "mariadb"):
        return _mysql(connection, wanted)
    if dialect == "sqlite":
        return _sqlite(connection, wanted, limit)
    return {}


def _pick(rows: Iterable[Mapping[str, Any]], key: TableKey) -> Mapping[str, Any] | None:
    """The catalog row for ``key``: the exact name before a case-folded match, and for an
    unqualified name the schema first on the search path (``position``)."""
    schema, name = key
    matches = [
        row
        for row in rows
        if row["relname"].lower() == name.lower()
        and (schema is None or row["nspname"].lower() == schema.lower())
    ]
    matches.sort(key=lambda row: (row["relname"] != name, row.get("position") or 0))
    return matches[0] if matches else None


_PG_QUERY = sa.text(
    "SELECT n.nspname, c.relname, c.reltuples, c.relpages,"
    " pg_relation_size(c.oid) AS heap, pg_total_relation_size(c.oid) AS total,"
    " current_setting('block_size')::int AS block, s.n_live_tup,"
    " array_position(current_schemas(false), n.nspname::text) AS position"
    " FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid"
    " WHERE c.relkind IN ('r', 'p', 'm') AND lower(c.relname) = ANY(CAST(:names AS text[]))"
    " AND (n.nspname = ANY(current_schemas(false))"
    " OR lower(n.nspname) = ANY(CAST(:schemas AS text[])))"
)


#: The same tables from ``pg_class`` alone, which takes no lock on them: what pre-flight
#: falls back to when a table is locked (its pages and rows as of the last VACUUM/ANALYZE).
_PG_UNLOCKED_QUERY = sa.text(
    "SELECT n.nspname, c.relname, c.reltuples,"
    " array_position(current_schemas(false), n.nspname::text) AS position"
    " FROM pg_class c"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p', 'm') AND lower(c.relname) = ANY(CAST(:names AS text[]))"
    " AND (n.nspname = ANY(current_schemas(false))"
    " OR lower(n.nspname) = ANY(CAST(:schemas AS text[])))"
)

#: How long the size read waits for a table's lock. ``pg_relation_size`` takes ACCESS SHARE
#: on each table: behind another replica's running migration (ACCESS EXCLUSIVE) it would wait
#: until that migration ends, before this run even reaches the migration lock's queue.
PG_SIZE_LOCK_WAIT_MS = 1000

#: SQLSTATE ``lock_not_available``: the lock timeout expired.
_LOCK_NOT_AVAILABLE = "55P03"


def _postgresql(connection: Connection, wanted: list[TableKey]) -> dict[TableKey, TableSize]:
    """Sizes with a bounded wait for the tables' locks; a locked table is read from the
    catalog alone, its rows the last ANALYZE's estimate (unknown without one), never "empty".

    Runs in the connection's transaction and rolls it back when a lock wait expired.
    """
    params = {
        "names": sorted({name.lower() for _, name in wanted}),
        "schemas": sorted({schema.lower() for schema, _ in wanted if schema}),
    }
    previous = connection.execute(
        sa.text("SELECT current_setting('lock_timeout'), set_config('lock_timeout', :wait, true)"),
        {"wait": f"{PG_SIZE_LOCK_WAIT_MS}ms"},
    ).scalar_one()
    try:
        rows = [dict(row) for row in connection.execute(_PG_QUERY, params).mappings()]
    except sa.exc.OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        connection.rollback()
        return _pg_unlocked(connection, wanted, params)
    connection.execute(sa.text("SELECT set_config('lock_timeout', :was, true)"), {"was": previous})
    out: dict[TableKey, TableSize] = {}
    for key in wanted:
        row = _pick(rows, key)
        out[key] = TableSize(exists=False) if row is None else _pg_size(row)
    return out


def _pg_unlocked(
    connection: Connection, wanted: list[TableKey], params: Mapping[str, Any]
) -> dict[TableKey, TableSize]:
    rows = [dict(row) for row in connection.execute(_PG_UNLOCKED_QUERY, params).mappings()]
    out: dict[TableKey, TableSize] = {}
    for key in wanted:
        row = _pick(rows, key)
        if row is None:
            out[key] = TableSize(exists=False)
            continue
        # Zero tuples may be an ANALYZE of the table before it was filled: not "empty".
        reltuples = float(row["reltuples"])
        known = reltuples > 0
        out[key] = TableSize(
            True,
            round(reltuples) if known else None,
            None,
            estimated=True,
            note="locked by another session: the last ANALYZE's estimate"
            if known
            else "locked by another session; no estimate",
        )
    return out


def _pg_size(row: Mapping[str, Any]) -> TableSize:
    """Rows as the planner estimates them (``estimate_rel_size``): the density of the last
    ANALYZE/VACUUM times the pages the table has now."""
    total = int(row["total"])
    pages_now = int(row["heap"]) // int(row["block"])
    reltuples, relpages = float(row["reltuples"]), int(row["relpages"])
    live = row["n_live_tup"]
    if reltuples >= 0 and relpages > 0:
        rows = round(reltuples / relpages * pages_now)
        return TableSize(True, rows, total, estimated=True, note="an estimate")
    if pages_now == 0:
        return TableSize(True, 0, total)
    if live:
        return TableSize(
            True, int(live), total, estimated=True, note="never analysed; live-row statistics"
        )
    # No statistics yet: at most as many rows as its pages can hold (a tuple takes at least
    # a 24-byte header and a 4-byte line pointer). An upper bound, never "empty".
    most = pages_now * (int(row["block"]) // 28)
    return TableSize(True, most, total, estimated=True, note="never analysed: at most, by pages")


def _mysql(connection: Connection, wanted: list[TableKey]) -> dict[TableKey, TableSize]:
    query = sa.text(
        "SELECT table_schema AS nspname, table_name AS relname, table_rows,"
        " data_length, index_length, (table_schema = DATABASE()) AS position_current"
        " FROM information_schema.tables"
        " WHERE (table_schema = DATABASE() OR table_schema IN :schemas)"
        " AND table_name IN :names"
    ).bindparams(sa.bindparam("schemas", expanding=True), sa.bindparam("names", expanding=True))
    names = sorted({name for _, name in wanted} | {name.lower() for _, name in wanted})
    schemas = sorted({schema for schema, _ in wanted if schema}) or [""]
    rows = [
        {**row, "position": 0 if row["position_current"] else 1}
        for row in connection.execute(query, {"schemas": schemas, "names": names}).mappings()
    ]
    out: dict[TableKey, TableSize] = {}
    for key in wanted:
        found = _pick(rows, key)
        if found is None:
            out[key] = TableSize(exists=False)
            continue
        size = int(found["data_length"] or 0) + int(found["index_length"] or 0)
        table_rows = found["table_rows"]
        out[key] = TableSize(
            True,
            None if table_rows is None else int(table_rows),
            size,
            estimated=True,
            note="InnoDB's estimate",
        )
    return out


def _sqlite(
    connection: Connection, wanted: list[TableKey], limit: int
) -> dict[TableKey, TableSize]:
    query = sa.text(
        "SELECT name AS relname, 'main' AS nspname FROM sqlite_master"
        " WHERE type = 'table' AND lower(name) IN :names"
    ).bindparams(sa.bindparam("names", expanding=True))
    names = sorted({name.lower() for _, name in wanted})
    catalog = [dict(row) for row in connection.execute(query, {"names": names}).mappings()]
    found = {key: _pick(catalog, (None, key[1])) for key in wanted}
    listed = sorted({str(row["relname"]) for row in found.values() if row is not None})
    counts: dict[str, int] = {}
    if listed:
        quote = connection.dialect.identifier_preparer.quote_identifier
        columns = ", ".join(
            f"(SELECT count(*) FROM (SELECT 1 FROM {quote(name)} LIMIT :bound)) AS c{index}"
            for index, name in enumerate(listed)
        )
        row = connection.execute(sa.text(f"SELECT {columns}"), {"bound": limit + 1}).one()
        counts = {name: int(row[index]) for index, name in enumerate(listed)}
    out: dict[TableKey, TableSize] = {}
    for key, catalog_row in found.items():
        if catalog_row is None:
            out[key] = TableSize(exists=False)
            continue
        count = counts[str(catalog_row["relname"])]
        out[key] = TableSize(True, count, None, at_least=count > limit)
    return out
