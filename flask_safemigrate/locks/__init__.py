"""The migration lock: one migrator at a time per database and version table.

Deploys start many replicas at once and each runs ``safe-upgrade``; without a lock two of them
apply the same revision concurrently. Each backend gets the lock that dies with its holder, so a
killed deploy never leaves a lock behind that someone must clean up by hand:

- PostgreSQL (:mod:`.postgresql`): a session-level advisory lock on a connection of its own
  (AUTOCOMMIT, so it is never "idle in transaction"), taken by polling
  ``pg_try_advisory_lock``; the server drops it when the session ends.
- MySQL/MariaDB (:mod:`.mysql`): ``GET_LOCK`` on a connection of its own; dropped with the
  connection.
- SQLite (:mod:`.sqlite`): ``flock`` on ``<database file>.safemigrate-lock``; the kernel drops
  it with the process.

The two server locks share one skeleton (:mod:`.server`); each dialect is a strategy class
that gives its statements. A lock that dies with its connection can also die under a live
holder (a server idle timeout, a ``KILL``, a deleted lock file): :meth:`HeldLock.still_held`
says so, and :mod:`flask_safemigrate.lock_guard` keeps the connection busy and stops the
upgrade when it answers False.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL

from flask_safemigrate.database import dialect_of, mask_url
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.locks.common import HeldLock, parse_url
from flask_safemigrate.locks.mysql import (
    MYSQL_IDLE_SECONDS,
    MYSQL_NAME_LIMIT,
    MysqlLock,
    mysql_lock_name,
)
from flask_safemigrate.locks.postgresql import PostgresqlLock, advisory_key
from flask_safemigrate.locks.server import ServerLock, hold
from flask_safemigrate.locks.sqlite import (
    LOCK_FILE_SUFFIX,
    file_lock,
    sqlite_database_file,
    sqlite_lock_path,
)

__all__ = [
    "LOCK_FILE_SUFFIX",
    "MYSQL_IDLE_SECONDS",
    "MYSQL_NAME_LIMIT",
    "HeldLock",
    "advisory_key",
    "lock_name",
    "migration_lock",
    "mysql_lock_name",
    "sqlite_database_file",
    "sqlite_lock_path",
]

#: The server lock strategy of each dialect (SQLite locks a file: :func:`.sqlite.file_lock`).
SERVER_LOCKS: dict[str, type[ServerLock]] = {"postgresql": PostgresqlLock, "mysql": MysqlLock}


def lock_name(
    url: str | URL, *, version_table: str = "alembic_version", schema: str | None = None
) -> str:
    """Stable name for (database, schema, version table): other schemas or databases, other locks.

    Host, port, user and password are left out on purpose: replicas that spell the same
    server differently (``localhost`` / ``127.0.0.1``, another login) must still share the lock.
    """
    parsed = parse_url(url)
    dialect = dialect_of(parsed) or parsed.get_backend_name()
    database = parsed.database or ""
    if dialect == "sqlite":
        file = sqlite_database_file(parsed)
        database = str(file) if file is not None else ":memory:"
    elif dialect == "mysql" and schema:
        # A MySQL "schema" is a database: db=a + schema=b is the same table as db=b.
        database, schema = schema, None
    return f"safemigrate:{dialect}:{database}:{schema or ''}:{version_table}"


@contextmanager
def migration_lock(
    url: str | URL,
    *,
    name: str,
    wait: float,
    connect_timeout: float = 10,
    connect_retries: int = 0,
    poll: float = 0.2,
) -> Iterator[HeldLock]:
    """Hold the lock for the with-block; raise errors.LockTimeout (exit 5) after ``wait`` seconds.

    The lock is released when the block ends, also on an exception, and by the server or the
    kernel when the process dies. ``poll`` paces the tries on PostgreSQL (with jitter) and
    SQLite; MySQL's ``GET_LOCK`` wakes the waiter itself the moment the lock is free.
    """
    parsed = parse_url(url)
    wait = max(0.0, float(wait))
    dialect = dialect_of(parsed)
    strategy = SERVER_LOCKS.get(dialect or "")
    if strategy is not None:
        lock_cm = hold(
            strategy(parsed, name),
            wait=wait,
            connect_timeout=connect_timeout,
            retries=connect_retries,
            poll=poll,
        )
    elif dialect == "sqlite":
        lock_cm = file_lock(parsed, name, wait, poll)
    else:
        raise ConfigError(
            f"no migration lock for the {parsed.get_backend_name()} backend",
            where=mask_url(parsed),
            hint="flask-safemigrate supports PostgreSQL, MySQL/MariaDB and SQLite",
        )
    with lock_cm as held:
        yield held
