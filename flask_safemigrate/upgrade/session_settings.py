"""The session a revision runs in, per dialect: its time limits, its label, how it begins.

One small strategy class per dialect (as :mod:`flask_safemigrate.locks` has for the lock), so
the engine events of :mod:`.apply` never test the dialect themselves:

- PostgreSQL: ``lock_timeout`` (and ``statement_timeout`` when set); from 14 on, the server
  checks every 2 s that the client is still there, so a killed migrator's statement does not
  run on (holding its locks) to its end.
- MariaDB/MySQL: ``lock_wait_timeout`` and ``innodb_lock_wait_timeout`` (metadata locks and
  row locks have two clocks, in whole seconds) and a ``wait_timeout`` of at least 8 hours (a
  revision that computes for a while must not lose its session). Its DDL commits itself, and
  its process list shows no connection attributes: each statement carries the session label
  as a comment.
- SQLite: ``busy_timeout``, the driver's own transaction handling off and ``BEGIN IMMEDIATE``
  (the pysqlite recipe for transactional DDL; the write lock is taken at ``BEGIN``, where the
  busy timeout applies). It has no server session to fence.
- Any other dialect: nothing set, nothing labelled (:class:`RevisionSession` itself).
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask_safemigrate import sessions

__all__ = ["RevisionSession", "revision_session"]


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RevisionSession:
    """How a dialect's session is set up for a revision; the defaults do nothing."""

    #: Whether DDL rolls back with its transaction (MariaDB/MySQL: it commits itself).
    transactional_ddl: ClassVar[bool] = True
    #: The statement that opens each transaction, where the driver's own will not do.
    begin: ClassVar[str | None] = None
    #: Whether the migration lock's fence applies to a new connection (a server session).
    fenced: ClassVar[bool] = True

    def __init__(self, *, lock_timeout: float, statement_timeout: float | None) -> None:
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout

    def statements(self) -> list[str]:
        """What each new connection runs before any revision."""
        return []

    def prepare(self, dbapi_connection: Any) -> None:
        """Run :meth:`statements` on a new driver connection, and commit them."""
        cursor = dbapi_connection.cursor()
        try:
            for statement in [*self.statements(), *self.extra_statements(dbapi_connection)]:
                cursor.execute(statement)
        finally:
            cursor.close()
        dbapi_connection.commit()

    def extra_statements(self, dbapi_connection: Any) -> list[str]:
        """Statements that depend on the server the connection reached."""
        return []

    def label(self, scope: str | None) -> str:
        """A prefix for each statement that names the session (``""``: none needed)."""
        return ""


class PostgresqlSession(RevisionSession):
    def statements(self) -> list[str]:
        found = []
        if self.lock_timeout > 0:
            found.append(f"SET lock_timeout = {_milliseconds(self.lock_timeout)}")
        if self.statement_timeout:
            found.append(f"SET statement_timeout = {_milliseconds(self.statement_timeout)}")
        return found

    def extra_statements(self, dbapi_connection: Any) -> list[str]:
        if _server_version(dbapi_connection) >= 140000:
            # A killed migrator's statement otherwise runs on to its end (and holds its
            # locks): the server checks every 2 s that the client is still there.
            return ["SET client_connection_check_interval = '2s'"]
        return []


def _server_version(dbapi_connection: Any) -> int:
    """PostgreSQL's ``server_version_num`` as the driver knows it (psycopg 3 or 2); 0 if not."""
    info = getattr(dbapi_connection, "info", None)
    version = getattr(info, "server_version", None) or getattr(
        dbapi_connection, "server_version", 0
    )
    return version if isinstance(version, int) else 0


class MysqlSession(RevisionSession):
    transactional_ddl = False

    def statements(self) -> list[str]:
        found = ["SET SESSION wait_timeout = GREATEST(@@session.wait_timeout, 28800)"]
        if self.lock_timeout > 0:
            # Two clocks: metadata locks (DDL behind an open transaction) and InnoDB row locks
            # (an UPDATE behind another's UPDATE, 50 s by default). Whole seconds, at least 1.
            seconds = max(1, round(self.lock_timeout))
            found.append(f"SET SESSION lock_wait_timeout = {seconds}")
            found.append(f"SET SESSION innodb_lock_wait_timeout = {seconds}")
        return found

    def label(self, scope: str | None) -> str:
        # MariaDB's PROCESSLIST shows no connection attributes: the label rides along.
        return sessions.comment("migrate", scope)


class SqliteSession(RevisionSession):
    # IMMEDIATE takes the write lock now, where busy_timeout applies. A deferred BEGIN reads
    # first and then fails at once on its first write ("database is locked" after 0.03 s):
    # SQLite does not wait when a reader must become a writer. It also keeps every other
    # writer (a successor that took a deleted lock file) out mid-revision.
    begin = "BEGIN IMMEDIATE"
    fenced = False

    def statements(self) -> list[str]:
        # 0 means "no limit" for the setting but "do not wait" for SQLite: the int maximum.
        busy = _milliseconds(self.lock_timeout) if self.lock_timeout > 0 else 2**31 - 1
        return [f"PRAGMA busy_timeout = {busy}"]

    def prepare(self, dbapi_connection: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver's transaction handling off
        for statement in self.statements():
            dbapi_connection.execute(statement)


#: The strategy of each dialect (:func:`flask_safemigrate.database.dialect_of`'s names).
SESSIONS: dict[str, type[RevisionSession]] = {
    "postgresql": PostgresqlSession,
    "mysql": MysqlSession,
    "sqlite": SqliteSession,
}


def revision_session(
    dialect: str | None, *, lock_timeout: float = 0, statement_timeout: float | None = None
) -> RevisionSession:
    """The session strategy of ``dialect`` with these limits (another dialect: the defaults)."""
    strategy = SESSIONS.get(dialect or "", RevisionSession)
    return strategy(lock_timeout=lock_timeout, statement_timeout=statement_timeout)
