"""The reports of a run that stopped while applying: a failed revision (exit 4), a lost
connection (exit 4, ``connection-lost``) and a lost migration lock (exit 5, ``lock-lost``).

Every target is read back first, so the report says where each one stands now; the failure
is recorded in the failing target's ledger. The wording for one target and for several
(which names the bind and where each bind stands) are the two ``_*_message`` pairs below.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate import blockers, checks, database, faults, history, ledger, lock_guard
from flask_safemigrate.errors import ExitCode, LockLost, SafeMigrateError
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path, one_line, plural, shorten
from flask_safemigrate.upgrade import wording
from flask_safemigrate.upgrade.apply import StepFailed, failing_line
from flask_safemigrate.upgrade.state import Run, Stop
from flask_safemigrate.upgrade.targets import Target

__all__ = ["failure", "lock_lost", "locks_file_hint", "refresh_positions"]

_WHY_LOST = (
    "find out why the session ended (pg_terminate_backend or KILL by someone, a server"
    " restart or failover, a proxy, firewall or network timeout)"
)


@dataclass
class _Failed:
    """What is known of a failed revision once every target was read back."""

    failed: StepFailed
    culprit: Target
    script: history.Script | None
    name: str
    reason: str
    lock_timeout: bool
    lost: bool
    attempts: int
    waits: Sequence[float]
    blocking: list[str] = field(default_factory=list)
    unreadable: set[str | None] = field(default_factory=set)

    @property
    def nothing_left(self) -> bool:
        """Nothing of the revision stays: rolled back, or no change ran yet on MariaDB."""
        return self.culprit.transactional or not self.failed.ran

    @property
    def resume(self) -> str:
        return f"then run `flask db safe-upgrade --resolved {self.failed.revision}`"


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
    facts = _Failed(
        failed=failed,
        culprit=run.target_of(failed.bind),
        script=script,
        name=checks.describe(script) if script is not None else (failed.revision or "?"),
        reason=one_line(failed.error, setup.urls),
        lock_timeout=faults.is_lock_timeout(failed.error),
        # A dropped connection is not the script's fault; where nothing of the revision can
        # be left the failure is recorded and resolved at once, so a plain re-run goes on.
        lost=faults.is_connection_lost(failed.error),
        attempts=attempts,
        waits=waits,
    )
    for target in run.targets:
        try:
            with run.connect(target) as connection:
                target.current = run.read_current(connection)
                if target is facts.culprit:
                    _at_culprit(run, facts, connection)
        except (SafeMigrateError, sa.exc.SQLAlchemyError, OSError) as exc:
            facts.unreadable.add(target.key)
            reason = one_line(exc, setup.urls)
            run.notes.append(
                f"Could not read back {target.label}: {reason}"
                if run.multi
                else f"Could not record the failure in the ledger: {reason}"
            )
    finding = _several_targets(run, facts) if run.multi else _one_target(run, facts)
    return run.stop(ExitCode.MIGRATION_FAILED, finding)


def _at_culprit(run: Run, facts: _Failed, connection: Connection) -> None:
    """On the failing target: who blocked it (lock timeout), and its ledger row."""
    failed = facts.failed
    if facts.lock_timeout:
        facts.blocking = blockers.describe(connection, failed.statement)
    now = facts.culprit.current
    committed = failed.revision in checks.applied_revisions(run.setup.graph, now)
    if run.setup.settings.ledger and failed.revision and failed.started and not committed:
        _record_failure(run, connection, facts)


def _record_failure(run: Run, connection: Connection, facts: _Failed) -> None:
    """The failed attempt's ledger row; a lost connection that left nothing is resolved too."""
    failed = facts.failed
    assert failed.revision is not None
    schema = run.setup.version_schema
    ledger.record(
        connection,
        revision=failed.revision,
        direction="upgrade",
        checksum=ledger.checksum(facts.script.path) if facts.script is not None else None,
        started_at=failed.started_at,
        finished_at=datetime.now(UTC),
        success=False,
        error=f"connection lost: {facts.reason}" if facts.lost else facts.reason,
        schema=schema,
    )
    if facts.lost and facts.nothing_left:
        now = datetime.now(UTC)
        ledger.record(
            connection,
            revision=failed.revision,
            direction="resolve",
            checksum=None,
            started_at=now,
            finished_at=now,
            success=True,
            error="resolved by safe-upgrade: the connection was lost and nothing of the"
            " revision was left (its transaction rolled back)",
            schema=schema,
        )
    connection.commit()


def _waited(run: Run, facts: _Failed) -> str:
    """How the revision failed: ``failed``, or how long it waited for a lock and on whom."""
    if not facts.lock_timeout:
        return "failed"
    waits = facts.waits
    seconds = " + ".join(f"{w:.2f}s" for w in waits) if waits else "an unknown time"
    what = (
        f"gave up waiting for a lock after {seconds}"
        f" (SAFEMIGRATE_LOCK_TIMEOUT {run.setup.settings.lock_timeout:g}s,"
        f" {plural(facts.attempts, 'attempt')})"
    )
    if facts.blocking:
        return what + "; blocked by " + " | ".join(facts.blocking)
    if facts.culprit.dialect == "sqlite":
        return what + "; another connection held a write transaction on the database file"
    return what + "; the blocking session had gone by the time it was looked up"


def _lock_help(facts: _Failed) -> str:
    return (
        f"end or wait out the blocking session ({blockers.how_to_end(facts.culprit.dialect)}),"
        " or raise SAFEMIGRATE_LOCK_TIMEOUT / SAFEMIGRATE_LOCK_RETRIES"
    )


def _extra(run: Run, facts: _Failed, statement: str | None, ran: list[str]) -> dict[str, Any]:
    failed, culprit = facts.failed, facts.culprit
    readable = culprit.key not in facts.unreadable
    return {
        "revision": failed.revision,
        "statement": statement,
        "error": facts.reason,
        "ran": ran,
        "current": list(culprit.current) if readable else None,
        "blockers": facts.blocking,
        "attempts": facts.attempts,
        "waited": [round(w, 3) for w in facts.waits] if facts.lock_timeout else [],
        "backup": str(run.backup_path) if run.backup_path else None,
    }


def _texts(facts: _Failed) -> tuple[str | None, list[str]]:
    """The failing statement and those that ran before it, masked and shortened."""
    url = facts.culprit.url
    statement = shorten(database.mask_text(facts.failed.statement or "", url)) or None
    return statement, [shorten(database.mask_text(s, url)) for s in facts.failed.ran]


def _left_behind(facts: _Failed, ran: Sequence[str], event: str, *, nothing: str) -> str:
    """What of the failing revision stays after the ``event`` (failure, drop)."""
    revision = facts.failed.revision
    if facts.culprit.dialect == "mysql" and ran:
        return (
            f" MariaDB/MySQL cannot roll back DDL: {plural(len(ran), 'statement')} of"
            f" {revision} ran before the {event} and stay applied: " + "; ".join(ran) + "."
        )
    if facts.culprit.dialect == "mysql":
        return f" No statement of {revision} {nothing} before the {event}."
    return f" Nothing of {revision} was left behind: its transaction rolled back."


def _finding(facts: _Failed, rule: str, message: str, todo: str, extra: dict[str, Any]) -> Finding:
    """The exit-4 finding, pointing at the line of the script the failure came from."""
    script = facts.script
    return Finding(
        rule=rule,
        severity=Severity.ERROR,
        message=message,
        path=display_path(script.path) if script is not None else None,
        line=failing_line(facts.failed.error, script),
        help=todo,
        extra=extra,
    )


def _one_target(run: Run, facts: _Failed) -> Finding:
    failed, target = facts.failed, facts.culprit
    statement, ran = _texts(facts)
    readable = target.key not in facts.unreadable
    at = target.at if readable else "unknown (unreachable)"
    if facts.lost:
        return _connection_lost(run, facts, at, statement, ran)
    dialect = target.dialect
    left = _left_behind(facts, ran, "failure", nothing="had run")
    what = _waited(run, facts)
    message = (
        f"Revision {facts.name} {what} on {target.label}: {facts.reason}. The database is now"
        f" at {at}.{left}"
    )
    if not failed.started and facts.lock_timeout:
        # SQLite: BEGIN IMMEDIATE, before the revision's first statement, ran out.
        message = (
            f"Revision {facts.name} could not begin on {target.label}: it {what}:"
            f" {facts.reason}. Nothing of it ran and no failure was recorded; the database is"
            f" at {at}."
        )
    elif not failed.started:
        message = (
            f"Alembic stopped before revision {facts.name} began on {target.label}:"
            f" {facts.reason}. Nothing of it ran and no failure was recorded; the database is"
            f" at {at}."
        )
    if run.backup_path is not None:
        message += f" Backup from before this run: {run.backup_path}."
    if not failed.started and facts.lock_timeout:
        todo = f"{_lock_help(facts)}; then run `flask db safe-upgrade` again (no --resolved needed)"
    elif not failed.started:
        todo = (
            "`flask db heads` shows Alembic's own error (a script it cannot load, or"
            " env.py); fix it and run `flask db safe-upgrade` again (no --resolved needed)"
        )
    elif facts.lock_timeout:
        todo = f"{_lock_help(facts)}; {facts.resume}"
    elif dialect == "mysql" and ran:
        todo = (
            f"undo (or finish) the statements of {failed.revision} listed above by hand,"
            f" fix the script or the data, {facts.resume}"
        )
    else:
        todo = f"fix the script or the data, {facts.resume}"
    return _finding(facts, "migration-failed", message, todo, _extra(run, facts, statement, ran))


def _connection_lost(
    run: Run, facts: _Failed, at: str, statement: str | None, ran: list[str]
) -> Finding:
    """Exit 4 ``connection-lost``: the session died under the revision; no script fault."""
    failed, target = facts.failed, facts.culprit
    revision = failed.revision
    readable = target.key not in facts.unreadable
    applied = readable and revision in checks.applied_revisions(run.setup.graph, target.current)
    mysql = target.dialect == "mysql"
    if applied:
        left = f" The version table says {revision} is applied: it committed before the drop."
    else:
        left = _left_behind(facts, ran, "drop", nothing="that changes anything had run")
    message = (
        f"The database connection running revision {facts.name} on {target.label} was lost"
        f" after {failed.seconds:.2f}s, during: {statement or 'no statement'} ({facts.reason})."
        " The server ended the session or the network dropped it; the script itself did"
        f" not fail. The database is now at {at}.{left}"
    )
    if run.backup_path is not None:
        message += f" Backup from before this run: {run.backup_path}."
    resumable = not (mysql and ran and not applied)
    if resumable:
        todo = f"{_WHY_LOST}, then run `flask db safe-upgrade` again: there is nothing to repair"
    else:
        todo = (
            f"{_WHY_LOST}; undo (or finish) the statements of {revision} listed above by hand,"
            f" then run `flask db safe-upgrade --resolved {revision}`"
        )
    extra = {
        "revision": revision,
        "statement": statement,
        "error": facts.reason,
        "ran": ran,
        "current": list(target.current) if readable else None,
        "resumable": resumable,
        "backup": str(run.backup_path) if run.backup_path else None,
    }
    return _finding(facts, "connection-lost", message, todo, extra)


def _several_targets(run: Run, facts: _Failed) -> Finding:
    """Which bind and revision failed, and where EVERY bind stands now."""
    failed, culprit = facts.failed, facts.culprit
    statement, ran = _texts(facts)
    states = [_state_of(t, facts, t.key in facts.unreadable) for t in run.targets]
    what = (
        f"The database connection running revision {facts.name} on {culprit.label} was lost"
        f" ({facts.reason}); the server ended the session or the network dropped it, the"
        " script itself did not fail"
        if facts.lost
        else f"Revision {facts.name} {_waited(run, facts)} on {culprit.label}: {facts.reason}"
    )
    message = f"{what}. Where each database stands now: " + "; ".join(states) + "."
    if run.backup_path is not None:
        message += (
            " Backups from before this run: "
            + ", ".join(f"{t.name}: {t.backup}" for t in run.targets if t.backup is not None)
            + "."
        )
    undo = (
        f"undo (or finish) by hand the statements of {failed.revision} that stay"
        f" applied on {culprit.name} (listed above)"
    )
    if facts.lost and facts.nothing_left:
        todo = f"{_WHY_LOST}, then run `flask db safe-upgrade` again: there is nothing to repair"
    elif facts.lost:
        todo = f"{_WHY_LOST}; {undo}, {facts.resume}"
    elif culprit.dialect == "mysql" and ran:
        todo = f"{undo}, fix the script or the data, {facts.resume}"
    elif facts.lock_timeout:
        todo = f"{_lock_help(facts)}; {facts.resume}"
    else:
        todo = f"fix the script or the data, {facts.resume}"
    extra = {
        **_extra(run, facts, statement, ran),
        "bind": culprit.key,
        "binds": [
            {"bind": t.key, "current": None if t.key in facts.unreadable else list(t.current)}
            for t in run.targets
        ],
    }
    return _finding(
        facts, "connection-lost" if facts.lost else "migration-failed", message, todo, extra
    )


def _state_of(target: Target, facts: _Failed, unreadable: bool) -> str:
    """One bind's state after a failure, read back from its version table."""
    failed = facts.failed
    at = "unknown (unreachable)" if unreadable else target.at
    committed = [s.revision for s in failed.applied if s.bind == target.key]
    undone = [s.revision for s in failed.rolled_back if s.bind == target.key]
    text = f"{target.label} is at {at}"
    if committed:
        text += (
            f" ({', '.join(committed)} committed by this run: MariaDB/MySQL commits each revision)"
        )
    if undone:
        text += (
            f"; {', '.join(undone)} ran there and rolled back with the failure (one"
            " transaction per database until every bind is done)"
        )
    if target is facts.culprit:
        if target.dialect == "mysql" and failed.ran:
            text += (
                "; MariaDB/MySQL cannot roll back DDL:"
                f" {plural(len(failed.ran), 'statement')} of {failed.revision} ran"
                " before the failure and stay applied: "
                + "; ".join(shorten(database.mask_text(s, target.url)) for s in failed.ran)
            )
        elif target.dialect == "mysql":
            text += f"; no statement of {failed.revision} had run there"
        else:
            text += f"; {failed.revision} rolled back there"
    elif not target.plan:
        text += "; nothing to apply there"
    elif not committed and not undone:
        text += "; not reached, unchanged"
    return text


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
