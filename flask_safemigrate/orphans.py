"""Statements a killed migrator left running on the server, found and waited for or ended.

A ``SIGKILL``ed migrator releases the migration lock at once (its lock session ends), but
the statement its migration session was running goes on: PostgreSQL and MariaDB notice a
dead client only when they next write to it. That statement holds its locks; the next
migrator, now holding the migration lock, would wait behind it, give up after
``SAFEMIGRATE_LOCK_TIMEOUT`` and record a failure that needs ``--resolved``. So, under the
lock and before applying anything, the next migrator looks for migration sessions
(:mod:`.sessions` labels) of other processes still running a statement in this database:

- PostgreSQL: ``pg_stat_activity`` rows whose ``application_name`` is a ``migrate`` label,
  not idle; ended with ``pg_terminate_backend`` (the transaction rolls back).
- MariaDB/MySQL: ``information_schema.PROCESSLIST`` rows whose statement starts with the
  label comment; ended with ``KILL CONNECTION`` (``KILL QUERY`` would leave its transaction
  and locks until the connection noticed).

Whoever holds the migration lock may end them: no live migrator runs a revision without it.
This module returns data and never prints; :mod:`.upgrade` decides whether to wait or end.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate import sessions

__all__ = [
    "SERVER_SESSIONS",
    "Orphan",
    "ServerSessions",
    "cancel",
    "find",
    "strategy_of",
    "wait_gone",
]

_QUERY_CHARS = 160


@dataclass(frozen=True)
class Orphan:
    """A statement of another migrator still running on the server."""

    #: The server's id of the session: PostgreSQL backend pid, MariaDB connection id.
    session: int
    #: The migrator's process and host, from the session's label.
    pid: int
    host: str
    #: True: that process is gone (same host); None: another host, cannot tell.
    gone: bool | None
    seconds: float | None
    state: str
    query: str

    def describe(self) -> str:
        alive = {True: "gone", False: "still running", None: "on another host"}[self.gone]
        ran = f" for {self.seconds:.0f}s" if self.seconds is not None else ""
        return (
            f"session {self.session} of migrator pid {self.pid} on {self.host} ({alive}),"
            f" {self.state}{ran}: {self.query}"
        )


class ServerSessions(ABC):
    """How one server dialect lists, ends and names the migration sessions of others."""

    @abstractmethod
    def running(self, connection: Connection) -> sa.MappingResult:
        """Rows with ``session``, ``label``, ``state``, ``seconds`` and ``query``."""

    @abstractmethod
    def end(self, connection: Connection, session: int) -> None:
        """End ``session`` (its transaction rolls back); one already gone is fine."""

    @abstractmethod
    def end_command(self, session: int) -> str:
        """What an operator runs to end ``session`` by hand."""


class PostgresqlSessions(ServerSessions):
    def running(self, connection: Connection) -> sa.MappingResult:
        return connection.execute(
            sa.text(
                "SELECT pid AS session, application_name AS label, state,"
                " extract(epoch FROM now() - query_start) AS seconds, query"
                " FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name LIKE :prefix AND state <> 'idle'"
            ),
            {"prefix": sessions.PREFIX + "migrate %"},
        ).mappings()

    def end(self, connection: Connection, session: int) -> None:
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": session})

    def end_command(self, session: int) -> str:
        return f"SELECT pg_terminate_backend({session})"


class MysqlSessions(ServerSessions):
    def running(self, connection: Connection) -> sa.MappingResult:
        return connection.execute(
            sa.text(
                "SELECT ID AS session, INFO AS label, COALESCE(STATE, COMMAND) AS state,"
                " TIME AS seconds, INFO AS query"
                " FROM information_schema.PROCESSLIST"
                " WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND INFO LIKE :prefix"
            ),
            {"prefix": "/* " + sessions.PREFIX + "migrate %"},
        ).mappings()

    def end(self, connection: Connection, session: int) -> None:
        try:
            connection.exec_driver_sql(f"KILL CONNECTION {int(session)}")
        except sa.exc.DBAPIError as exc:
            # "Unknown thread id": it ended by itself meanwhile.
            if getattr(exc.orig, "args", (None,))[0] != 1094:
                raise

    def end_command(self, session: int) -> str:
        return f"KILL {session}"


#: Each server dialect's strategy, by SQLAlchemy's dialect name (SQLite has no sessions).
SERVER_SESSIONS: dict[str, type[ServerSessions]] = {
    "postgresql": PostgresqlSessions,
    "mysql": MysqlSessions,
    "mariadb": MysqlSessions,
}


def strategy_of(dialect: str | None) -> ServerSessions | None:
    """The strategy of ``dialect``; ``None`` where there are no server sessions to find."""
    strategy = SERVER_SESSIONS.get(dialect or "")
    return strategy() if strategy is not None else None


def find(
    connection: Connection, scope: str | None = None, *, this_process: bool = False
) -> list[Orphan]:
    """Migration statements of other processes still running in this database.

    ``scope`` (:func:`.sessions.scope_of` the migration lock) leaves out the sessions of
    migrators under another lock (another app's schema in the same database); a session
    labelled without a scope (an older version) counts. ``this_process``: this process's own
    instead (the statement an interrupted run left on a server that does not cancel it).
    """
    strategy = strategy_of(connection.dialect.name)
    if strategy is None:
        return []
    rows = strategy.running(connection)
    found = []
    for row in rows:
        label = sessions.parse(row["label"])
        if label is None or label.purpose != "migrate" or label.is_this_process() != this_process:
            continue
        if scope is not None and label.scope is not None and label.scope != scope:
            continue
        query = " ".join(sessions.strip_comment(str(row["query"] or "")).split())
        found.append(
            Orphan(
                session=int(row["session"]),
                pid=label.pid,
                host=label.host,
                gone=label.process_gone(),
                seconds=float(row["seconds"]) if row["seconds"] is not None else None,
                state=str(row["state"] or "?"),
                query=query if len(query) <= _QUERY_CHARS else query[: _QUERY_CHARS - 3] + "...",
            )
        )
    return found


def cancel(connection: Connection, orphans: Sequence[Orphan]) -> None:
    """End each orphan's session (its transaction rolls back); one already gone is fine."""
    strategy = strategy_of(connection.dialect.name)
    for orphan in orphans:
        if strategy is not None:
            strategy.end(connection, orphan.session)


def wait_gone(
    connection: Connection,
    orphans: Sequence[Orphan],
    *,
    deadline: float,
    scope: str | None = None,
    this_process: bool = False,
    poll: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Orphan]:
    """Wait until none of ``orphans`` runs any more, or ``deadline`` (monotonic); the rest."""
    sessions_left = {orphan.session for orphan in orphans}
    while True:
        found = find(connection, scope, this_process=this_process)
        still = [o for o in found if o.session in sessions_left]
        if not still or time.monotonic() >= deadline:
            return still
        sleep(min(poll, max(0.0, deadline - time.monotonic())))
