"""A revision that failed while applied: ``migration-failed`` and ``connection-lost`` (exit 4).

Both say which revision failed, on which statement and why, what of it stays (MariaDB/MySQL
keep the DDL that ran, PostgreSQL and SQLite roll it back), where the database now stands and
what to do next; with several targets, where EVERY target stands. The run that failed gathers
the facts (:class:`Failure`: it reads every target back and records the ledger row first);
these functions only word them, so any pipeline that applies revisions reports a failure the
same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from sqlalchemy.engine import URL

from flask_safemigrate import blockers, database, history
from flask_safemigrate.checks.ledger import applied_revisions
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path, plural, sentence, shorten

__all__ = [
    "AppliedStep",
    "FailedStep",
    "FailedTarget",
    "Failure",
    "Left",
    "commits_implicitly",
    "connection_lost",
    "kept_by_mysql",
    "migration_failed",
]

_WHY_LOST = (
    "find out why the session ended (pg_terminate_backend or KILL by someone, a server"
    " restart or failover, a proxy, firewall or network timeout)"
)


#: What a failed revision left in the database: ``nothing`` (its transaction rolled back, or
#: nothing that changes anything had run), ``statements`` (MariaDB/MySQL DDL that ran, an
#: ``autocommit_block``'s statements, an INVALID concurrent index) or ``unknown``.
Left = Literal["nothing", "statements", "unknown"]

#: Statements MariaDB/MySQL run inside the transaction; anything else commits it first.
_TRANSACTIONAL = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "SELECT", "WITH"})


def commits_implicitly(statement: str | None) -> bool:
    """Whether MariaDB/MySQL commit the open transaction before running ``statement``."""
    words = (statement or "").lstrip().split(None, 1)
    return bool(words) and words[0].upper() not in _TRANSACTIONAL


def kept_by_mysql(ran: Sequence[str], failing: str | None) -> list[str]:
    """What of a revision's statements stays on MariaDB/MySQL when it stops at ``failing``.

    A DDL statement commits the transaction before it runs: every statement up to the last
    DDL that ran stays, and all of them when the failing statement is DDL itself; data
    statements after the last DDL roll back with the transaction.
    """
    if commits_implicitly(failing):
        return list(ran)
    last = max((i for i, s in enumerate(ran) if commits_implicitly(s)), default=-1)
    return list(ran[: last + 1])


class AppliedStep(Protocol):
    """A revision a run applied (or rolled back) on one target."""

    @property
    def revision(self) -> str: ...

    @property
    def bind(self) -> str | None: ...


class FailedStep(Protocol):
    """The step that failed: which revision, on which statement, what ran before it."""

    @property
    def revision(self) -> str | None: ...

    @property
    def statement(self) -> str | None: ...

    @property
    def ran(self) -> Sequence[str]: ...

    @property
    def committed(self) -> Sequence[str]: ...

    @property
    def seconds(self) -> float: ...

    @property
    def started(self) -> bool: ...

    @property
    def applied(self) -> Sequence[AppliedStep]: ...

    @property
    def rolled_back(self) -> Sequence[AppliedStep]: ...


class FailedTarget(Protocol):
    """A target as read back after the failure (keyed as flask-sqlalchemy keys engines)."""

    @property
    def key(self) -> str | None: ...

    @property
    def url(self) -> URL: ...

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def dialect(self) -> str | None: ...

    @property
    def transactional(self) -> bool: ...

    @property
    def current(self) -> tuple[str, ...]: ...

    @property
    def at(self) -> str: ...

    @property
    def plan(self) -> Sequence[history.Script]: ...

    @property
    def backup(self) -> Path | None: ...


@dataclass
class Failure:
    """What is known of a failed revision once every target was read back: what the two
    findings say. ``line`` is where in the script the failure came from.
    """

    failed: FailedStep
    culprit: FailedTarget
    targets: Sequence[FailedTarget]
    graph: history.RevisionGraph
    script: history.Script | None
    name: str
    reason: str
    lock_timeout: bool
    lost: bool
    attempts: int
    waits: Sequence[float]
    line: int | None
    #: ``SAFEMIGRATE_LOCK_TIMEOUT``, which the lock-timeout wording names.
    lock_timeout_setting: float
    backup_path: Path | None
    #: Whether the run names its targets (several, or the multi-database template's one):
    #: then the report says which bind failed and where every bind stands.
    multi: bool
    blocking: list[str] = field(default_factory=list)
    #: The ids of the sessions ``blocking`` names (the help's end command takes a single one).
    blocking_ids: list[int] = field(default_factory=list)
    unreadable: set[str | None] = field(default_factory=set)

    @property
    def stays(self) -> Sequence[str]:
        """The revision's statements that stay applied.

        On MariaDB/MySQL see :func:`kept_by_mysql`; elsewhere only what an
        ``autocommit_block`` committed stays.
        """
        failed = self.failed
        if self.culprit.dialect != "mysql":
            return failed.committed
        return kept_by_mysql(failed.ran, failed.statement)

    @property
    def nothing_left(self) -> bool:
        """Nothing of the revision stays: rolled back, or no change ran yet on MariaDB."""
        return self.left == "nothing"

    @property
    def left(self) -> Left:
        """What the failure left: the ledger records it, and ``nothing`` needs no human."""
        if self.culprit.key in self.unreadable:
            return "unknown"
        if (
            self.lost
            and self.culprit.dialect == "mysql"
            and commits_implicitly(self.failed.statement)
        ):
            # DDL in flight when the connection dropped: the server may finish it anyway.
            return "unknown"
        if self.stays or _invalid_index(self) is not None:
            return "statements"
        return "nothing"

    @property
    def resume(self) -> str:
        return f"then run `flask db safe-upgrade --resolved {self.failed.revision}`"


def migration_failed(facts: Failure) -> Finding:
    """``migration-failed``: the revision failed (its script, the data, a lock timeout)."""
    return _several_targets(facts) if facts.multi else _one_target(facts)


def connection_lost(facts: Failure) -> Finding:
    """``connection-lost``: the session running the revision died; the script did not fail."""
    if facts.multi:
        return _several_targets(facts)
    statement, ran = _texts(facts)
    readable = facts.culprit.key not in facts.unreadable
    at = facts.culprit.at if readable else "unknown (unreachable)"
    return _connection_lost(facts, at, statement, ran)


def _waited(facts: Failure) -> str:
    """How the revision failed: ``failed``, or how long it waited for a lock and on whom."""
    if not facts.lock_timeout:
        return "failed"
    waits = facts.waits
    seconds = " + ".join(f"{w:.2f}s" for w in waits) if waits else "an unknown time"
    what = (
        f"gave up waiting for a lock after {seconds}"
        f" (SAFEMIGRATE_LOCK_TIMEOUT {facts.lock_timeout_setting:g}s,"
        f" {plural(facts.attempts, 'attempt')})"
    )
    if facts.blocking:
        return what + "; blocked by " + " | ".join(facts.blocking)
    if facts.culprit.dialect == "sqlite":
        return what + "; another connection held a write transaction on the database file"
    return what + "; the blocking session had gone by the time it was looked up"


def _lock_help(facts: Failure) -> str:
    return (
        "end or wait out the blocking session"
        f" ({blockers.how_to_end(facts.culprit.dialect, facts.blocking_ids)}),"
        " or raise SAFEMIGRATE_LOCK_TIMEOUT / SAFEMIGRATE_LOCK_RETRIES"
    )


def _extra(facts: Failure, statement: str | None, ran: list[str]) -> dict[str, Any]:
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
        "backup": str(facts.backup_path) if facts.backup_path else None,
        "left": facts.left,
    }


def _texts(facts: Failure) -> tuple[str | None, list[str]]:
    """The failing statement and those that ran before it, masked and shortened."""
    url = facts.culprit.url
    statement = shorten(database.mask_text(facts.failed.statement or "", url)) or None
    return statement, [shorten(database.mask_text(s, url)) for s in facts.failed.ran]


def _stay(count: int) -> str:
    """The verb after ``N statements``: "1 statement ... stays", "2 statements ... stay"."""
    return "stays" if count == 1 else "stay"


def _left_behind(facts: Failure, ran: Sequence[str], event: str, *, nothing: str) -> str:
    """What of the failing revision stays after the ``event`` (failure, drop)."""
    revision = facts.failed.revision
    kept = ran[: len(facts.stays)] if facts.culprit.dialect == "mysql" else []
    if kept:
        rest = (
            " The data statements after its last DDL rolled back." if len(kept) < len(ran) else ""
        )
        return (
            f" MariaDB/MySQL cannot roll back DDL: {plural(len(kept), 'statement')} of"
            f" {revision} ran before the {event} and {_stay(len(kept))} applied: "
            + "; ".join(kept)
            + "."
            + rest
        )
    if facts.culprit.dialect == "mysql" and ran:
        return (
            f" No DDL of {revision} had run before the {event}: its data statements rolled"
            " back with its transaction, nothing of it was left behind."
        )
    if facts.culprit.dialect == "mysql":
        return f" No statement of {revision} {nothing} before the {event}."
    if facts.stays:
        committed = _committed(facts)
        return f" {committed[0].upper()}{committed[1:]}; the rest of its transaction rolled back."
    return f" Nothing of {revision} was left behind: its transaction rolled back."


_CONCURRENT_INDEX = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>\"[^\"]+\"|[\w.$]+)",
    re.IGNORECASE,
)


def _invalid_index(facts: Failure) -> str | None:
    """The index a failed ``CREATE INDEX CONCURRENTLY`` left behind on PostgreSQL, if any."""
    if facts.culprit.dialect != "postgresql" or facts.lock_timeout or facts.lost:
        return None
    found = _CONCURRENT_INDEX.match(facts.failed.statement or "")
    return found["name"] if found else None


def _committed(facts: Failure) -> str:
    """The statements an ``autocommit_block`` of the failing revision committed."""
    committed = facts.failed.committed
    texts = [shorten(database.mask_text(s, facts.culprit.url)) for s in committed]
    return (
        f"its autocommit_block committed {plural(len(committed), 'statement')} of"
        f" {facts.failed.revision}, which {'stays' if len(texts) == 1 else 'stay'} applied: "
        + "; ".join(texts)
    )


def _finding(facts: Failure, rule: str, message: str, todo: str, extra: dict[str, Any]) -> Finding:
    """The exit-4 finding, pointing at the line of the script the failure came from."""
    script = facts.script
    return Finding(
        rule=rule,
        severity=Severity.ERROR,
        message=message,
        path=display_path(script.path) if script is not None else None,
        line=facts.line,
        help=todo,
        extra=extra,
    )


def _one_target(facts: Failure) -> Finding:
    failed, target = facts.failed, facts.culprit
    statement, ran = _texts(facts)
    readable = target.key not in facts.unreadable
    at = target.at if readable else "unknown (unreachable)"
    left = _left_behind(facts, ran, "failure", nothing="had run")
    what = _waited(facts)
    message = (
        f"Revision {facts.name} {what} on {target.label}: {sentence(facts.reason)} The database is"
        f" now at {at}.{left}"
    )
    if not failed.started and facts.lock_timeout:
        # SQLite: BEGIN IMMEDIATE, before the revision's first statement, ran out.
        message = (
            f"Revision {facts.name} could not begin on {target.label}: it {what}:"
            f" {sentence(facts.reason)} Nothing of it ran and no failure was recorded; the"
            f" database is at {at}."
        )
    elif not failed.started:
        message = (
            f"Alembic stopped before revision {facts.name} began on {target.label}:"
            f" {sentence(facts.reason)} Nothing of it ran and no failure was recorded; the"
            f" database is at {at}."
        )
    if facts.backup_path is not None:
        message += f" Backup from before this run: {facts.backup_path}."
    again = (
        "then run `flask db safe-upgrade` again (no --resolved needed: the failure left"
        " nothing behind)"
    )
    if not failed.started and facts.lock_timeout:
        todo = f"{_lock_help(facts)}; then run `flask db safe-upgrade` again (no --resolved needed)"
    elif not failed.started:
        todo = (
            "`flask db heads` shows Alembic's own error (a script it cannot load, or"
            " env.py); fix it and run `flask db safe-upgrade` again (no --resolved needed)"
        )
    elif facts.stays:
        todo = (
            f"undo (or finish) the statements of {failed.revision} listed above by hand,"
            f" fix the script or the data, {facts.resume}"
        )
    elif facts.left != "nothing":
        todo = f"find out what {failed.revision} left behind and repair it, {facts.resume}"
    elif facts.lock_timeout:
        todo = f"{_lock_help(facts)}; {again}"
    else:
        todo = f"fix the script or the data, {again}"
    invalid = _invalid_index(facts)
    if invalid is not None and failed.started:
        message += (
            f" PostgreSQL keeps the index {invalid} of a failed CREATE INDEX CONCURRENTLY,"
            " marked INVALID (never used, and an existence guard skips it on the next run)."
        )
        todo = f"drop it first (DROP INDEX CONCURRENTLY {invalid}), then {todo}"
    return _finding(facts, "migration-failed", message, todo, _extra(facts, statement, ran))


def _connection_lost(facts: Failure, at: str, statement: str | None, ran: list[str]) -> Finding:
    """Exit 4 ``connection-lost``: the session died under the revision; no script fault."""
    failed, target = facts.failed, facts.culprit
    revision = failed.revision
    readable = target.key not in facts.unreadable
    applied = readable and revision in applied_revisions(facts.graph, target.current)
    if applied:
        left = f" The version table says {revision} is applied: it committed before the drop."
    else:
        left = _left_behind(facts, ran, "drop", nothing="that changes anything had run")
        if facts.left == "unknown" and readable:
            left += (
                " The statement in flight is DDL, which MariaDB/MySQL may have finished and"
                " committed after the drop: whether it took effect is unknown."
            )
    message = (
        f"The database connection running revision {facts.name} on {target.label} was lost"
        f" after {failed.seconds:.2f}s, during: {statement or 'no statement'} ({facts.reason})."
        " The server ended the session or the network dropped it; the script itself did"
        f" not fail. The database is now at {at}.{left}"
    )
    if facts.backup_path is not None:
        message += f" Backup from before this run: {facts.backup_path}."
    resumable = applied or facts.left == "nothing"
    if resumable:
        todo = f"{_WHY_LOST}, then run `flask db safe-upgrade` again: there is nothing to repair"
    else:
        todo = (
            f"{_WHY_LOST}; undo (or finish) the statements of {revision} listed above by hand"
            + (
                ", and check whether the one in flight took effect"
                if facts.left == "unknown"
                else ""
            )
            + f", then run `flask db safe-upgrade --resolved {revision}`"
        )
    extra = {
        "revision": revision,
        "statement": statement,
        "error": facts.reason,
        "ran": ran,
        "current": list(target.current) if readable else None,
        "resumable": resumable,
        "backup": str(facts.backup_path) if facts.backup_path else None,
        "left": "nothing" if applied else facts.left,
    }
    return _finding(facts, "connection-lost", message, todo, extra)


def _several_targets(facts: Failure) -> Finding:
    """Which bind and revision failed, and where EVERY bind stands now."""
    failed, culprit = facts.failed, facts.culprit
    statement, ran = _texts(facts)
    states = [_state_of(t, facts, t.key in facts.unreadable) for t in facts.targets]
    what = (
        f"The database connection running revision {facts.name} on {culprit.label} was lost"
        f" ({facts.reason}); the server ended the session or the network dropped it, the"
        " script itself did not fail"
        if facts.lost
        else f"Revision {facts.name} {_waited(facts)} on {culprit.label}: {facts.reason}"
    )
    message = f"{sentence(what)} Where each database stands now: " + "; ".join(states) + "."
    if facts.backup_path is not None:
        message += (
            " Backups from before this run: "
            + ", ".join(f"{t.name}: {t.backup}" for t in facts.targets if t.backup is not None)
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
    elif facts.stays:
        todo = f"{undo}, fix the script or the data, {facts.resume}"
    elif facts.lock_timeout:
        todo = f"{_lock_help(facts)}; then run `flask db safe-upgrade` again (no --resolved needed)"
    else:
        todo = (
            "fix the script or the data, then run `flask db safe-upgrade` again (no"
            " --resolved needed: the failure left nothing behind)"
        )
    extra = {
        **_extra(facts, statement, ran),
        "bind": culprit.key,
        "binds": [
            {"bind": t.key, "current": None if t.key in facts.unreadable else list(t.current)}
            for t in facts.targets
        ],
    }
    return _finding(
        facts, "connection-lost" if facts.lost else "migration-failed", message, todo, extra
    )


def _state_of(target: FailedTarget, facts: Failure, unreadable: bool) -> str:
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
        if target.dialect == "mysql" and facts.stays:
            text += (
                "; MariaDB/MySQL cannot roll back DDL:"
                f" {plural(len(facts.stays), 'statement')} of {failed.revision} ran"
                f" before the failure and {_stay(len(facts.stays))} applied: "
                + "; ".join(shorten(database.mask_text(s, target.url)) for s in facts.stays)
            )
        elif target.dialect == "mysql" and failed.ran:
            text += f"; no DDL of {failed.revision} had run there, its data statements rolled back"
        elif target.dialect == "mysql":
            text += f"; no statement of {failed.revision} had run there"
        elif failed.committed:
            text += "; " + _committed(facts) + ", the rest rolled back"
        else:
            text += f"; {failed.revision} rolled back there"
    elif not target.plan:
        text += "; nothing to apply there"
    elif not committed and not undone:
        text += "; not reached, unchanged"
    return text
