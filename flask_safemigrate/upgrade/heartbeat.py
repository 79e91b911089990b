"""Signs of life while something takes long: a ticker, and what PostgreSQL says a session waits on.

A statement that runs for minutes (an index build, a table rewrite, a lock queue) and a run
that waits for the migration lock look the same as a hung process unless something speaks.
:func:`ticking` calls a function every ``interval`` seconds from a daemon thread for the
length of a with-block (``SAFEMIGRATE_HEARTBEAT``); the pipeline turns each tick into an event
(:class:`~.events.StatementRunning`, :class:`~.events.LockStillWaiting`). On PostgreSQL,
:func:`pg_wait_event` reads the migration session's wait event from ``pg_stat_activity`` on a
second connection (the migration's own is busy running the statement).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["pg_wait_event", "ticking"]


@contextmanager
def ticking(interval: float, tick: Callable[[float], None]) -> Iterator[None]:
    """Call ``tick(seconds since the block began)`` every ``interval`` seconds until the block
    ends (not at all for ``interval`` <= 0). A tick that raises stops the ticker, never the
    block: a sign of life must not fail the work it reports on."""
    if interval <= 0:
        yield
        return
    stop = threading.Event()
    began = time.monotonic()

    def run() -> None:
        while not stop.wait(interval):
            try:
                tick(time.monotonic() - began)
            except Exception:  # the report of life failed; the work goes on
                return

    thread = threading.Thread(target=run, name="safemigrate-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=max(interval, 1.0))


_WAIT_EVENT = sa.text(
    "SELECT wait_event_type, wait_event FROM pg_stat_activity"
    " WHERE application_name = :label AND pid <> pg_backend_pid() AND state = 'active'"
    " ORDER BY backend_start DESC LIMIT 1"
)


def pg_wait_event(connection: Connection, label: str) -> str | None:
    """``type/event`` the session named ``label`` waits on (``Lock/relation``), ``running``
    when it is active and waits on nothing, ``None`` when no active session has the name."""
    row = connection.execute(_WAIT_EVENT, {"label": label}).first()
    connection.rollback()  # no snapshot held open between ticks
    if row is None:
        return None
    kind, name = row
    if not kind:
        return "running"
    return f"{kind}/{name}" if name else str(kind)
