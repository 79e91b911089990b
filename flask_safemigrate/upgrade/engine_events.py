"""The engine events one safe-upgrade run adds to each target's engine (:func:`tuned`), and
the recorder of the statements the running revision executes (:class:`StatementRecorder`).

Split from :mod:`.apply`, which installs them for the length of one call: each new
connection gets the dialect's session settings (:mod:`.session_settings`) and the migration
lock's fence, each transaction its ``BEGIN`` and the caller's ``on_begin``, and every
statement carries the session's label (MariaDB's PROCESSLIST shows no connection attributes)
and is recorded, so a failure can name the statement that failed and those that already ran.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from flask_safemigrate import database, locks, sessions
from flask_safemigrate.upgrade.session_settings import revision_session

__all__ = ["StatementRecorder", "session_scope", "tuned"]

#: Statements that read or steer the session; they are not "what a revision ran".
_NOT_CHANGES = frozenset(
    {"SELECT", "PRAGMA", "SHOW", "DESCRIBE", "EXPLAIN", "BEGIN", "COMMIT", "ROLLBACK", "SET"}
)


class StatementRecorder:
    """The changing statements the running revision has executed, and the one in flight."""

    def __init__(self, version_table: str) -> None:
        self._version = re.compile(rf"\b{re.escape(version_table)}\b", re.IGNORECASE)
        self.ran: list[str] = []
        #: How many of ``ran`` a commit inside the revision made permanent.
        self.kept = 0
        self.current: str | None = None
        #: ``time.perf_counter()`` when the statement in flight started.
        self.since: float | None = None
        #: The target whose engine executed the latest statement.
        self.where: str | None = None

    def before(self, statement: str) -> None:
        self.current = statement
        self.since = time.perf_counter()

    def in_flight(self) -> float | None:
        """Seconds the statement in flight has run (``None`` between statements)."""
        return None if self.since is None else time.perf_counter() - self.since

    def after(self, statement: str) -> None:
        self.current = None
        self.since = None
        words = statement.lstrip().split(None, 1)
        if not words or words[0].upper() in _NOT_CHANGES or self._version.search(statement):
            return
        self.ran.append(statement.strip())

    def commit(self) -> None:
        """A commit inside the running revision (an ``autocommit_block``): what ran stays."""
        self.kept = len(self.ran)

    def reset(self) -> None:
        self.ran = []
        self.kept = 0
        self.current = None
        self.since = None


@contextmanager
def tuned(
    engine: Engine,
    *,
    lock_timeout: float,
    statement_timeout: float | None,
    recorder: StatementRecorder,
    on_begin: Callable[..., None],
    where: str | None = None,
    scope: str | None = None,
    fence: Callable[[Any], None] | None = None,
) -> Iterator[None]:
    """Engine events for the length of one upgrade (see the module docstring)."""
    session = revision_session(
        database.dialect_of(engine.url),
        lock_timeout=lock_timeout,
        statement_timeout=statement_timeout,
    )
    listeners: list[tuple[Any, str, Callable[..., Any]]] = []

    def listen(target: Any, name: str, fn: Callable[..., Any], **kw: Any) -> None:
        event.listen(target, name, fn, **kw)
        listeners.append((target, name, fn))

    def on_do_connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        # The label that lets the next migrator find this session's statement if we die.
        cparams.update(sessions.connect_args(engine.url.get_driver_name(), "migrate", scope))

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        session.prepare(dbapi_connection)
        if fence is not None and session.fenced:
            fence(dbapi_connection)

    def begin(connection: Connection) -> None:
        assert session.begin is not None
        connection.exec_driver_sql(session.begin)

    label = session.label(scope)

    def before(
        _conn: Any,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> tuple[str, Any]:
        recorder.where = where
        recorder.before(statement)
        if executemany:  # PyMySQL batches INSERT ... VALUES only when the text starts so
            return statement, parameters
        # MariaDB's PROCESSLIST shows no connection attributes: the label rides along.
        return label + statement, parameters

    def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        recorder.after(sessions.strip_comment(statement))

    engine.dispose()
    listen(engine, "do_connect", on_do_connect)
    listen(engine, "connect", on_connect)
    if session.begin is not None:
        listen(engine, "begin", begin)
    listen(engine, "begin", on_begin)
    listen(engine, "before_cursor_execute", before, retval=True)
    listen(engine, "after_cursor_execute", after)
    listen(engine, "commit", lambda _conn: recorder.commit())
    try:
        yield
    finally:
        for target, name, fn in listeners:
            event.remove(target, name, fn)
        engine.dispose()


def session_scope(url: sa.URL, version_table: str, schema: str | None) -> str:
    """The :func:`.sessions.scope_of` the migration lock of this database and version table."""
    return sessions.scope_of(locks.lock_name(url, version_table=version_table, schema=schema))
