"""MySQL/MariaDB: ``GET_LOCK`` on a connection of its own; dropped with the connection."""

from __future__ import annotations

import hashlib
from contextlib import suppress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate.database import mask_url
from flask_safemigrate.locks.common import jsonable
from flask_safemigrate.locks.server import ServerLock

__all__ = ["MYSQL_IDLE_SECONDS", "MYSQL_NAME_LIMIT", "MysqlLock", "mysql_lock_name"]

#: MySQL/MariaDB refuse ``GET_LOCK`` names longer than this.
MYSQL_NAME_LIMIT = 64
#: MariaDB/MySQL's largest ``wait_timeout`` on Linux (a year): the lock connection is idle
#: by design while revisions run, and a server default of minutes would end it and free the lock.
MYSQL_IDLE_SECONDS = 31_536_000


def mysql_lock_name(name: str) -> str:
    """``name`` if MySQL accepts it, else a stable hash of it within the 64-character limit."""
    if len(name) <= MYSQL_NAME_LIMIT:
        return name
    return "safemigrate:" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]


class MysqlLock(ServerLock):
    """``GET_LOCK``: the server wakes the waiter itself the moment the lock is free."""

    mechanism = "GET_LOCK"

    @property
    def server_name(self) -> str:
        return mysql_lock_name(self.name)

    @property
    def where(self) -> str:
        name = self.name
        shown = name if self.server_name == name else f"{name} (as {self.server_name})"
        return f"{mask_url(self.url)}, lock {shown!r}"

    def prepare(self, conn: Connection) -> None:
        """Keep server time limits off the lock: the SELECT limit off ``GET_LOCK``'s wait,
        and ``wait_timeout`` (a server default, or ``init_command`` in the URL) off the idle
        session.

        The lock connection sits idle while revisions run; ending it frees ``GET_LOCK`` and
        lets a second migrator in (issue 13). :mod:`.lock_guard` also pings it every few
        seconds.
        """
        version = str(conn.execute(sa.text("SELECT VERSION()")).scalar() or "")
        variable = "max_statement_time" if "mariadb" in version.lower() else "max_execution_time"
        with suppress(sa.exc.DBAPIError):
            conn.execute(sa.text(f"SET SESSION {variable} = 0"))
        conn.execute(
            sa.text(
                f"SET SESSION wait_timeout = {MYSQL_IDLE_SECONDS},"
                f" interactive_timeout = {MYSQL_IDLE_SECONDS}"
            )
        )

    def acquire(self, conn: Connection, wait: float, poll: float) -> bool:
        got = conn.execute(
            sa.text("SELECT GET_LOCK(:name, :wait)"), {"name": self.server_name, "wait": wait}
        ).scalar()
        return got == 1  # 0: timed out; NULL: the wait was interrupted

    def holder(self, conn: Connection) -> dict[str, Any] | None:
        try:
            holder_id = conn.execute(
                sa.text("SELECT IS_USED_LOCK(:name)"), {"name": self.server_name}
            ).scalar()
            if holder_id is None:
                return None
            row = (
                conn.execute(
                    sa.text(
                        "SELECT ID AS id, USER AS user, HOST AS host, DB AS db,"
                        " COMMAND AS command, TIME AS seconds, STATE AS state"
                        " FROM information_schema.PROCESSLIST WHERE ID = :id"
                    ),
                    {"id": holder_id},
                )
                .mappings()
                .first()
            )
        except sa.exc.SQLAlchemyError:
            return None
        # Without the PROCESS privilege other users' rows are hidden: the id still helps.
        return {"id": int(holder_id)} if row is None else jsonable(row)

    def end_hint(self, holder: dict[str, Any] | None) -> str:
        return f"if that connection is stuck, end it with KILL {holder['id'] if holder else '<id>'}"

    def still_ours(self, conn: Connection) -> bool:
        holder_id = conn.execute(
            sa.text("SELECT IS_USED_LOCK(:name) = CONNECTION_ID()"), {"name": self.server_name}
        ).scalar()
        return bool(holder_id)

    def session_id(self, conn: Connection) -> int | None:
        session = conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar()
        return int(session) if session is not None else None

    def release(self, conn: Connection) -> None:
        conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": self.server_name})
