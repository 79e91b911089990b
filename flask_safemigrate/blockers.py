"""Who holds the lock a migration statement waited for: asked after a lock timeout, and
before the migration lock is taken (:func:`holders`: long transactions on the plan's tables).

The statement gave up (``lock_timeout`` on PostgreSQL, ``innodb_lock_wait_timeout`` or
``lock_wait_timeout`` on MariaDB/MySQL); the session it waited for is usually still there,
and the operator needs its id to find it and end it. This module asks, on a separate
connection, and returns one line per suspect with what a DBA needs: the id to end it with,
user, application or host, state, since when, and the start of its last query.

- PostgreSQL: sessions holding a granted lock on a table the statement names. Table names are
  compared case-insensitively, so a quoted mixed-case table (``"Items"``) is found too.
- MariaDB/MySQL: the waits are gone once the statement gave up, and ``performance_schema``
  is often off, so the suspects are the other sessions with an open InnoDB transaction in
  the same database (those holding row locks first), from ``information_schema.INNODB_TRX``
  and ``PROCESSLIST`` (which need the PROCESS privilege to show other users' sessions).
  InnoDB serves ``INNODB_TRX`` from one snapshot shared by all sessions, refreshed only after
  0.1 s in which nobody read it: :func:`holders` checks that the snapshot it read was taken
  after it began (its own transaction is in it), and reads again after a pause if not.
- SQLite: a file lock has no session to name; nothing is returned.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["Holder", "StaleSnapshot", "describe", "holders", "how_to_end"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_QUERY_CHARS = 120
#: InnoDB fills ``information_schema.INNODB_TRX`` from a cache shared by all sessions that it
#: refreshes only when nobody has read it for 0.1 s (``CACHE_MIN_IDLE_TIME`` in ``trx0i_s.cc``,
#: MariaDB and MySQL alike; every read restarts that clock, ours too). A transaction begun
#: after the snapshot is missing from it, for as long as other sessions keep reading.
_TRX_CACHE_IDLE_SECONDS = 0.11
#: How long :func:`holders` waits for a snapshot taken after it began before it gives up.
FRESH_SNAPSHOT_WAIT = 2.0


class StaleSnapshot(sa.exc.SQLAlchemyError):
    """``INNODB_TRX`` kept serving a snapshot older than the look, so a transaction begun
    just before it may be missing: other sessions read it more often than every 0.1 s."""


def describe(connection: Connection, statement: str | None) -> list[Holder]:
    """Each session that may hold what ``statement`` waited for ([] if none found); its
    ``line`` says who it is.

    Never raises for a database error: a blocker that cannot be looked up (privileges, a
    server without these views) must not hide the lock timeout being reported.
    """
    try:
        if connection.dialect.name == "postgresql":
            return _postgresql(connection, statement)
        if connection.dialect.name in ("mysql", "mariadb"):
            return _mysql(connection)
    except sa.exc.SQLAlchemyError:
        connection.rollback()
    return []


def how_to_end(dialect: str | None, ids: Sequence[int] = ()) -> str:
    """The command that ends a blocking session, in the words of the dialect: with the
    session's id when one session is named (``ids``), a placeholder otherwise."""
    one = str(ids[0]) if len(ids) == 1 else None
    if dialect == "postgresql":
        return f"SELECT pg_terminate_backend({one or '<pid>'}) on PostgreSQL"
    if dialect == "mysql":
        return f"KILL {one or '<id>'} on MariaDB/MySQL"
    return "stop the other process that has the database file open (`fuser FILE`)"


def _flat(text: Any) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= _QUERY_CHARS else flat[: _QUERY_CHARS - 3] + "..."


def _since(moment: Any) -> str:
    return moment.isoformat(timespec="seconds") if isinstance(moment, datetime) else "?"


@dataclass(frozen=True)
class Holder:
    """One other session with an open transaction that holds (or may hold) a table's locks.

    ``table`` and ``mode`` are known on PostgreSQL; MariaDB/MySQL do not tell which tables a
    transaction locked (without ``performance_schema``), so they are ``None`` there.
    """

    id: int
    user: str
    application: str
    age_seconds: float | None
    query: str
    line: str
    table: str | None = None
    mode: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "application": self.application,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
            "query": self.query,
            "table": self.table,
            "mode": self.mode,
        }


def holders(
    connection: Connection,
    tables: Sequence[str],
    *,
    older_than: float,
    fresh_within: float = FRESH_SNAPSHOT_WAIT,
) -> list[Holder]:
    """Other sessions whose transaction began ``older_than`` seconds ago or more and that
    hold a lock on one of ``tables`` (PostgreSQL), or any such transaction in this database
    (MariaDB/MySQL, where InnoDB does not say which tables); [] on SQLite.

    Table names are bound as a parameter. Raises ``sqlalchemy.exc.SQLAlchemyError`` when the
    server refuses (the caller reports that it could not look), :class:`StaleSnapshot` when
    MariaDB/MySQL served no snapshot newer than the look within ``fresh_within`` seconds.
    """
    if connection.dialect.name == "postgresql":
        names = sorted({name.lower() for name in tables})
        return _pg_holders(connection, names, older_than) if names else []
    if connection.dialect.name in ("mysql", "mariadb"):
        return _mysql_fresh(connection, older_than, fresh_within)
    return []


def _postgresql(connection: Connection, statement: str | None) -> list[Holder]:
    if not statement:
        return []
    names = sorted({word.lower() for word in _WORD.findall(statement)})
    return _pg_holders(connection, names, None)


def _pg_holders(connection: Connection, names: list[str], older_than: float | None) -> list[Holder]:
    rows = connection.execute(
        sa.text(
            "SELECT DISTINCT a.pid, a.usename, a.application_name, a.client_addr, a.state,"
            " a.xact_start, left(a.query, 200) AS query, c.relname, l.mode,"
            " extract(epoch FROM clock_timestamp() - a.xact_start) AS age"
            " FROM pg_locks l"
            " JOIN pg_class c ON c.oid = l.relation"
            " JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.granted AND l.pid <> pg_backend_pid()"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND lower(c.relname) = ANY(CAST(:names AS text[]))"
            " AND (CAST(:age AS float8) IS NULL"
            " OR a.xact_start <= clock_timestamp() - make_interval(secs => CAST(:age AS float8)))"
            " ORDER BY a.pid"
        ),
        {"names": names, "age": older_than},
    ).mappings()
    return [
        Holder(
            id=int(row["pid"]),
            user=str(row["usename"]),
            application=str(row["application_name"] or "-"),
            age_seconds=None if row["age"] is None else float(row["age"]),
            query=_flat(row["query"]),
            table=str(row["relname"]),
            mode=str(row["mode"]),
            line=f"pid {row['pid']} (user {row['usename']}, application"
            f" {row['application_name'] or '-'}, client {row['client_addr'] or 'local'},"
            f" {row['state']}, transaction since {_since(row['xact_start'])}) holds"
            f" {row['mode']} on {row['relname']}; its last query: {_flat(row['query'])}",
        )
        for row in rows
    ]


def _mysql_fresh(connection: Connection, older_than: float, fresh_within: float) -> list[Holder]:
    """:func:`_mysql_holders` from a snapshot taken after this call began: this session's own
    transaction, begun first, must be in it (a stale one is read again after a pause).

    The pause varies: two looks pausing alike (two replicas' pre-flights on one server) could
    each read within 0.1 s of the other's read for ever, and starve both of a new snapshot."""
    connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    connection.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")  # begins at once
    try:
        deadline = time.monotonic() + fresh_within
        while True:
            found, fresh = _mysql_holders(connection, older_than, with_own=True)
            if fresh:
                return found
            if time.monotonic() >= deadline:
                raise StaleSnapshot(
                    "information_schema.INNODB_TRX served a snapshot older than"
                    f" {fresh_within:g}s (other sessions read it more often"
                    " than every 0.1 s), so a transaction open now may be missing from it"
                )
            time.sleep(_TRX_CACHE_IDLE_SECONDS + random.uniform(0, 0.2))
    finally:
        connection.rollback()


def _mysql(connection: Connection) -> list[Holder]:
    # After a lock timeout (whole seconds) the session waited for has held its lock for
    # longer than any snapshot is usually kept: one read, no transaction of our own.
    return _mysql_holders(connection, None, with_own=False)[0]


def _mysql_holders(
    connection: Connection, older_than: float | None, *, with_own: bool
) -> tuple[list[Holder], bool]:
    """The holders, and whether this session's own transaction was in the snapshot read."""
    rows = connection.execute(
        sa.text(
            "SELECT t.trx_mysql_thread_id = CONNECTION_ID() AS own, p.ID AS id,"
            " p.USER AS user, p.HOST AS host, p.COMMAND AS command,"
            " p.TIME AS seconds, p.STATE AS state, LEFT(p.INFO, 200) AS query,"
            " t.trx_started AS since, t.trx_rows_locked AS rows_locked,"
            " t.trx_tables_locked AS tables_locked, t.trx_query AS trx_query,"
            " TIMESTAMPDIFF(MICROSECOND, t.trx_started, NOW(6)) / 1e6 AS age"
            " FROM information_schema.INNODB_TRX t"
            " JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id"
            " WHERE (:own AND t.trx_mysql_thread_id = CONNECTION_ID())"
            " OR (t.trx_mysql_thread_id <> CONNECTION_ID() AND p.DB = DATABASE()"
            " AND (:age IS NULL OR t.trx_started <= NOW(6) - INTERVAL :age SECOND))"
            " ORDER BY t.trx_rows_locked > 0 DESC, t.trx_started"
        ),
        {"age": older_than, "own": with_own},
    ).mappings()
    out = []
    fresh = False
    for row in rows:
        if row["own"]:
            fresh = True
            continue
        query = _flat(row["query"] or row["trx_query"]) or "- (idle in its transaction)"
        out.append(
            Holder(
                id=int(row["id"]),
                user=str(row["user"]),
                application=str(row["host"]),
                age_seconds=None if row["age"] is None else float(row["age"]),
                query=query,
                line=f"connection {row['id']} (user {row['user']}, host {row['host']},"
                f" {row['command']} {row['seconds']}s"
                f"{', ' + row['state'] if row['state'] else ''},"
                f" transaction since {_since(row['since'])}, {row['rows_locked']} rows and"
                f" {row['tables_locked']} tables locked); its current query: {query}",
            )
        )
    return out, fresh
