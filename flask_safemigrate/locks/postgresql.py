"""PostgreSQL: a session-level advisory lock, taken by polling ``pg_try_advisory_lock``."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate import sessions
from flask_safemigrate.database import mask_url
from flask_safemigrate.locks.common import jsonable, poll_until
from flask_safemigrate.locks.server import ServerLock

__all__ = ["PostgresqlLock", "advisory_key"]


def advisory_key(name: str) -> int:
    """The signed 64-bit PostgreSQL advisory key of a lock name (stable across processes)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _key_parts(key: int) -> dict[str, int]:
    """How ``pg_locks`` shows a bigint advisory key: high and low 32 bits, ``objsubid`` 1."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return {"classid": unsigned >> 32, "objid": unsigned & 0xFFFFFFFF}


class PostgresqlLock(ServerLock):
    """``pg_try_advisory_lock`` polled, never a blocking ``pg_advisory_lock``.

    A waiter blocked inside one long statement holds a snapshot for the whole wait, and
    ``CREATE INDEX CONCURRENTLY`` in the holder's migration waits for every snapshot older
    than its own: sixteen waiting replicas would stall the very migration they wait for (and
    a lock timeout there leaves an INVALID index). Short polls hold no snapshot between tries.
    """

    mechanism = "pg_advisory_lock"
    _still_ours_sql: str | None = None
    #: The run's token lock (see :meth:`witness`), held with the lock while this holds it.
    _token: int | None = None

    @property
    def key(self) -> int:
        return advisory_key(self.name)

    @property
    def where(self) -> str:
        return f"{mask_url(self.url)}, lock {self.name!r} (advisory key {self.key})"

    def prepare(self, conn: Connection) -> None:
        """Name the session for ``pg_stat_activity`` and keep server timeouts off our wait."""
        label = sessions.label("lock")
        conn.execute(sa.text("SELECT set_config('application_name', :v, false)"), {"v": label})
        conn.execute(sa.text("SET statement_timeout = 0"))
        version = conn.execute(sa.text("SHOW server_version_num")).scalar()
        if int(str(version)) >= 140000:
            # A role default idle_session_timeout would end this idle session mid-migration
            # and silently free the lock while the upgrade still runs.
            conn.execute(sa.text("SET idle_session_timeout = 0"))

    def acquire(self, conn: Connection, wait: float, poll: float) -> bool:
        statement = sa.text("SELECT pg_try_advisory_lock(:key)")
        return poll_until(
            lambda: bool(conn.execute(statement, {"key": self.key}).scalar()), wait, poll
        )

    def holder(self, conn: Connection) -> dict[str, Any] | None:
        try:
            row = (
                conn.execute(
                    sa.text(
                        "SELECT a.pid, a.usename AS user, a.application_name,"
                        " host(a.client_addr) AS client_addr, a.backend_start, a.state"
                        " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                        " AND l.database = (SELECT oid FROM pg_database"
                        "                   WHERE datname = current_database())"
                        " AND l.classid::bigint = :classid AND l.objid::bigint = :objid"
                    ),
                    _key_parts(self.key),
                )
                .mappings()
                .first()
            )
        except sa.exc.SQLAlchemyError:
            return None
        return None if row is None else jsonable(row)

    def end_hint(self, holder: dict[str, Any] | None) -> str:
        pid = holder["pid"] if holder else "<pid>"
        return f"if that session is stuck, end it with SELECT pg_terminate_backend({pid})"

    def still_ours(self, conn: Connection) -> bool:
        # Asked before every revision commits: the statement is made once, with the key's
        # two integers written in (no bind parameters, no compile on each call).
        if self._still_ours_sql is None:
            parts = _key_parts(self.key)
            self._still_ours_sql = (
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND objsubid = 1"
                f" AND classid::bigint = {int(parts['classid'])}"
                f" AND objid::bigint = {int(parts['objid'])}"
            )
        return conn.exec_driver_sql(self._still_ours_sql).first() is not None

    def witness(self, conn: Connection) -> str | None:
        """An expression true exactly while this session holds the lock, for other sessions.

        ``pg_locks`` names a holder by its pid, which the server reuses once a session ends:
        "the lock's key is granted to pid P" could be a successor's session that got P. So the
        session also takes a lock of its own, a random 64-bit key (a token) nobody else takes,
        and the expression asks for one pid holding both, in one read of ``pg_locks`` (one
        consistent view of the lock table). While it is true the lock's session is alive and
        holds the lock: what :meth:`still_ours` asks on this connection. ``None`` when the token
        cannot be taken (then the migration asks the lock's connection, as before).
        """
        statement = sa.text("SELECT pg_try_advisory_lock(:key)")
        for _ in range(3):  # a taken token (another process's key, 2**-64) tries another
            token = secrets.randbits(64) - (1 << 63)
            if token == self.key:
                continue
            try:
                taken = bool(conn.execute(statement, {"key": token}).scalar())
            except sa.exc.SQLAlchemyError:
                return None
            if taken:
                self._token = token
                break
        else:
            return None
        lock, mine = _key_parts(self.key), _key_parts(token)
        return (
            "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            f" AND ((classid::bigint = {int(lock['classid'])}"
            f" AND objid::bigint = {int(lock['objid'])})"
            f" OR (classid::bigint = {int(mine['classid'])}"
            f" AND objid::bigint = {int(mine['objid'])}))"
            " GROUP BY pid HAVING count(*) = 2)"
        )

    def session_id(self, conn: Connection) -> int | None:
        session = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        return int(session) if session is not None else None

    def release(self, conn: Connection) -> None:
        conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        if self._token is not None:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self._token})
            self._token = None
