"""A run stopped by Ctrl-C (SIGINT) or SIGTERM: where the database stands, what stayed.

The interruption travels as a ``KeyboardInterrupt`` (the command owns the signal and the
exit code, 130 or 143); on its way out of the run it picks up the facts the command's report
needs: the revision that was running and the statements of it that stay (MariaDB/MySQL keep
the DDL that ran; PostgreSQL and SQLite roll back what was not committed), and, once the
lock and every connection of the run are released, where each target stands, read again.

The statement in flight when the signal came is ended on the server, as Ctrl-C means:
psycopg cancels it itself on PostgreSQL, and SQLite runs in this process; PyMySQL does not,
so on MariaDB/MySQL the server would go on running it (holding its locks, a long ``ALTER``
for hours) after the client stopped waiting. The run finds its own migration session still
running a statement (its label) and ends it with ``KILL CONNECTION`` under the migration
lock, before it records anything. DDL ended that way rolls back (MariaDB's DDL is atomic)
unless it had finished first, so what it left stays ``unknown``.

What the ledger records follows issue #17 item 2, as for a failed revision: an interruption
that left nothing (rolled back, or nothing that changes anything had run) is not recorded,
so a plain re-run goes on by itself; one that may have left something (MariaDB/MySQL DDL
that ran, a committed ``autocommit_block``, DDL in flight that the server may still finish)
is recorded as a failed attempt saying what it left, and the next run stops until someone
has looked and passed ``--resolved``: a re-run over half-applied DDL is a guess.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from flask_safemigrate import database, ledger, orphans, suggested
from flask_safemigrate.checks import applied_revisions, commits_implicitly, kept_by_mysql
from flask_safemigrate.checks.failures import Left
from flask_safemigrate.errors import SafeMigrateError
from flask_safemigrate.text import shorten
from flask_safemigrate.upgrade.apply import StepInterrupted
from flask_safemigrate.upgrade.engine_events import session_scope
from flask_safemigrate.upgrade.state import Run
from flask_safemigrate.upgrade.targets import Target

__all__ = ["END_WAIT", "Interrupted", "end_in_flight", "interrupted", "record"]


@dataclass(frozen=True)
class Position:
    """Where one target stands after the interruption (``None``: it could not be read)."""

    name: str
    current: tuple[str, ...] | None


@dataclass(eq=False)
class Interrupted(KeyboardInterrupt):
    """The interruption (``cause``: the ``KeyboardInterrupt`` that stopped the run) and what
    the run knows when it ends: the running revision, what of it stays, where targets stand."""

    cause: KeyboardInterrupt
    revision: str | None = None
    dialect: str | None = None
    #: The running revision's statements that stay applied (masked, shortened).
    stays: Sequence[str] = ()
    #: Whether that revision had run any statement that changes something.
    ran: bool = False
    #: What the revision left: ``statements`` (``stays``), ``unknown`` (MariaDB/MySQL DDL in
    #: flight, which the server may finish) or ``nothing``.
    left: Left = "nothing"
    #: Whether the attempt was recorded as failed in the ledger (it left something, or may
    #: have): the next run then stops until ``--resolved``.
    recorded: bool = False
    #: The server sessions ended because they still ran the interrupted statement.
    ended: Sequence[int] = ()
    positions: list[Position] = field(default_factory=list)
    #: How the commands the report suggests start (``flask db -d DIR`` for another directory).
    command: str = suggested.DEFAULT_PREFIX

    @property
    def current(self) -> list[str] | None:
        """Every revision a target is at; ``None`` when a target could not be read."""
        if not self.positions or any(p.current is None for p in self.positions):
            return None
        return sorted({rev for p in self.positions for rev in p.current or ()})


def interrupted(run: Run, stop: KeyboardInterrupt) -> Interrupted:
    """``stop`` with the facts above; reads every target again (nothing else is written:
    :func:`record` wrote the ledger row, if any, while the lock was still held)."""
    step = stop if isinstance(stop, StepInterrupted) else None
    cause = step.cause if step is not None else stop
    facts = Interrupted(cause, revision=step.revision if step is not None else None)
    if hasattr(run, "setup"):
        facts.command = run.setup.command
    if not hasattr(run, "setup") or run.started is None:
        # Stopped before the database was read (perhaps waiting on an unreachable server):
        # reading it now could wait as long again; the report says "not read".
        return facts
    if step is not None:
        culprit, kept, facts.left = _left(run, step)
        facts.dialect = culprit.dialect
        facts.ran = bool(step.ran)
        facts.stays = [shorten(database.mask_text(s, culprit.url)) for s in kept]
        facts.recorded = step.recorded
        facts.ended = tuple(step.ended)
    for target in run.targets:
        try:
            with run.connect(target) as connection:
                target.current = run.read_current(connection)
                facts.positions.append(Position(target.name, target.current))
        except (SafeMigrateError, sa.exc.SQLAlchemyError, OSError):
            facts.positions.append(Position(target.name, None))
    return facts


def _left(run: Run, step: StepInterrupted) -> tuple[Target, list[str], Left]:
    """The interrupted revision's target, the statements of it that stay, and what it left:
    MariaDB/MySQL keep up to its last DDL that ran (and may still finish DDL in flight: the
    client stopped waiting, the server did not); elsewhere what an autocommit_block
    committed stays and the rest rolls back."""
    culprit = run.target_of(step.bind)
    mysql = culprit.dialect == "mysql"
    kept = kept_by_mysql(step.ran, step.statement) if mysql else list(step.committed)
    if mysql and step.statement is not None and commits_implicitly(step.statement):
        return culprit, kept, "unknown"
    return culprit, kept, "statements" if kept else "nothing"


#: How long an interrupted run waits for the server to end its statement: a SIGTERM leaves
#: a pod about 30 seconds before SIGKILL, and the lock must be released within them.
END_WAIT = 10.0


def end_in_flight(run: Run, step: StepInterrupted) -> None:
    """MariaDB/MySQL: end on the server this run's statement the signal left running (see
    the module docstring); sets ``step.ended``. Best effort: a server that cannot be reached
    now leaves it to the next run, which ends or waits for it as for a killed migrator's."""
    culprit = run.target_of(step.bind)
    if culprit.dialect != "mysql" or step.statement is None:
        return
    setup = run.setup
    scope = session_scope(culprit.url, setup.version_table, setup.version_schema)
    try:
        with run.connect(culprit) as connection:
            running = orphans.find(connection, scope, this_process=True)
            orphans.cancel(connection, running)
            still = orphans.wait_gone(
                connection,
                running,
                deadline=time.monotonic() + END_WAIT,
                scope=scope,
                this_process=True,
            )
    except (SafeMigrateError, sa.exc.SQLAlchemyError, OSError):
        return
    gone = {orphan.session for orphan in still}
    step.ended = [orphan.session for orphan in running if orphan.session not in gone]


def record(run: Run, step: StepInterrupted) -> None:
    """Under the migration lock, as the interruption leaves the upgrade: ends the statement
    still running on the server (:func:`end_in_flight`), then writes the attempt's failed
    ledger row when it may have left something and the revision did not commit (the row a
    failed revision gets, in the same words), so the next run waits for ``--resolved``.
    Sets ``step.recorded``; a row that cannot be written leaves it unset (best effort: the
    report then says nothing was recorded)."""
    end_in_flight(run, step)
    culprit, kept, left = _left(run, step)
    revision = step.revision
    if left == "nothing" or revision is None or not run.setup.settings.ledger:
        return
    how = getattr(step.cause, "signal_name", "Ctrl-C")
    reason = f"interrupted ({how}) while it ran"
    if left == "unknown":
        flight = shorten(database.mask_text(step.statement or "", culprit.url))
        ended = " (ended on the server: rolled back unless it had finished)" if step.ended else ""
        reason += f"; DDL in flight{ended}: {flight}"
    script = run.setup.graph.scripts.get(revision)
    try:
        with run.connect(culprit) as connection:
            current = run.read_current(connection)
            if revision in applied_revisions(run.setup.graph, current):
                return  # it committed before the signal: nothing to repair
            ledger.record(
                connection,
                revision=revision,
                direction="upgrade",
                checksum=ledger.checksum(script.path) if script is not None else None,
                started_at=step.started_at,
                finished_at=datetime.now(UTC),
                success=False,
                error=ledger.failure_text(
                    reason, left, [database.mask_text(s, culprit.url) for s in kept]
                ),
                schema=run.setup.version_schema,
            )
            connection.commit()
    except (SafeMigrateError, sa.exc.SQLAlchemyError, OSError):
        return
    step.recorded = True
