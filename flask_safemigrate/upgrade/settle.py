"""Statements killed migrators left running: waited for (or ended) under the lock."""

from __future__ import annotations

import time
from typing import Any

from flask_safemigrate import database, orphans
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import plural
from flask_safemigrate.upgrade import events
from flask_safemigrate.upgrade.engine_events import session_scope
from flask_safemigrate.upgrade.state import Run
from flask_safemigrate.upgrade.targets import Target

__all__ = ["settle_orphans"]


def settle_orphans(run: Run, target: Target, *, deadline: float) -> None:
    """Wait for (or end) statements killed migrators left running; exit 5 if they stay.

    Runs under the migration lock, before the revision is read again: on MariaDB the
    orphan's DDL may still commit, and what it did must be seen before planning.
    """
    settings = run.setup.settings
    url = target.url
    strategy = orphans.strategy_of(target.dialect)
    if strategy is None:
        return
    began = time.monotonic()
    scope = session_scope(url, run.setup.version_table, run.setup.version_schema)
    with run.connect(target) as connection:
        # Autocommit: PostgreSQL shows one snapshot of pg_stat_activity per transaction.
        connection.execution_options(isolation_level="AUTOCOMMIT")
        found = orphans.find(connection, scope)
        if not found:
            return
        statements = tuple(orphan.describe() for orphan in found)
        listing = " | ".join(statements)
        count = plural(len(found), "statement")
        run.progress.emit(
            events.OrphansFound(
                target=target.progress_name,
                action="end" if settings.cancel_orphans else "wait",
                statements=statements,
                wait=deadline - began,
            )
        )
        if settings.cancel_orphans:
            orphans.cancel(connection, found)
            left = orphans.wait_gone(connection, found, deadline=began + 30, scope=scope)
            done = f"Ended {count} a killed migrator left running: {listing}."
        else:
            left = orphans.wait_gone(connection, found, deadline=deadline, scope=scope)
            done = (
                f"Waited {time.monotonic() - began:.1f}s for {count} a killed migrator"
                f" left running to end: {listing}."
            )
    if not left:
        run.notes.append(done)
        action = "ended" if settings.cancel_orphans else "waited"
        run.orphans_settled += [{**_orphan_facts(o), "action": action} for o in found]
        return
    end = " or ".join(strategy.end_command(o.session) for o in left)
    raise run.stop(
        ExitCode.LOCK_TIMEOUT,
        Finding(
            rule="orphaned-statement",
            severity=Severity.ERROR,
            message=(
                f"A statement of a migrator that no longer holds the migration lock is"
                f" still running on {database.mask_url(url)} after"
                f" {time.monotonic() - began:.1f}s: "
                + " | ".join(o.describe() for o in left)
                + ". It holds its locks, so this run would block behind it; nothing was"
                " changed."
            ),
            help=(
                f"wait for it to end, or end it ({end}), or set"
                " SAFEMIGRATE_CANCEL_ORPHANS = True so safe-upgrade ends it; then run"
                " `flask db safe-upgrade` again"
            ),
            extra={"orphans": [_orphan_facts(o) for o in left]},
        ),
    )


def _orphan_facts(orphan: orphans.Orphan) -> dict[str, Any]:
    return {
        "session": orphan.session,
        "pid": orphan.pid,
        "host": orphan.host,
        "gone": orphan.gone,
        "seconds": orphan.seconds,
        "query": orphan.query,
    }
