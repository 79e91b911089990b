"""Ending this test's own migration session on a server, from a thread, while a run goes on.

Only a session of the test's scratch database (``current_database()`` / ``DATABASE()`` of a
connection to it) that runs the revision's sleep is ended: never anyone else's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.databases import nullpool_engine

_FIND = {
    "postgresql": (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND query LIKE 'SELECT pg_sleep%%' AND state = 'active'"
    ),
    "mysql": (
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE()"
        " AND ID <> CONNECTION_ID() AND INFO LIKE '%%SELECT SLEEP%%'"
    ),
}
_END = {"postgresql": "SELECT pg_terminate_backend({pid})", "mysql": "KILL CONNECTION {pid}"}


@contextmanager
def drop_the_migration_session(url: str, kind: str) -> Iterator[list[int]]:
    """End this test's migration session once it runs the sleep; yields the ids ended."""
    ended: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        engine = nullpool_engine(url)
        try:
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                while not stop.is_set():
                    pid = conn.exec_driver_sql(_FIND[kind]).scalar()
                    if pid is not None:
                        conn.exec_driver_sql(_END[kind].format(pid=int(pid)))
                        ended.append(int(pid))
                        return
                    time.sleep(0.05)
        finally:
            engine.dispose()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield ended
    finally:
        stop.set()
        watcher.join(timeout=30)
