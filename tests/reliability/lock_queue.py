"""Waiting until another migrator is in the migration lock's queue, seen from the server.

A test that makes one migrator fail or stop while a second one waits for the lock must know
the second is really waiting (past its pre-flight, asking for the lock) before it lets the
first go on. The progress line ``lock: taking the migration lock`` comes just before the lock
call; the server then shows the call itself:

- PostgreSQL polls ``pg_try_advisory_lock`` on a session labelled ``safemigrate lock ...``:
  such a session that holds no advisory lock and whose last statement was the try is a waiter
  that has asked at least once;
- MariaDB/MySQL block in ``GET_LOCK``: the session's state is ``User lock``.

SQLite's lock is a ``flock`` tried without blocking, which leaves no trace between tries:
there the caller waits a moment instead (:data:`SQLITE_MOMENT`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.engine import make_url

from tests.support.databases import nullpool_engine

#: What the server shows of a migrator waiting for the lock, counted in the test's database.
WAITERS = {
    "postgresql": (
        "SELECT count(*) FROM pg_stat_activity a WHERE a.datname = current_database()"
        " AND a.application_name LIKE 'safemigrate lock%%'"
        " AND a.query LIKE '%%pg_try_advisory_lock%%'"
        " AND NOT EXISTS (SELECT 1 FROM pg_locks l"
        "                 WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)"
    ),
    "mysql": (
        "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE()"
        " AND STATE = 'User lock' AND INFO LIKE 'SELECT GET_LOCK(%%'"
    ),
}
#: SQLite: the seconds given to a waiter between its progress line and its first try.
SQLITE_MOMENT = 1.0


def wait_for_lock_waiter(
    url: str, still_running: Callable[[], None], *, timeout: float = 60, poll: float = 0.02
) -> None:
    """Return once a migrator waits for the migration lock of ``url``'s database.

    ``still_running`` is called between polls and fails the test when a process it watches
    ended early (the scenario then tests nothing).
    """
    kind = make_url(url).get_backend_name()
    if kind == "sqlite":
        time.sleep(SQLITE_MOMENT)
        return
    query = WAITERS[kind]
    engine = nullpool_engine(url)
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            while not conn.exec_driver_sql(query).scalar():
                still_running()
                assert time.monotonic() < deadline, f"no migrator waited for the lock in {timeout}s"
                time.sleep(poll)
    finally:
        engine.dispose()
