"""A run stopped by Ctrl-C (SIGINT) or SIGTERM: where the database stands, what stayed.

The interruption travels as a ``KeyboardInterrupt`` (the command owns the signal and the
exit code, 130 or 143); on its way out of the run it picks up the facts the command's report
needs: the revision that was running and the statements of it that stay (MariaDB/MySQL keep
the DDL that ran; PostgreSQL and SQLite roll back what was not committed), and, once the
lock and every connection of the run are released, where each target stands, read again.
Nothing is recorded as failed (as after a SIGKILL, which leaves no process to record
anything): a plain re-run goes on, and a script written with guards converges over what a
MariaDB/MySQL revision left; the report lists those statements so someone can look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from flask_safemigrate import database, suggested
from flask_safemigrate.checks import kept_by_mysql
from flask_safemigrate.errors import SafeMigrateError
from flask_safemigrate.text import shorten
from flask_safemigrate.upgrade.apply import StepInterrupted
from flask_safemigrate.upgrade.state import Run

__all__ = ["Interrupted", "interrupted"]


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
    """``stop`` with the facts above; reads every target again (nothing else is written)."""
    step = stop if isinstance(stop, StepInterrupted) else None
    cause = step.cause if step is not None else stop
    facts = Interrupted(cause, revision=step.revision if step is not None else None)
    if hasattr(run, "setup"):
        facts.command = run.setup.command
    if not hasattr(run, "setup") or run.started is None:
        # Stopped before the database was read (perhaps waiting on an unreachable server):
        # reading it now could wait as long again; the report says "not read".
        return facts
    culprit = run.target_of(step.bind) if step is not None else None
    if step is not None and culprit is not None:
        facts.dialect = culprit.dialect
        facts.ran = bool(step.ran)
        kept = (
            kept_by_mysql(step.ran, step.statement)
            if culprit.dialect == "mysql"
            else step.committed
        )
        facts.stays = [shorten(database.mask_text(s, culprit.url)) for s in kept]
    for target in run.targets:
        try:
            with run.connect(target) as connection:
                target.current = run.read_current(connection)
                facts.positions.append(Position(target.name, target.current))
        except (SafeMigrateError, sa.exc.SQLAlchemyError, OSError):
            facts.positions.append(Position(target.name, None))
    return facts
