"""What a safe-upgrade run tells as it goes: progress events as data, never as sentences.

The pipeline hands each event to the run's :class:`~.options.Progress` sink; the command
words them for the terminal (:mod:`flask_safemigrate.render.progress`) and a test or another
caller can record them. Every event names its stage and its ``target``: the bind a
multi-database run is about (``"default"`` or the bind key), ``None`` when the run has one
target (or when the event is about the whole run). The fields after those are what that kind
of event needs; the text the user reads is made from them alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from flask_safemigrate.report import Finding
from flask_safemigrate.upgrade.options import Stage

__all__ = [
    "Advised",
    "AnotherApplied",
    "AnotherMoved",
    "BackupOff",
    "BackupSkipped",
    "BackupWritten",
    "BackupsPruned",
    "Committed",
    "CompatChecked",
    "Endpoint",
    "Event",
    "Linted",
    "LockAcquired",
    "LockStillWaiting",
    "LockWaiting",
    "LongTransaction",
    "Merged",
    "OrphansFound",
    "Planned",
    "Position",
    "Progress",
    "ReleaseRecorded",
    "Retrying",
    "RunEnded",
    "RunStarted",
    "SizesRead",
    "StageStarted",
    "StatementRunning",
    "StepEnded",
    "StepStarted",
    "Verified",
]


@dataclass(frozen=True, kw_only=True)
class Event:
    """One thing that happened; subclasses say what."""

    stage: ClassVar[Stage]
    #: The bind (``"default"`` or its key) with several targets; ``None`` with one.
    target: str | None = None


@dataclass(frozen=True)
class Position:
    """Where one target stands: its revisions (empty: base), and whether that is the head
    with no drift from the models (only :class:`Verified` says so)."""

    target: str | None
    revisions: tuple[str, ...]
    at_head: bool = False


@dataclass(frozen=True)
class Endpoint:
    """A target's database as telemetry and logs may name it: never a user or a password.

    ``system`` is the URL's backend (``postgresql``, ``mysql``, ``mariadb``, ``sqlite``);
    ``namespace`` the database's name (SQLite: its file)."""

    target: str | None
    system: str | None
    address: str | None = None
    port: int | None = None
    namespace: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    """The run read its setup and begins pre-flight: what it was asked, and its databases."""

    stage: ClassVar[Stage] = "preflight"
    #: The command's REVISION (``heads``, ``+1``, an id), as given.
    revision: str
    databases: tuple[Endpoint, ...]
    dry_run: bool = False
    sql: bool = False


@dataclass(frozen=True, kw_only=True)
class StageStarted(Event):
    """The run enters ``stage`` (lock, backup, upgrade, verify): where that stage's time
    starts (pre-flight's starts with :class:`RunStarted`)."""

    stage: Stage  # type: ignore[misc]  # this event's stage is the one it enters


@dataclass(frozen=True, kw_only=True)
class RunEnded(Event):
    """The run's report is made: how it ended (``exit_code``) and the stage it reached (the
    report's ``stage``). A Ctrl-C or SIGTERM ends it without this event."""

    stage: ClassVar[Stage] = "done"
    outcome: Literal["ok", "failed"]
    exit_code: int
    reached: Stage
    #: How many revisions the run applied.
    applied: int


@dataclass(frozen=True, kw_only=True)
class Merged(Event):
    """``--auto-merge`` wrote a merge revision of the heads."""

    stage: ClassVar[Stage] = "preflight"
    #: The merge revision (``None`` only if the merge wrote none).
    revision: str | None


@dataclass(frozen=True, kw_only=True)
class Planned(Event):
    """Preflight read a target: where it stands and the revisions its plan holds."""

    stage: ClassVar[Stage] = "preflight"
    #: How the target is named to the user: its masked URL (and bind, with several).
    database: str
    #: Where the target stands: its current revisions (empty at base).
    current: tuple[str, ...]
    #: The revisions to apply, in the order Alembic applies them.
    plan: tuple[str, ...]
    pending: int


@dataclass(frozen=True, kw_only=True)
class SizesRead(Event):
    """Preflight read the size of the tables a target's plan touches (live_check)."""

    stage: ClassVar[Stage] = "preflight"
    database: str
    #: Tables asked about, and how many of them exist now.
    tables: int
    existing: int
    #: The names of those that do not exist now (a typo, or made by SQL the plan runs).
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LongTransaction(Event):
    """Preflight found another session's transaction, older than SAFEMIGRATE_MAX_BLOCKER_AGE,
    on a table the plan locks: named now, before the migration lock is taken."""

    stage: ClassVar[Stage] = "preflight"
    database: str
    #: ``pid``/``connection`` and its id, user, application, age and last query, in words.
    session: str


@dataclass(frozen=True, kw_only=True)
class Linted(Event):
    """Lint passed over the pending scripts; with ``errors``, the run stops once the
    release-compatibility check has run too (the errors are in its report)."""

    stage: ClassVar[Stage] = "preflight"
    warnings: int
    scripts: int
    #: Findings that block the deploy (listed in the report, with how to go on anyway).
    errors: int = 0
    #: Findings held at info (a lock harmless at the table's live size, ...): shown, not
    #: counted as warnings.
    infos: int = 0
    #: How many findings are about ``downgrade()`` or for review (conventions): they never
    #: block, and are listed one line each (``review``).
    left: int = 0
    #: Those findings (of the pending scripts only, never of applied revisions).
    review: tuple[Finding, ...] = ()
    #: ``--skip-lint``: nothing was checked (said, so a deploy log shows it was asked for).
    skipped: bool = False


@dataclass(frozen=True, kw_only=True)
class Advised(Event):
    """Pre-flight passed with these findings (warnings, notes): shown before the run goes
    on, where they belong, not after the upgrade and its verification."""

    stage: ClassVar[Stage] = "preflight"
    findings: tuple[Finding, ...]


@dataclass(frozen=True, kw_only=True)
class CompatChecked(Event):
    """Pre-flight compared the release recorded last on a target (the one running now) with
    the release deployed (``SAFEMIGRATE_COMPAT``), or says why it could not."""

    stage: ClassVar[Stage] = "preflight"
    database: str
    #: How the recorded release is named (``None``: none is recorded).
    release: str | None
    ran: bool
    #: Breaks found (errors and warnings).
    breaks: int
    #: Why nothing was compared (no release recorded, an unreadable record, ...).
    skipped: str | None
    #: ``block`` or ``warn``.
    mode: str
    #: The run goes on past breaks (or an unreadable record) because of ``--allow-breaking``.
    allowed: bool = False


@dataclass(frozen=True, kw_only=True)
class LockWaiting(Event):
    """The run starts waiting for a target's migration lock, up to ``wait`` seconds."""

    stage: ClassVar[Stage] = "lock"
    database: str
    wait: float


@dataclass(frozen=True, kw_only=True)
class LockStillWaiting(Event):
    """The run still waits for a target's migration lock (every ``SAFEMIGRATE_HEARTBEAT``)."""

    stage: ClassVar[Stage] = "lock"
    database: str
    waited: float
    left: float


@dataclass(frozen=True, kw_only=True)
class LockAcquired(Event):
    """The lock came after ``seconds``."""

    stage: ClassVar[Stage] = "lock"
    seconds: float


@dataclass(frozen=True, kw_only=True)
class OrphansFound(Event):
    """Statements of killed migrators are still running under the lock: the run ends them
    (``action="end"``, ``SAFEMIGRATE_CANCEL_ORPHANS``) or waits up to ``wait`` seconds."""

    stage: ClassVar[Stage] = "lock"
    action: Literal["end", "wait"]
    #: Each statement as :meth:`flask_safemigrate.orphans.Orphan.describe` gives it.
    statements: tuple[str, ...]
    wait: float


@dataclass(frozen=True, kw_only=True)
class AnotherApplied(Event):
    """Read again under the lock: another migrator did the plan; nothing left to apply."""

    stage: ClassVar[Stage] = "lock"
    positions: tuple[Position, ...]


@dataclass(frozen=True, kw_only=True)
class AnotherMoved(Event):
    """Read again under the lock: another migrator applied part of the plan while this one
    waited; ``left`` revisions of the plan, made again from where the targets stand, remain."""

    stage: ClassVar[Stage] = "lock"
    positions: tuple[Position, ...]
    left: int


@dataclass(frozen=True, kw_only=True)
class BackupWritten(Event):
    """A target's backup file is written."""

    stage: ClassVar[Stage] = "backup"
    database: str
    path: str


@dataclass(frozen=True, kw_only=True)
class BackupOff(Event):
    """A target about to change gets no backup because backups are off for it: ``why`` is
    ``default`` (off by default for its dialect: servers), ``setting`` (``SAFEMIGRATE_BACKUP``
    is False) or ``option`` (``--no-backup``)."""

    stage: ClassVar[Stage] = "backup"
    database: str
    why: Literal["default", "setting", "option"]


@dataclass(frozen=True, kw_only=True)
class BackupSkipped(Event):
    """A target that wanted a backup has no tables (besides the version table and the
    ledger): there is nothing to restore, so no file is written."""

    stage: ClassVar[Stage] = "backup"
    database: str


@dataclass(frozen=True, kw_only=True)
class BackupsPruned(Event):
    """After a successful run, the oldest backups of a target beyond ``keep`` were removed."""

    stage: ClassVar[Stage] = "done"
    database: str
    removed: tuple[str, ...]
    keep: int


@dataclass(frozen=True, kw_only=True)
class StepStarted(Event):
    """Revision ``position`` (0-based) of ``total`` is about to run."""

    stage: ClassVar[Stage] = "upgrade"
    position: int
    total: int
    revision: str
    #: The script's message (``-m``), empty when it has none.
    message: str


@dataclass(frozen=True, kw_only=True)
class StepEnded(Event):
    """The step committed (``outcome="ok"``; multi-database: it ran, see
    :func:`.apply.apply`'s commit policy) or failed and was rolled back where the database
    can (``"failed"``), after ``seconds``."""

    stage: ClassVar[Stage] = "upgrade"
    position: int
    total: int
    #: ``None`` only for a failure no revision could be blamed on.
    revision: str | None
    seconds: float
    outcome: Literal["ok", "failed"]


@dataclass(frozen=True, kw_only=True)
class StatementRunning(Event):
    """One statement of a revision still runs (every ``SAFEMIGRATE_HEARTBEAT``): for how long,
    which (one line, shortened), and on PostgreSQL what the session waits on (``wait_event``:
    ``Lock/relation``, ``IO/DataFileRead``, ``running``; ``None`` where unknown)."""

    stage: ClassVar[Stage] = "upgrade"
    revision: str | None
    seconds: float
    statement: str | None
    wait_event: str | None = None


@dataclass(frozen=True, kw_only=True)
class Retrying(Event):
    """A revision waited longer than the lock timeout; the run retries after ``pause``."""

    stage: ClassVar[Stage] = "upgrade"
    revision: str | None
    #: ``SAFEMIGRATE_LOCK_TIMEOUT`` and ``SAFEMIGRATE_LOCK_RETRIES``.
    lock_timeout: float
    retries: int
    attempt: int
    pause: float
    #: How long the failed statement waited, where the database said.
    waited: float | None


@dataclass(frozen=True, kw_only=True)
class Committed(Event):
    """The multi-database template committed every bind's transaction together."""

    stage: ClassVar[Stage] = "upgrade"
    targets: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Verified(Event):
    """Post-verify found every target where it should be."""

    stage: ClassVar[Stage] = "verify"
    positions: tuple[Position, ...]


@dataclass(frozen=True, kw_only=True)
class ReleaseRecorded(Event):
    """After a successful run, the models of the release deployed were recorded on a target
    (``safemigrate_release``): the next run's pre-flight compares with them."""

    stage: ClassVar[Stage] = "done"
    database: str
    heads: tuple[str, ...]


class Progress:
    """The sink a run hands its events to, in the order they happen; this one drops them.

    The command's sink words them for the terminal; a test records them
    (``class Recorder(Progress)`` with an :meth:`emit` that appends).
    """

    def emit(self, event: Event) -> None:
        """One event, as it happens."""
