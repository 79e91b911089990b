"""safe-upgrade's progress as the user reads it: the wording of :mod:`.upgrade.events`.

The pipeline emits events as data; :class:`ProgressPrinter` is the command's sink. It words
each event as one line (``preflight: ...``, ``  ... waiting``; a revision's line opened before
it runs and closed with ``ok 0.12s`` or ``FAILED after ...``) and hands the text to the
``write`` function the command gives it (``click.echo`` to stdout, or to stderr when stdout
carries JSON), so nothing here touches a stream. It also keeps what a Ctrl-C report needs:
the stage reached, the revisions committed, the backup written.

Imported by the command only, not by :mod:`flask_safemigrate.render`: the events live in the
upgrade package, which needs Flask and Alembic, and ``safemigrate lint`` must start without them.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from flask_safemigrate.render.json_log import record_line
from flask_safemigrate.render.text import render_finding
from flask_safemigrate.report import Finding
from flask_safemigrate.safe_text import printable
from flask_safemigrate.text import plural, shorten
from flask_safemigrate.upgrade import Progress, Stage
from flask_safemigrate.upgrade.events import (
    Advised,
    AnotherApplied,
    AnotherMoved,
    BackupOff,
    BackupSkipped,
    BackupsPruned,
    BackupWritten,
    Committed,
    CompatChecked,
    Event,
    Linted,
    LockAcquired,
    LockStillWaiting,
    LockWaiting,
    LongTransaction,
    Merged,
    OrphansFound,
    Planned,
    Position,
    ReleaseRecorded,
    Retrying,
    RunEnded,
    RunStarted,
    SizesRead,
    StageStarted,
    StatementRunning,
    StepEnded,
    StepStarted,
    Verified,
)

__all__ = [
    "JsonLogPrinter",
    "LintLinesPrinter",
    "ProgressPrinter",
    "event_level",
    "event_line",
    "event_record",
    "step_label",
]

#: Events the terminal does not show: the run's start and end, and each stage's start, are
#: for logs and telemetry (the text shows each stage by its first line, and the summary).
UNWORDED = (RunStarted, StageStarted, RunEnded)

#: ``write(text, newline)``: prints one piece of progress.
Write = Callable[[str, bool], None]


def _at(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) or "base"


def step_label(position: int, total: int, target: str | None) -> str:
    """``[2/5]``, or ``[logs] 2/5`` for a step on a bind of a multi-database app."""
    return f"[{position + 1}/{total}]" if target is None else f"[{target}] {position + 1}/{total}"


def _positions(positions: tuple[Position, ...], *, verified: bool) -> str:
    multi = any(p.target is not None for p in positions)
    if not verified:
        if multi:
            return "now " + "; ".join(f"{p.target} at {_at(p.revisions)}" for p in positions)
        return f"now at {_at(positions[0].revisions)}"
    if not multi:
        only = positions[0]
        return "at head, no drift from the models" if only.at_head else f"at {_at(only.revisions)}"
    parts = [
        f"{p.target} " + ("at head, no drift" if p.at_head else f"at {_at(p.revisions)}")
        for p in positions
    ]
    return "; ".join(parts) + " from the models"


def _retrying(event: Retrying) -> str:
    on = f" on {event.target}" if event.target is not None else ""
    rolled = " every bind rolled back;" if event.target is not None else ""
    waited = f" (it waited {event.waited:.2f}s)" if event.waited is not None else ""
    return (
        f"revision {event.revision}{on} waited longer than SAFEMIGRATE_LOCK_TIMEOUT"
        f" ({event.lock_timeout:g}s) for a lock;{rolled} retry {event.attempt} of"
        f" {event.retries} in {event.pause:g}s{waited}"
    )


def _running(event: StatementRunning) -> str:
    on = f" on {event.target}" if event.target is not None else ""
    what = f": {event.statement}" if event.statement else ""
    waits = ""
    if event.wait_event == "running":
        waits = " (PostgreSQL: running, not waiting)"
    elif event.wait_event:
        waits = f" (PostgreSQL: waiting on {event.wait_event})"
    return (
        f"revision {event.revision}{on} still running, statement at {event.seconds:.0f}s"
        f"{waits}{what}"
    )


def _lock_wait(event: LockStillWaiting) -> str:
    of = f" of {event.database}" if event.target is not None else ""
    return (
        f"still waiting for the migration lock{of}: {event.waited:.0f}s waited,"
        f" {event.left:.0f}s left (SAFEMIGRATE_LOCK_WAIT)"
    )


def _orphans(event: OrphansFound) -> str:
    count = plural(len(event.statements), "statement")
    listing = " | ".join(event.statements)
    if event.action == "end":
        return (
            f"ending {count} a killed migrator left running (SAFEMIGRATE_CANCEL_ORPHANS): {listing}"
        )
    return f"waiting up to {event.wait:.0f}s for {count} a killed migrator left running: {listing}"


def _backup_off(event: BackupOff) -> str:
    if event.why == "option":
        return f"off for {event.database} (--no-backup): no copy to restore from"
    if event.why == "setting":
        return (
            f'off for {event.database} (app.config["SAFEMIGRATE_BACKUP"] is False):'
            " pass --backup to write one"
        )
    return (
        f"off for {event.database}: backups are on by default for SQLite only; pass --backup,"
        ' or set app.config["SAFEMIGRATE_BACKUP"] = True, to write one first'
    )


def _compat(event: CompatChecked) -> str:
    if event.release is None:
        return (
            f"compat: {event.skipped} on {event.database}, nothing to compare"
            " (a successful safe-upgrade records the release it deploys)"
            if event.skipped == "no release recorded yet"
            else f"compat: not checked on {event.database}: {event.skipped}"
        )
    if not event.ran:
        allowed = "; going on (--allow-breaking)" if event.allowed else ""
        return (
            f"compat: the release {event.release} on {event.database} cannot be read:"
            f" {event.skipped}{allowed}"
        )
    head = f"compat with the release {event.release} on {event.database}:"
    if not event.breaks:
        return f"{head} nothing it maps breaks"
    found = plural(event.breaks, "break")
    if event.allowed:
        # Said before anything ran: only a successful upgrade deploys and records (never a
        # --dry-run), so the line says what will happen, not what did.
        return f"{head} {found}, going on (--allow-breaking: a successful upgrade records it)"
    if event.mode == "warn":
        return f'{head} {found} (SAFEMIGRATE_COMPAT = "warn": going on)'
    return f"{head} {found}"


def _stage_text(event: Event) -> str:
    """What a stage event says after ``<stage>: ``."""
    if isinstance(event, Planned):
        todo = f"{plural(event.pending, 'revision')} to apply" if event.pending else None
        return f"{event.database} at {_at(event.current)}: {todo or 'nothing to apply'}"
    if isinstance(event, Merged):
        return f"merged heads into {event.revision}"
    if isinstance(event, LongTransaction):
        return f"{event.database}: the migration's locks will wait for {event.session}"
    if isinstance(event, SizesRead):
        missing = f"; not there now: {', '.join(event.missing)}" if event.missing else ""
        return (
            f"{event.database}: read the size of {plural(event.tables, 'table')} the plan"
            f" changes{missing}"
        )
    if isinstance(event, Linted):
        if event.skipped:
            scripts = plural(event.scripts, "pending script")
            return f"lint: skipped (--skip-lint): {scripts} not checked"
        counts = [plural(event.errors, "error")] if event.errors else []
        counts += [plural(event.warnings, "warning")] if event.warnings else []
        counts += [f"{event.infos} info"] if event.infos else []
        scripts = plural(event.scripts, "pending script")
        if not event.left:
            return f"lint: {', '.join(counts) or 'no findings'} in {scripts}"
        aside = (
            f"{plural(event.left, 'finding')} about downgrade() or for review (never"
            f" blocking{', listed below' if event.review else ''})"
        )
        return f"lint: {', '.join(counts) or 'no findings'} in upgrade() of {scripts}; {aside}"
    if isinstance(event, CompatChecked):
        return _compat(event)
    if isinstance(event, LockWaiting):
        of = f" of {event.database}" if event.target is not None else ""
        return f"taking the migration lock{of} (waits up to {event.wait:g}s)"
    if isinstance(event, LockAcquired):
        return f"acquired in {event.seconds:.2f}s"
    if isinstance(event, AnotherApplied):
        return "another migrator applied the plan meanwhile: " + _positions(
            event.positions, verified=False
        )
    if isinstance(event, AnotherMoved):
        return (
            "another migrator applied part of the plan meanwhile: "
            + _positions(event.positions, verified=False)
            + f"; {plural(event.left, 'revision')} left to apply"
        )
    if isinstance(event, BackupWritten):
        return (f"{event.database} " if event.target is not None else "") + (
            f"written to {event.path}"
        )
    if isinstance(event, BackupOff):
        return _backup_off(event)
    if isinstance(event, BackupSkipped):
        return f"skipped: {event.database} has no tables, there is nothing to restore"
    if isinstance(event, Committed):
        return "committed on " + ", ".join(event.targets)
    if isinstance(event, Verified):
        return _positions(event.positions, verified=True)
    raise TypeError(f"no wording for {type(event).__name__}")


def review_line(finding: Finding) -> str:
    """A finding that never blocks, on one short line: ``path:line:col: warning SMnnn [rule]
    ...`` (its severity said, as ``flask db lint`` says it)."""
    where = f"{finding.location}: " if finding.location else ""
    what = finding.message.split("; ")[0]  # the first clause says it; the rest is why
    code = f"{finding.code} " if finding.code else ""
    return f"{where}{finding.severity} {code}[{finding.rule}] {shorten(what, 100)}"


def event_line(event: Event) -> str:
    """The line of an event that is not a step: ``<stage>: ...``, or ``  ... <what it waits
    for>`` for what takes time that is not the user's migration (a retry, an orphan)."""
    if isinstance(event, Retrying):
        return f"  ... {_retrying(event)}"
    if isinstance(event, OrphansFound):
        return f"  ... {_orphans(event)}"
    if isinstance(event, StatementRunning):
        return f"  ... {_running(event)}"
    if isinstance(event, LockStillWaiting):
        return f"  ... {_lock_wait(event)}"
    if isinstance(event, ReleaseRecorded):
        return (
            f"release: recorded the models of this release on {event.database} (at"
            f" {_at(event.heads)}): the next safe-upgrade checks they survive its migrations"
        )
    if isinstance(event, BackupsPruned):
        return (
            f"backup: removed {plural(len(event.removed), 'older backup')} of {event.database}"
            f" (SAFEMIGRATE_BACKUP_KEEP = {event.keep}): {', '.join(event.removed)}"
        )
    return f"{event.stage}: {_stage_text(event)}"


class ProgressPrinter(Progress):
    """The command's sink: words each event and writes it as it happens."""

    def __init__(self, write: Write, *, findings: bool = False, color: bool = False) -> None:
        self.write = write
        #: Whether pre-flight's findings are shown as they are known (the text report), so
        #: they come before the lock, the upgrade and the verification, not after them.
        self.findings = findings
        self.color = color
        #: The findings shown already: the final report leaves them out.
        self.shown: set[int] = set()
        self.open_line = False
        #: The revision whose line is open (what a Ctrl-C interrupted).
        self.pending: str | None = None
        # What the run had reached, for the report of a Ctrl-C (which has no other).
        self.reached: Stage = "preflight"
        self.applied: list[dict[str, Any]] = []
        self.backup: str | None = None
        #: Whether a heartbeat line broke the open step line (its end then repeats the label).
        self.interrupted = False
        #: Whether the run waits for a migration lock now, and whether it ever took one: what
        #: a Ctrl-C report says it stopped and released.
        self.waiting_for_lock = False
        self.locked = False
        # Heartbeats come from another thread: one event's lines at a time.
        self._lock = threading.RLock()

    def _echo(self, text: str, nl: bool = True) -> None:
        if self.open_line and not text.startswith(("ok ", "FAILED")):
            self.write("", True)
        # Revision ids, script messages and database errors: shown, never acted on.
        self.write(printable(text), nl)
        self.open_line = not nl

    def emit(self, event: Event) -> None:
        with self._lock:
            self._emit(event)

    def _emit(self, event: Event) -> None:
        if isinstance(event, UNWORDED):
            return
        if isinstance(event, StatementRunning | LockStillWaiting):
            self.interrupted = self.interrupted or self.open_line
            self._echo(event_line(event))
            return
        self.reached = event.stage
        if isinstance(event, LockWaiting | LockAcquired):
            self.waiting_for_lock = isinstance(event, LockWaiting)
            self.locked = self.locked or isinstance(event, LockAcquired)
        if isinstance(event, StepStarted):
            self.interrupted = False
            self.pending = event.revision
            message = f"  {event.message}" if event.message else ""
            label = step_label(event.position, event.total, event.target)
            self._echo(f"{label} {event.revision}{message} ... ", nl=False)
        elif isinstance(event, StepEnded):
            self._step_ended(event)
        elif isinstance(event, Linted):
            self._echo(event_line(event))
            for finding in event.review:  # what the count refers to, one short line each
                self._echo(f"  {review_line(finding)}")
        elif isinstance(event, Advised):
            if self.findings:
                for finding in event.findings:
                    for line in render_finding(finding, color=self.color):
                        self.write(line, True)  # made printable by render_finding
                    self.shown.add(id(finding))
        else:
            if isinstance(event, BackupWritten) and event.target is None:
                # A single database's backup: the one thing to restore from, so a Ctrl-C
                # report must not say there is none.
                self.backup = event.path
            self._echo(event_line(event))

    def _step_ended(self, event: StepEnded) -> None:
        if event.outcome == "failed":
            if not self.open_line and self.interrupted and self.pending == event.revision:
                label = step_label(event.position, event.total, event.target)
                self._echo(f"{label} {event.revision} ... ", nl=False)
            if self.open_line:
                self._echo(f"FAILED after {event.seconds:.2f}s")
            return
        if event.target is None:  # a bind's step is committed only when every bind is done
            self.applied.append({"revision": event.revision, "seconds": round(event.seconds, 3)})
        if not self.open_line or self.pending != event.revision:
            label = step_label(event.position, event.total, event.target)
            self._echo(f"{label} {event.revision} ... ", nl=False)
        self._echo(f"ok {event.seconds:.2f}s")


class LintLinesPrinter(ProgressPrinter):
    """``--sql``'s progress (stdout is the SQL, this goes to stderr): only pre-flight's lint
    line and the never-blocking findings it counts, as ``--dry-run`` shows them; the
    blocking findings follow from the report, with their help."""

    def emit(self, event: Event) -> None:
        if isinstance(event, Linted) and event.left:
            super().emit(event)


def event_record(event: Event) -> dict[str, Any]:
    """An event's fields for a JSON log record: ``event`` (its kind, snake_case), ``stage``,
    then its fields (``target``, ``revision``, ``seconds``, ...), as the dataclass holds them.

    A step's ``position`` is counted from 1 here, as the text's ``[1/2]`` and the OTel
    attribute count it (the events count from 0): ``position == total`` is the last step."""
    kind = "".join(f"_{c.lower()}" if c.isupper() else c for c in type(event).__name__)
    fields = dataclasses.asdict(event)
    if isinstance(event, StepStarted | StepEnded):
        fields["position"] = event.position + 1
    return {"event": kind.lstrip("_"), "stage": event.stage, **fields}


def event_level(event: Event) -> str:
    """The record's ``level``: ``error`` for a failed step or run, ``warning`` for what slows
    or endangers it (a retry, killed migrators' statements, a long transaction, findings)."""
    if isinstance(event, StepEnded | RunEnded) and event.outcome == "failed":
        return "error"
    if isinstance(event, Retrying | OrphansFound | LongTransaction | Advised):
        return "warning"
    return "info"


class JsonLogPrinter(Progress):
    """``--log-format json``: each event as one record (:mod:`.json_log`) on its own line, as
    it happens (for log collectors; the heartbeats too). Thread-safe like
    :class:`ProgressPrinter`."""

    def __init__(self, write: Write) -> None:
        self.write = write
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        fields = event_record(event)
        line = record_line(fields.pop("event"), event_level(event), fields)
        with self._lock:
            self.write(line, True)
