"""Signs of life while a run waits: the lock wait's countdown and the running statement's
heartbeat, as progress events (the CLI words them; nothing here prints)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate import sessions
from flask_safemigrate.upgrade import apply, engine_events, events, heartbeat
from flask_safemigrate.upgrade.state import Run
from flask_safemigrate.upgrade.targets import Target

__all__ = ["StatementWatch", "lock_countdown"]


def lock_countdown(run: Run, target: Target) -> Callable[[float], None]:
    """A heartbeat tick while the run waits for ``target``'s migration lock: the time left."""
    wait = run.setup.settings.lock_wait

    def tick(waited: float) -> None:
        run.progress.emit(
            events.LockStillWaiting(
                target=target.progress_name,
                database=target.label,
                waited=waited,
                left=max(0.0, wait - waited),
            )
        )

    return tick


class StatementWatch:
    """The upgrade's heartbeat: each :class:`apply.Pulse` as a ``StatementRunning`` event,
    with PostgreSQL's wait event of the migration session, read on a connection of the
    watch's own (opened at the first beat, closed by :meth:`close`)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.connections: dict[str | None, Connection] = {}
        self.stack = contextlib.ExitStack()

    def __call__(self, pulse: apply.Pulse) -> None:
        run = self.run
        target = run.target_of(pulse.bind)
        wait_event = None
        if target.dialect == "postgresql":
            scope = engine_events.session_scope(
                target.url, run.setup.version_table, run.setup.version_schema
            )
            try:
                connection = self.connections.get(target.key)
                if connection is None:
                    connection = self.stack.enter_context(run.connect(target))
                    self.connections[target.key] = connection
                wait_event = heartbeat.pg_wait_event(connection, sessions.label("migrate", scope))
            except sa.exc.SQLAlchemyError:
                wait_event = None  # the heartbeat still says what runs and for how long
        statement = " ".join(pulse.statement.split()) if pulse.statement else None
        if statement is not None and len(statement) > 200:
            statement = statement[:197] + "..."
        run.progress.emit(
            events.StatementRunning(
                target=target.progress_name,
                revision=pulse.revision,
                seconds=pulse.seconds,
                statement=statement,
                wait_event=wait_event,
            )
        )

    def close(self) -> None:
        self.stack.close()
