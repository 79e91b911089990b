"""The reports of a run that stopped while applying: a failed revision (exit 4), a lost
connection (exit 4, ``connection-lost``) and a lost migration lock (exit 5, ``lock-lost``).

Every target is read back first, so the report says where each one stands now; the failure
is recorded in the failing target's ledger. The findings of the first two are worded by the
shared :mod:`flask_safemigrate.checks.failures` from the :class:`~.checks.failures.Failure`
gathered here; the lock-lost report is the run's own.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate import blockers, checks, database, faults, ledger, lock_guard
from flask_safemigrate.alembic_order import split_range
from flask_safemigrate.checks import Failure, connection_lost, migration_failed
from flask_safemigrate.errors import ExitCode, LockLost, SafeMigrateError
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path, one_line
from flask_safemigrate.upgrade import wording
from flask_safemigrate.upgrade.apply import StepFailed, failing_line
from flask_safemigrate.upgrade.state import Run, Stop

__all__ = ["failure", "lock_lost", "locks_file_hint", "refresh_positions", "sql_failed"]


def sql_failed(run: Run, error: Exception) -> Stop:
    """``--sql``: a script raised while Alembic wrote its SQL. Exit 4, as a real run says it.

    The revision is the script whose file is innermost on the traceback (its ``upgrade()`` or
    a helper it calls); nothing ran on any database, and nothing was printed on stdout.
    """
    scripts = {os.path.realpath(s.path): s for s in run.setup.graph.scripts.values()}
    script = None
    trace = error.__traceback__
    while trace is not None:
        script = scripts.get(os.path.realpath(trace.tb_frame.f_code.co_filename), script)
        trace = trace.tb_next
    reason = one_line(error, run.setup.urls).rstrip(".")
    name = checks.describe(script) if script is not None else "a migration script"
    again = _command(run.options.revision)  # the user's START:END, kept
    online = _command(split_range(run.options.revision)[1])  # a range is --sql only
    if _needs_live_table(error):
        message = (
            f"--sql: revision {name} cannot be written as SQL: its batch_alter_table block on"
            " SQLite recreates the table (a copy of it with the change, then a rename), and"
            " Alembic needs the live table to read its columns, which --sql never connects"
            " to. The script is not wrong. No SQL was printed and nothing ran on the database."
        )
        help_text = (
            f"run it online (`{online}`), or see the plan without changing anything with"
            f" `{online} --dry-run`; offline SQL of a SQLite batch block needs"
            " batch_alter_table(..., copy_from=<the full Table>) in the script"
        )
    else:
        message = (
            f"--sql: revision {name} failed while its SQL was written: {reason}."
            " No SQL was printed and nothing ran on the database."
        )
        help_text = f"fix the script at that line, then run `{again} --sql` again"
    return run.stop(
        ExitCode.MIGRATION_FAILED,
        Finding(
            rule="migration-failed",
            severity=Severity.ERROR,
            message=message,
            path=display_path(script.path) if script is not None else None,
            line=failing_line(error, script),
            help=help_text,
            extra={
                "revision": script.revision if script is not None else None,
                "error": reason,
            },
        ),
    )


def _command(revision: str) -> str:
    """``flask db safe-upgrade REVISION`` as the user can copy it (no REVISION for heads)."""
    return "flask db safe-upgrade" + (f" {shlex.quote(revision)}" if revision != "heads" else "")


def _needs_live_table(error: Exception) -> bool:
    """Alembic's refusal of a SQLite batch block in offline mode: "move and copy" reflects
    the live table (``batch_alter_table`` without ``copy_from``)."""
    text = str(error)
    return "cannot proceed in --sql mode" in text and "requires a live database" in text


def refresh_positions(run: Run, *, fallback_to_goal: bool) -> None:
    """Read where every target stands after applying: the report must not say "base".

    A target that cannot be read keeps what was known, or (after a successful upgrade,
    ``fallback_to_goal``) the goal Alembic reported reaching.
    """
    for target in run.targets:
        try:
            with run.connect(target) as connection:
                target.current = run.read_current(connection)
        except (SafeMigrateError, sa.exc.SQLAlchemyError):
            if fallback_to_goal and target.plan:
                target.current = tuple(run.goal)


def failure(run: Run, failed: StepFailed, *, attempts: int, waits: Sequence[float]) -> Stop:
    """The exit-4 finding: what failed, the statement, where each target stands now."""
    setup = run.setup
    script = setup.graph.scripts.get(failed.revision or "")
    facts = Failure(
        failed=failed,
        culprit=run.target_of(failed.bind),
        targets=run.targets,
        graph=setup.graph,
        script=script,
        name=checks.describe(script) if script is not None else (failed.revision or "?"),
        reason=one_line(failed.error, setup.urls),
        lock_timeout=faults.is_lock_timeout(failed.error),
        # A dropped connection is not the script's fault; where nothing of the revision can
        # be left the failure is recorded and resolved at once, so a plain re-run goes on.
        lost=faults.is_connection_lost(failed.error),
        attempts=attempts,
        waits=waits,
        line=failing_line(failed.error, script),
        lock_timeout_setting=setup.settings.lock_timeout,
        backup_path=run.backup_path,
        multi=run.multi,
    )
    for target in run.targets:
        try:
            with run.connect(target) as connection:
                target.current = run.read_current(connection)
                if target is facts.culprit:
                    _at_culprit(run, failed, facts, connection)
        except (SafeMigrateError, sa.exc.SQLAlchemyError, OSError) as exc:
            facts.unreadable.add(target.key)
            reason = one_line(exc, setup.urls)
            run.notes.append(
                f"Could not read back {target.label}: {reason}"
                if run.multi
                else f"Could not record the failure in the ledger: {reason}"
            )
    finding = connection_lost(facts) if facts.lost else migration_failed(facts)
    return run.stop(ExitCode.MIGRATION_FAILED, finding)


def _at_culprit(run: Run, failed: StepFailed, facts: Failure, connection: Connection) -> None:
    """On the failing target: who blocked it (lock timeout), and its ledger row."""
    if facts.lock_timeout:
        suspects = blockers.describe(connection, failed.statement)
        facts.blocking = [holder.line for holder in suspects]
        facts.blocking_ids = [holder.id for holder in suspects]
    now = facts.culprit.current
    committed = failed.revision in checks.applied_revisions(run.setup.graph, now)
    if run.setup.settings.ledger and failed.revision and failed.started and not committed:
        _record_failure(run, connection, failed, facts)


def _record_failure(run: Run, connection: Connection, failed: StepFailed, facts: Failure) -> None:
    """The failed attempt's ledger row, saying what it left; one that left nothing is
    resolved at once, so a plain re-run (an automated deploy's retry) goes on by itself."""
    assert failed.revision is not None
    schema = run.setup.version_schema
    reason = f"connection lost: {facts.reason}" if facts.lost else facts.reason
    # What stays: the statements that ran, or the failing one (an INVALID concurrent index).
    left = [database.mask_text(s, facts.culprit.url) for s in facts.stays] or [
        database.mask_text(failed.statement or "", facts.culprit.url)
    ]
    ledger.record(
        connection,
        revision=failed.revision,
        direction="upgrade",
        checksum=ledger.checksum(facts.script.path) if facts.script is not None else None,
        started_at=failed.started_at,
        finished_at=datetime.now(UTC),
        success=False,
        error=ledger.failure_text(reason, facts.left, left),
        schema=schema,
    )
    if facts.nothing_left:
        now = datetime.now(UTC)
        ledger.record(
            connection,
            revision=failed.revision,
            direction="resolve",
            checksum=None,
            started_at=now,
            finished_at=now,
            success=True,
            error=ledger.AUTO_RESOLVED,
            schema=schema,
        )
    connection.commit()


def lock_lost(run: Run, failed: StepFailed, error: LockLost) -> Stop:
    """The exit-5 ``lock-lost`` finding: when, which revision, what stayed, what to do.

    Nothing is recorded as a failure in the ledger: what the run stopped in was rolled
    back (PostgreSQL, SQLite) or committed whole (MariaDB/MySQL), so a plain re-run
    resumes; a ``failed-migration`` row would block it for nothing.
    """
    name_of_lock = error.data.get("lock")
    lost = [
        t for t in run.targets if t.guard is not None and t.guard.held.name == name_of_lock
    ] or [run.target_of(failed.bind)]
    guard = lost[0].guard
    refresh_positions(run, fallback_to_goal=False)
    data = error.data
    revision = data.get("revision") or failed.revision
    script = run.setup.graph.scripts.get(revision or "")
    name = checks.describe(script) if script is not None else (revision or "none")
    at = ", ".join(run.current) or "base"
    committed = list(data.get("committed_unlocked") or [])
    if data.get("point") == "commit":
        stayed = (
            f"Revision {name} had run; it was rolled back before its commit, nothing of it remains."
        )
    elif committed:
        stayed = (
            f"MariaDB/MySQL cannot roll back DDL, so {', '.join(committed)}, which had"
            " finished when the loss was seen, was committed whole; the run stopped"
            " before the next revision."
        )
    else:
        stayed = f"Revision {name} had not started."
    if committed and revision:
        stayed += f" Not started: {name}."
    holder = guard.held if guard is not None else None
    lock = (
        f"{holder.mechanism} lock of session {holder.session_id}"
        if holder is not None and holder.mechanism != "file"
        else f"lock file {holder.path}"
        if holder is not None
        else "lock"
    )
    label = " and ".join(t.label for t in lost)
    message = (
        f"The migration lock of {label} ({lock}, process pid {os.getpid()}) was"
        f" lost while migrating: last seen held at {data.get('confirmed_at')}, found lost"
        f" at {data.get('lost_at')}. {stayed} {wording.position_text(run, at)} Nothing ran"
        " twice: this run's migration session fenced every other migrator out of its"
        " revisions until it stopped; another migrator may hold the lock and be migrating"
        " now."
    )
    extra: dict[str, Any] = {
        "revision": revision,
        "current": list(run.current),
        **{k: v for k, v in data.items() if k != "revision"},
    }
    if run.multi:
        extra.update(
            bind=lost[0].key,
            lost_binds=[t.key for t in lost],
            rolled_back=[{"bind": s.bind, "revision": s.revision} for s in run.rolled_back],
            binds=[{"bind": t.key, "current": list(t.current)} for t in run.targets],
        )
    return run.stop(
        ExitCode.LOCK_TIMEOUT,
        Finding(
            rule="lock-lost",
            severity=Severity.ERROR,
            message=message,
            path=display_path(script.path) if script is not None else None,
            line=script.line if script is not None else None,
            help="find out what ended the lock's connection or file (a server or proxy idle"
            " timeout, a KILL or pg_terminate_backend, a failover, a deleted"
            f" {locks_file_hint(guard)}); then run `flask db safe-upgrade` again:"
            " it resumes from where the database stands, no --resolved needed",
            extra=extra,
        ),
    )


def locks_file_hint(guard: lock_guard.Guard | None) -> str:
    """How the lock-lost help names the SQLite lock file (``lock file`` elsewhere)."""
    path = guard.held.path if guard is not None else None
    return f"lock file {path}" if path is not None else "SQLite lock file"
