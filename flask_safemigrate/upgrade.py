"""``flask db safe-upgrade`` as named stages: preflight, lock, backup, upgrade, verify.

:func:`safe_upgrade` returns an :class:`Outcome` (the report and the exit code) instead of
raising, because a failed run still has a report to give: the stage it stopped in, what it
applied before, where the database stands and what to do next (its JSON keys are a contract:
docs/architecture.md). Progress reaches the command through a :class:`Progress` object;
nothing here prints.

1. **preflight** reads only: the revision graph, the connection (timeout and retries), the
   database's revision, the ledger's failed attempts, the plan, and lint over the pending
   scripts. Nothing is written.
2. **lock**: one migrator per database and version table (:mod:`.locks`). After the wait the
   revision is read again: a replica that finds the work done goes straight to verify.
3. **backup** (:mod:`.backup`): on by default for SQLite only; a failure stops the run here.
4. **upgrade** (:mod:`.runner`): one transaction per revision, a ledger row each; a revision
   that fails on a lock timeout is retried with backoff, ``SAFEMIGRATE_LOCK_RETRIES`` times.
5. **verify**: the database is at the target; at head, no drift against the models; every
   revision this run applied has its ledger row.
"""

from __future__ import annotations

import functools
import io
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import sqlalchemy as sa
from alembic import command as alembic_command
from flask import Flask
from sqlalchemy.engine import Connection

from flask_safemigrate import (
    app_engine_options,
    blockers,
    database,
    dedicated_schema,
    faults,
    history,
    ledger,
    lock_guard,
    orphans,
    runner,
    verify,
)
from flask_safemigrate.errors import (
    ChecksFailed,
    ConfigError,
    ExitCode,
    LockLost,
    SafeMigrateError,
)
from flask_safemigrate.report import Finding, Report, Severity
from flask_safemigrate.text import display_path, one_line, plural, shorten

__all__ = ["STAGES", "Options", "Outcome", "Progress", "Stage", "safe_upgrade"]

Stage = Literal["preflight", "lock", "backup", "upgrade", "verify", "done"]
STAGES: Final[tuple[Stage, ...]] = ("preflight", "lock", "backup", "upgrade", "verify", "done")

_RULE_OF_ERROR: Final = {
    "DatabaseUnreachable": "database-unreachable",
    "LockTimeout": "lock-timeout",
    "BackupFailed": "backup-failed",
    "LockLost": "lock-lost",
}


@dataclass(frozen=True)
class Options:
    """What the command line asked for (``flask db safe-upgrade --help``)."""

    revision: str = "heads"
    dry_run: bool = False
    sql: bool = False
    backup: bool | None = None
    auto_merge: bool = False
    skip_lint: bool = False
    verify: bool = True
    resolved: tuple[str, ...] = ()


class Progress:
    """Receives progress as it happens; the command prints it, tests may record it.

    ``bind`` names the database a step runs on in a multi-database app (``"default"`` or
    the bind key); it is ``None`` for a single-database app.
    """

    def stage(self, stage: Stage, message: str) -> None:
        """A stage finished a notable part of its work."""

    def step_started(
        self, position: int, total: int, script: history.Script, *, bind: str | None = None
    ) -> None:
        """Revision ``position`` (0-based) of ``total`` is about to run."""

    def step_finished(
        self, position: int, total: int, revision: str, seconds: float, *, bind: str | None = None
    ) -> None:
        """It committed (multi-database: it ran; see :mod:`.upgrade_binds`)."""

    def step_failed(
        self, position: int, total: int, seconds: float, *, bind: str | None = None
    ) -> None:
        """It failed (and was rolled back where the database can)."""

    def waiting(self, message: str) -> None:
        """Something takes time that is not the user's migration (a lock, a retry)."""


@dataclass
class Outcome:
    """The run's report, its exit code, and for ``--sql`` the SQL of the plan."""

    report: Report
    exit_code: ExitCode
    sql: str | None = None


class RunConfigError(ConfigError):
    """A :class:`ConfigError` met once the run began, with the run's report.

    Text output shows it as the usual one ``Error:`` line; JSON output prints ``report``, so
    that every exit of safe-upgrade keeps the documented shape (``stage`` and all).
    """

    def __init__(self, error: ConfigError, report: Report) -> None:
        super().__init__(error.message, where=error.where, hint=error.hint, data=error.data)
        self.report = report


class _Stop(Exception):
    """Ends the run in the current stage with these findings and this exit code."""

    def __init__(self, exit_code: ExitCode, findings: Sequence[Finding]) -> None:
        super().__init__(exit_code.name)
        self.exit_code = exit_code
        self.findings = list(findings)


@dataclass
class _Run:
    app: Flask
    options: Options
    progress: Progress
    setup: verify.Setup = field(init=False)
    stage: Stage = "preflight"
    current: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    plan: list[history.Script] = field(default_factory=list)
    applied: list[runner.Applied] = field(default_factory=list)
    backup_path: Path | None = None
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sql: str | None = None
    started: tuple[str, ...] | None = None
    another: bool = False
    #: Statements of killed migrators this run waited for or ended (JSON ``orphans``).
    orphans_settled: list[dict[str, Any]] = field(default_factory=list)
    #: ``--resolved`` failures this run repairs: revision -> id of the failed ledger row seen.
    resolving: dict[str, int] = field(default_factory=dict)
    #: The migration lock's guard while it is held (:mod:`.lock_guard`).
    guard: lock_guard.Guard | None = None

    # ------------------------------------------------------------------ helpers

    @property
    def target_label(self) -> str:
        return database.mask_url(self.setup.targets[0].url)

    @property
    def url(self) -> sa.URL:
        return self.setup.targets[0].url

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        settings = self.setup.settings
        with database.connect(
            self.url, timeout=settings.connect_timeout, retries=settings.connect_retries
        ) as connection:
            yield connection

    def read_current(self, connection: Connection) -> tuple[str, ...]:
        return database.current_revisions(
            connection, version_table=self.setup.version_table, schema=self.setup.version_schema
        )

    def read_state(self) -> tuple[tuple[str, ...], list[ledger.Entry], list[Finding]]:
        """The database's revisions, the ledger and ids too long for the version column,
        read on a fresh connection.

        Called through :func:`database.retry_transient`: on a first run another replica may
        be creating the version table or the ledger right now (MariaDB error 1412/1684).
        """
        setup = self.setup
        with self.connect() as connection:
            verify.check_schema_models(setup, setup.targets[0], connection)
            current = self.read_current(connection)
            entries = ledger.read_entries(connection, setup.version_schema)
            too_long = verify.width_findings(setup, setup.targets[0], connection)
        return current, entries, too_long

    def stop(self, exit_code: ExitCode, *findings: Finding) -> _Stop:
        return _Stop(exit_code, findings)

    # ------------------------------------------------------------------ stages

    def preflight(self) -> None:
        self.check_graph()
        setup = self.setup
        self.current, entries, too_long = database.retry_transient(self.read_state)
        self.started = self.current
        if too_long:
            raise self.stop(ExitCode.PREFLIGHT, *too_long)
        self.check_known()
        self.check_ledger(entries)
        self.plan = self.compute_plan()
        schema = setup.settings.schema
        if schema is not None and (self.plan or self.options.resolved):
            with self.connect() as connection:
                dedicated_schema.preflight(connection, schema)  # may the login create it?
        at = ", ".join(self.current) or "base"
        if not self.plan:
            self.progress.stage("preflight", f"{self.target_label} at {at}: nothing to apply")
            return
        self.progress.stage(
            "preflight",
            f"{self.target_label} at {at}: {plural(len(self.plan), 'revision')} to apply",
        )
        if not self.options.skip_lint:
            self.lint()

    def check_graph(self) -> None:
        """The revision graph is sound (or merged with --auto-merge); resolves the target."""
        graph = self.setup.graph
        errors = [f for f in verify.static_findings(graph) if f.severity is Severity.ERROR]
        if errors and self.options.auto_merge and {f.rule for f in errors} == {"multiple-heads"}:
            graph = self.auto_merge()
            errors = []
        if any(f.rule == "missing-parent" for f in errors):
            # A script cut off from its parent makes an extra head: that is the missing
            # parent's symptom, and "merge the heads" would be the wrong advice.
            errors = [f for f in errors if f.rule != "multiple-heads"]
        errors = [
            replace(
                finding,
                help="merge the heads first: `flask db auto-merge-heads` (or pass"
                " --auto-merge), then run safe-upgrade again",
            )
            if finding.rule == "multiple-heads"
            else finding
            for finding in errors
        ]
        if errors:
            raise self.stop(ExitCode.PREFLIGHT, *errors)
        try:
            self.target = graph.resolve(self.options.revision)
        except history.RevisionLookupError as exc:
            raise ConfigError(
                f"cannot upgrade to {self.options.revision!r}: {exc}",
                hint="name a revision id, a unique prefix, `head` or `heads`"
                " (`flask db history` lists them)",
            ) from None

    def auto_merge(self) -> history.RevisionGraph:
        from flask_safemigrate import merge

        try:
            result = merge.merge_heads(self.app)
        except ChecksFailed:
            plan = merge.plan_merge(self.app)
            findings = [merge.conflict_finding(c, forced=False) for c in plan.conflicts]
            raise self.stop(ExitCode.PREFLIGHT, *findings) from None
        self.notes.append(f"Merged heads {', '.join(result.heads)} into {result.merge_revision}.")
        self.progress.stage("preflight", f"merged heads into {result.merge_revision}")
        self.setup = verify.setup_of(self.app)
        return self.setup.graph

    def check_known(self) -> None:
        unknown = [rev for rev in self.current if rev not in self.setup.graph.scripts]
        if unknown:
            findings = [
                verify.unknown_revision(self.setup, self.setup.targets[0], rev, [])
                for rev in unknown
            ]
            raise self.stop(ExitCode.PREFLIGHT, *findings)
        if len(self.current) > 1:
            self.check_no_overlap()

    def check_no_overlap(self) -> None:
        """A version table holding a revision and one of its ancestors is corrupt.

        Alembic keeps one row per branch; upgrading from both rows would apply the same
        revisions twice, or (as Alembic does) stop halfway with "overlaps".
        """
        graph = self.setup.graph
        behind = sorted(
            rev
            for rev in self.current
            if any(rev in graph.ancestors(other) for other in self.current if other != rev)
        )
        if not behind:
            return
        table = self.setup.version_table
        rows = ", ".join(self.current)
        raise self.stop(
            ExitCode.PREFLIGHT,
            Finding(
                rule="overlapping-database-revisions",
                severity=Severity.ERROR,
                message=f"The version table {table} of {self.target_label} holds {rows}, but"
                f" {', '.join(behind)} is an ancestor of another of them: one row per branch"
                " is all it may hold.",
                help=f"check which revision the schema matches, then delete the other row"
                f" (DELETE FROM {table} WHERE version_num = '{behind[0]}')",
                extra={"revisions": list(self.current)},
            ),
        )

    def check_ledger(self, entries: Sequence[ledger.Entry], *, warn: bool = True) -> None:
        """Failed migrations block unless ``--resolved``; ``warn`` is the pre-flight look.

        In a fleet every replica runs the same ``--resolved REV``: the first to get the lock
        records the repair and applies, the others find it resolved under the lock (or at
        pre-flight) and simply go on. A failure newer than the one seen at pre-flight (another
        replica resolved it, retried and failed again) is not this run's to resolve: it blocks.
        """
        if not self.setup.settings.ledger or (not entries and not self.options.resolved):
            return
        found = verify.ledger_findings(self.setup, self.setup.targets[0], entries, self.current)
        unresolved = {
            str(f.extra.get("revision")): f for f in found if f.rule == "failed-migration"
        }
        latest = {entry.revision: entry for entry in entries}  # each revision's last row
        if warn:
            self.resolving = {
                rev: latest[rev].id for rev in self.options.resolved if rev in unresolved
            }
            self.findings.extend(
                replace(f, severity=Severity.WARNING) for f in found if f.rule != "failed-migration"
            )
        else:  # under the lock: what another replica resolved meanwhile is not ours to record
            self.resolving = {rev: row for rev, row in self.resolving.items() if rev in unresolved}
        blocking = [
            finding
            for rev, finding in unresolved.items()
            if rev not in latest or self.resolving.get(rev) != latest[rev].id
        ]
        self.note_already_resolved(entries, unresolved)
        unknown = set(self.options.resolved) - set(unresolved) - _failed_once(entries)
        if unknown:
            raise ConfigError(
                f"--resolved {', '.join(sorted(unknown))}: the ledger has no failure of that"
                " revision",
                hint="`flask db verify` lists failed migrations",
            )
        if blocking:
            raise self.stop(ExitCode.PREFLIGHT, *blocking)

    def note_already_resolved(
        self, entries: Sequence[ledger.Entry], unresolved: Mapping[str, Finding]
    ) -> None:
        """Say so once when another run (a replica) resolved a ``--resolved`` failure."""
        for rev in self.options.resolved:
            if rev in unresolved or rev not in _failed_once(entries):
                continue
            fixes = [e for e in entries if e.revision == rev and e.direction == "resolve"]
            by = (
                f" by {fixes[-1].applied_by or 'unknown'} at"
                f" {fixes[-1].started_at.isoformat(timespec='seconds')}"
                if fixes
                else ""
            )
            note = (
                f"--resolved {rev}: its failure was already resolved{by}"
                " (another replica?); nothing to record, going on."
            )
            if note not in self.notes:
                self.notes.append(note)

    def compute_plan(self) -> list[history.Script]:
        graph = self.setup.graph
        wanted: set[str] = set(self.target)
        for revision in self.target:
            wanted |= graph.ancestors(revision)
        ahead = [rev for rev in self.current if rev not in wanted]
        if ahead:
            raise ConfigError(
                f"the database is at {', '.join(ahead)}, which is not below"
                f" {self.options.revision!r}: safe-upgrade only moves forward",
                hint="to go back, use `flask db downgrade REVISION`",
            )
        return graph.path(self.current, self.options.revision)

    def lint(self) -> None:
        from flask_safemigrate.lint import baseline, engine, options

        config = options.resolve(
            {},
            settings=self.setup.settings,
            search_from=self.setup.directory,
            app_dialect=database.dialect_of(self.url),
        )
        report = engine.lint(
            [self.setup.directory],
            config,
            only_revisions={script.revision for script in self.plan},
        )
        if config.baseline is not None:
            # What the team recorded when it adopted lint is accepted: a fresh database that
            # runs the whole history must not be stopped by it.
            report = baseline.apply(report, baseline.load(config.baseline)).report
        # An upgrade never runs downgrade(): what lint finds there is reported, not blocking.
        blocking = [
            f
            for f in report.findings
            if f.severity is Severity.ERROR and f.extra.get("direction") != "downgrade"
        ]
        others = [f for f in report.findings if f not in blocking]
        self.findings.extend(others)
        if blocking:
            blocking = [
                replace(
                    finding,
                    help=(f"{finding.help}; " if finding.help else "")
                    + "or pass --skip-lint to apply it anyway",
                )
                for finding in blocking
            ]
            raise self.stop(ExitCode.PREFLIGHT, *blocking)
        self.progress.stage(
            "preflight",
            "lint: "
            + (f"{plural(len(others), 'warning')}" if others else "no findings")
            + f" in {plural(len(self.plan), 'pending script')}",
        )

    def lock_and_apply(self) -> None:
        from flask_safemigrate import locks

        self.stage = "lock"
        settings = self.setup.settings
        name = locks.lock_name(
            self.url, version_table=self.setup.version_table, schema=self.setup.version_schema
        )
        began = time.perf_counter()
        self.progress.stage(
            "lock", f"taking the migration lock (waits up to {settings.lock_wait:g}s)"
        )
        with (
            locks.migration_lock(
                self.url,
                name=name,
                wait=settings.lock_wait,
                connect_timeout=settings.connect_timeout,
                connect_retries=settings.connect_retries,
            ) as held,
            lock_guard.guarding(
                held, dialect=database.dialect_of(self.url), wait=settings.lock_wait
            ) as self.guard,
        ):
            waited = time.perf_counter() - began
            self.progress.stage("lock", f"acquired in {waited:.2f}s")
            # What a killed migrator left running would block this run: wait or end it.
            self.settle_orphans(deadline=time.monotonic() + max(1.0, settings.lock_wait - waited))
            now, entries, _ = database.retry_transient(self.read_state)
            # A migrator that failed while this one waited left a failure row: honour it.
            self.check_ledger(entries, warn=False)
            if now != self.current:
                self.current = now
                self.check_known()
                self.plan = self.compute_plan()
                at = ", ".join(now) or "base"
                if not self.plan:
                    self.another = True
                    self.progress.stage(
                        "lock", f"another migrator applied the plan meanwhile: now at {at}"
                    )
                    return
            if self.plan:
                self.backup()
            self.upgrade()

    def settle_orphans(self, *, deadline: float, url: sa.URL | None = None) -> None:
        """Wait for (or end) statements killed migrators left running; exit 5 if they stay.

        Runs under the migration lock, before the revision is read again: on MariaDB the
        orphan's DDL may still commit, and what it did must be seen before planning. ``url``
        is the database to look at (a bind's, in a multi-database app; default the app's).
        """
        settings = self.setup.settings
        url = self.url if url is None else url
        dialect = database.dialect_of(url)
        if dialect not in ("postgresql", "mysql"):
            return
        began = time.monotonic()
        scope = runner.session_scope(url, self.setup.version_table, self.setup.version_schema)
        with database.connect(
            url, timeout=settings.connect_timeout, retries=settings.connect_retries
        ) as connection:
            # Autocommit: PostgreSQL shows one snapshot of pg_stat_activity per transaction.
            connection.execution_options(isolation_level="AUTOCOMMIT")
            found = orphans.find(connection, scope)
            if not found:
                return
            listing = " | ".join(orphan.describe() for orphan in found)
            count = plural(len(found), "statement")
            if settings.cancel_orphans:
                self.progress.waiting(
                    f"ending {count} a killed migrator left running"
                    f" (SAFEMIGRATE_CANCEL_ORPHANS): {listing}"
                )
                orphans.cancel(connection, found)
                left = orphans.wait_gone(connection, found, deadline=began + 30, scope=scope)
                done = f"Ended {count} a killed migrator left running: {listing}."
            else:
                self.progress.waiting(
                    f"waiting up to {deadline - began:.0f}s for {count} a killed migrator"
                    f" left running: {listing}"
                )
                left = orphans.wait_gone(connection, found, deadline=deadline, scope=scope)
                done = (
                    f"Waited {time.monotonic() - began:.1f}s for {count} a killed migrator"
                    f" left running to end: {listing}."
                )
        if not left:
            self.notes.append(done)
            action = "ended" if settings.cancel_orphans else "waited"
            self.orphans_settled += [{**_orphan_facts(o), "action": action} for o in found]
            return
        end = " or ".join(
            f"SELECT pg_terminate_backend({o.session})"
            if dialect == "postgresql"
            else f"KILL {o.session}"
            for o in left
        )
        raise self.stop(
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

    def backup(self) -> None:
        self.stage = "backup"
        settings = self.setup.settings
        dialect = database.dialect_of(self.url)
        wanted = self.options.backup
        if wanted is None:
            wanted = settings.backup if settings.backup is not None else dialect == "sqlite"
        if not wanted:
            return
        from flask_safemigrate import backup

        directory = (
            Path(settings.backup_dir)
            if settings.backup_dir
            else Path(self.app.instance_path) / "backups"
        )
        label = "before-" + ("-".join(rev[:12] for rev in self.current) or "base")
        self.backup_path = backup.backup_database(
            self.url,
            directory,
            label=label,
            timeout=settings.connect_timeout,
            tool_timeout=settings.backup_timeout,
        )
        self.progress.stage("backup", f"written to {self.backup_path}")

    def upgrade(self) -> None:
        self.stage = "upgrade"
        setup = self.setup
        settings = setup.settings
        if settings.schema is not None:
            with self.connect() as connection:  # under the lock: no two CREATE SCHEMAs race
                dedicated_schema.ensure_schema(connection, settings.schema)
                connection.commit()
        if settings.ledger:
            with self.connect() as connection:
                ledger.create(connection, setup.version_schema)
                for revision in self.resolving:  # still unresolved: check_ledger under the lock
                    ledger.resolve(connection, revision=revision, schema=setup.version_schema)
                connection.commit()
        if not self.plan:
            return
        checksums = {script.revision: ledger.checksum(script.path) for script in self.plan}
        attempt = 0
        waits: list[float] = []  # how long each attempt really waited for a lock
        while True:
            offset, total = len(self.applied), len(self.applied) + len(self.plan)
            try:
                self.applied += runner.run_upgrade(
                    state=setup.migrate_state,
                    directory=str(setup.directory),
                    target=self.options.revision,
                    current=self.current,
                    plan=self.plan,
                    checksums=checksums,
                    version_table=setup.version_table,
                    ledger_schema=setup.version_schema,
                    use_ledger=settings.ledger,
                    lock_timeout=settings.lock_timeout,
                    statement_timeout=settings.statement_timeout,
                    on_start=functools.partial(_shifted_start, self.progress, offset, total),
                    on_finish=functools.partial(_shifted_finish, self.progress, offset, total),
                    guard=self.guard,
                )
                self.refresh_position()
                return
            except runner.StepFailed as failed:
                self.applied += failed.applied
                if isinstance(failed.error, SafeMigrateError):
                    # Lost before a revision started or the fence's LockTimeout: nothing ran,
                    # no "FAILED" line for it; the report says what happened.
                    if failed.error.data.get("point") == "commit":
                        self.progress.step_failed(len(self.applied), total, failed.seconds)
                    if isinstance(failed.error, LockLost):
                        raise self.lock_lost(failed, failed.error) from None
                    raise failed.error from None
                self.progress.step_failed(len(self.applied), total, failed.seconds)
                transactional = database.dialect_of(self.url) != "mysql"
                retry = (
                    faults.is_lock_timeout(failed.error)
                    and attempt < settings.lock_retries
                    and (transactional or not failed.ran)
                )
                if failed.statement_seconds is not None:
                    waits.append(failed.statement_seconds)
                if not retry:
                    raise self.failure(failed, attempts=attempt + 1, waits=waits) from None
                attempt += 1
                pause = min(0.5 * 2 ** (attempt - 1), 10.0)
                waited = (
                    f" (it waited {failed.statement_seconds:.2f}s)"
                    if failed.statement_seconds is not None
                    else ""
                )
                self.progress.waiting(
                    f"revision {failed.revision} waited longer than SAFEMIGRATE_LOCK_TIMEOUT"
                    f" ({settings.lock_timeout:g}s) for a lock; retry {attempt} of"
                    f" {settings.lock_retries} in {pause:g}s{waited}"
                )
                time.sleep(pause)
                done = {step.revision for step in self.applied}
                self.plan = [script for script in self.plan if script.revision not in done]

    def lock_lost(
        self,
        failed: runner.StepFailed,
        error: LockLost,
        *,
        guard: lock_guard.Guard | None = None,
        label: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> _Stop:
        """The exit-5 ``lock-lost`` finding: when, which revision, what stayed, what to do.

        Nothing is recorded as a failure in the ledger: what the run stopped in was rolled
        back (PostgreSQL, SQLite) or committed whole (MariaDB/MySQL), so a plain re-run
        resumes; a ``failed-migration`` row would block it for nothing. ``guard`` and
        ``label`` name the lock and database that were lost (default: this run's one).
        """
        guard = guard if guard is not None else self.guard
        label = label if label is not None else self.target_label
        self.refresh_position()
        data = error.data
        revision = data.get("revision") or failed.revision
        script = self.setup.graph.scripts.get(revision or "")
        name = verify.describe(script) if script is not None else (revision or "none")
        at = ", ".join(self.current) or "base"
        committed = list(data.get("committed_unlocked") or [])
        if data.get("point") == "commit":
            stayed = (
                f"Revision {name} had run; it was rolled back before its commit, nothing of it"
                " remains."
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
        message = (
            f"The migration lock of {label} ({lock}, process pid {os.getpid()}) was"
            f" lost while migrating: last seen held at {data.get('confirmed_at')}, found lost"
            f" at {data.get('lost_at')}. {stayed} {self.position_text(at)} Nothing ran"
            " twice: this run's migration session fenced every other migrator out of its"
            " revisions until it stopped; another migrator may hold the lock and be migrating"
            " now."
        )
        return self.stop(
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
                extra={
                    "revision": revision,
                    "current": list(self.current),
                    **{k: v for k, v in data.items() if k != "revision"},
                    **(extra or {}),
                },
            ),
        )

    def position_text(self, at: str) -> str:
        """Where the database stands, as the lock-lost report says it (``at``: read now)."""
        return f"The database is now at {at}."

    def refresh_position(self) -> None:
        """Read where the database stands after applying: the report must not say "base".

        Post-verify reads it again; with ``--no-verify`` this is the only read after the
        upgrade. A failed read keeps what Alembic reported (the target it reached).
        """
        try:
            with self.connect() as connection:
                self.current = self.read_current(connection)
        except (SafeMigrateError, sa.exc.SQLAlchemyError):
            self.current = tuple(self.target)

    def failure(
        self, failed: runner.StepFailed, *, attempts: int, waits: Sequence[float] = ()
    ) -> _Stop:
        """The exit-4 finding: what failed, the statement, where the database stands now."""
        setup = self.setup
        urls = setup.urls
        script = setup.graph.scripts.get(failed.revision or "")
        name = verify.describe(script) if script is not None else (failed.revision or "?")
        reason = one_line(failed.error, urls)
        dialect = database.dialect_of(self.url)
        lock_timeout = faults.is_lock_timeout(failed.error)
        # A dropped connection is not the script's fault; where nothing of the revision can
        # be left (a transaction that died with its session, or no change ran yet on
        # MariaDB) the failure is recorded and resolved at once, so a plain re-run goes on.
        lost = faults.is_connection_lost(failed.error)
        nothing_left = dialect != "mysql" or not failed.ran
        blocking: list[str] = []
        now: tuple[str, ...] | None = None
        try:
            with self.connect() as connection:
                now = self.read_current(connection)
                if lock_timeout:
                    blocking = blockers.describe(connection, failed.statement)
                committed = failed.revision in verify.applied_revisions(setup.graph, now)
                recordable = failed.revision is not None and failed.started and not committed
                if setup.settings.ledger and recordable:
                    self.record_failure(connection, failed, script, reason, lost, nothing_left)
        except (SafeMigrateError, sa.exc.SQLAlchemyError, OSError) as exc:
            self.notes.append(f"Could not record the failure in the ledger: {one_line(exc, urls)}")
        self.current = now if now is not None else self.current
        at = (", ".join(self.current) or "base") if now is not None else "unknown (unreachable)"
        statement = shorten(database.mask_text(failed.statement or "", self.url)) or None
        ran = [shorten(database.mask_text(s, self.url)) for s in failed.ran]
        if lost:
            return self.connection_lost(failed, name, reason, at, statement, ran, now)
        if dialect == "mysql" and ran:
            left = (
                f" MariaDB/MySQL cannot roll back DDL: {plural(len(ran), 'statement')} of"
                f" {failed.revision} ran before the failure and stay applied: "
                + "; ".join(ran)
                + "."
            )
        elif dialect == "mysql":
            left = f" No statement of {failed.revision} had run before the failure."
        else:
            left = f" Nothing of {failed.revision} was left behind: its transaction rolled back."
        if lock_timeout:
            what = (
                f"gave up waiting for a lock after {_seconds_list(waits)}"
                f" (SAFEMIGRATE_LOCK_TIMEOUT {setup.settings.lock_timeout:g}s,"
                f" {plural(attempts, 'attempt')})"
            )
            if blocking:
                what += "; blocked by " + " | ".join(blocking)
            elif dialect == "sqlite":
                what += "; another connection held a write transaction on the database file"
            else:
                what += "; the blocking session had gone by the time it was looked up"
        else:
            what = "failed"
        message = (
            f"Revision {name} {what} on {self.target_label}: {reason}. The database is now"
            f" at {at}.{left}"
        )
        if not failed.started and lock_timeout:
            # SQLite: BEGIN IMMEDIATE, before the revision's first statement, ran out.
            message = (
                f"Revision {name} could not begin on {self.target_label}: it {what}: {reason}."
                f" Nothing of it ran and no failure was recorded; the database is at {at}."
            )
        elif not failed.started:
            message = (
                f"Alembic stopped before revision {name} began on {self.target_label}:"
                f" {reason}. Nothing of it ran and no failure was recorded; the database is"
                f" at {at}."
            )
        if self.backup_path is not None:
            message += f" Backup from before this run: {self.backup_path}."
        if lock_timeout:
            todo = (
                f"end or wait out the blocking session ({blockers.how_to_end(dialect)}), or"
                " raise SAFEMIGRATE_LOCK_TIMEOUT / SAFEMIGRATE_LOCK_RETRIES;"
                f" then run `flask db safe-upgrade --resolved {failed.revision}`"
            )
        elif dialect == "mysql" and ran:
            todo = (
                f"undo (or finish) the statements of {failed.revision} listed above by hand,"
                f" fix the script or the data, then run `flask db safe-upgrade --resolved"
                f" {failed.revision}`"
            )
        else:
            todo = (
                "fix the script or the data, then run `flask db safe-upgrade --resolved"
                f" {failed.revision}`"
            )
        if not failed.started and lock_timeout:
            todo = (
                f"end or wait out the blocking session ({blockers.how_to_end(dialect)}), or"
                " raise SAFEMIGRATE_LOCK_TIMEOUT / SAFEMIGRATE_LOCK_RETRIES; then run"
                " `flask db safe-upgrade` again (no --resolved needed)"
            )
        elif not failed.started:
            todo = (
                "`flask db heads` shows Alembic's own error (a script it cannot load, or"
                " env.py); fix it and run `flask db safe-upgrade` again (no --resolved needed)"
            )
        return self.stop(
            ExitCode.MIGRATION_FAILED,
            Finding(
                rule="migration-failed",
                severity=Severity.ERROR,
                message=message,
                path=display_path(script.path) if script is not None else None,
                line=runner.failing_line(failed.error, script),
                help=todo,
                extra={
                    "revision": failed.revision,
                    "statement": statement,
                    "error": reason,
                    "ran": ran,
                    "current": list(self.current) if now is not None else None,
                    "blockers": blocking,
                    "attempts": attempts,
                    "waited": [round(w, 3) for w in waits] if lock_timeout else [],
                    "backup": str(self.backup_path) if self.backup_path else None,
                },
            ),
        )

    def record_failure(
        self,
        connection: Connection,
        failed: runner.StepFailed,
        script: history.Script | None,
        reason: str,
        lost: bool,
        nothing_left: bool,
    ) -> None:
        """The failed attempt's ledger row; a lost connection that left nothing is resolved too."""
        assert failed.revision is not None
        schema = self.setup.version_schema
        ledger.record(
            connection,
            revision=failed.revision,
            direction="upgrade",
            checksum=ledger.checksum(script.path) if script is not None else None,
            started_at=failed.started_at,
            finished_at=_utcnow(),
            success=False,
            error=f"connection lost: {reason}" if lost else reason,
            schema=schema,
        )
        if lost and nothing_left:
            now = _utcnow()
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

    def connection_lost(
        self,
        failed: runner.StepFailed,
        name: str,
        reason: str,
        at: str,
        statement: str | None,
        ran: list[str],
        now: tuple[str, ...] | None,
    ) -> _Stop:
        """Exit 4 ``connection-lost``: the session died under the revision; no script fault."""
        dialect = database.dialect_of(self.url)
        revision = failed.revision
        script = self.setup.graph.scripts.get(revision or "")
        applied = now is not None and revision in verify.applied_revisions(self.setup.graph, now)
        if applied:
            left = f" The version table says {revision} is applied: it committed before the drop."
        elif dialect == "mysql" and ran:
            left = (
                f" MariaDB/MySQL cannot roll back DDL: {plural(len(ran), 'statement')} of"
                f" {revision} ran before the drop and stay applied: " + "; ".join(ran) + "."
            )
        elif dialect == "mysql":
            left = f" No statement of {revision} that changes anything had run before the drop."
        else:
            left = f" Nothing of {revision} was left behind: its transaction rolled back."
        message = (
            f"The database connection running revision {name} on {self.target_label} was lost"
            f" after {failed.seconds:.2f}s, during: {statement or 'no statement'} ({reason})."
            " The server ended the session or the network dropped it; the script itself did"
            f" not fail. The database is now at {at}.{left}"
        )
        if self.backup_path is not None:
            message += f" Backup from before this run: {self.backup_path}."
        why = (
            "find out why the session ended (pg_terminate_backend or KILL by someone, a server"
            " restart or failover, a proxy, firewall or network timeout)"
        )
        if dialect == "mysql" and ran and not applied:
            todo = (
                f"{why}; undo (or finish) the statements of {revision} listed above by hand,"
                f" then run `flask db safe-upgrade --resolved {revision}`"
            )
        else:
            todo = f"{why}, then run `flask db safe-upgrade` again: there is nothing to repair"
        return self.stop(
            ExitCode.MIGRATION_FAILED,
            Finding(
                rule="connection-lost",
                severity=Severity.ERROR,
                message=message,
                path=display_path(script.path) if script is not None else None,
                line=runner.failing_line(failed.error, script),
                help=todo,
                extra={
                    "revision": revision,
                    "statement": statement,
                    "error": reason,
                    "ran": ran,
                    "current": list(now) if now is not None else None,
                    "resumable": not (dialect == "mysql" and ran and not applied),
                    "backup": str(self.backup_path) if self.backup_path else None,
                },
            ),
        )

    def post_verify(self) -> None:
        self.stage = "verify"
        setup = self.setup
        target = setup.targets[0]
        findings = []
        with self.connect() as connection:
            now = self.read_current(connection)
            self.current = now
            if set(now) != set(self.target):
                findings.append(
                    Finding(
                        rule="not-at-target",
                        severity=Severity.ERROR,
                        message=(
                            f"After the upgrade {self.target_label} is at"
                            f" {', '.join(now) or 'base'}, not at"
                            f" {', '.join(self.target)}."
                        ),
                        help="run `flask db verify` and `flask db history` to see why",
                    )
                )
            at_head = set(now) == set(setup.graph.heads)
            if at_head:
                findings.extend(verify.drift_findings(setup, target, connection))
            if setup.settings.ledger and self.applied:
                recorded = {
                    e.revision
                    for e in ledger.read_entries(connection, setup.version_schema)
                    if e.success and e.direction == "upgrade"
                }
                missing = [step.revision for step in self.applied if step.revision not in recorded]
                if missing:
                    findings.append(
                        Finding(
                            rule="ledger-incomplete",
                            severity=Severity.ERROR,
                            message=(
                                f"The ledger has no row for {', '.join(missing)}, applied by"
                                " this run."
                            ),
                            help="check that nothing deletes from safemigrate_ledger",
                        )
                    )
        if findings:
            raise self.stop(ExitCode.CHECKS_FAILED, *findings)
        checked = "at head, no drift from the models" if at_head else f"at {', '.join(now)}"
        self.progress.stage("verify", checked)

    def offline_sql(self) -> None:
        if len(self.current) > 1:
            raise ConfigError(
                f"--sql needs the database at one revision, and it is at {', '.join(self.current)}",
                hint="print the SQL per branch with `flask db upgrade --sql FROM:TO`",
            )
        if not self.plan:
            self.sql = ""
            return
        config = self.setup.migrate_state.migrate.get_config(str(self.setup.directory))
        buffer = io.StringIO()
        config.output_buffer = buffer
        start = f"{self.current[0]}:" if self.current else ""
        alembic_command.upgrade(config, f"{start}{self.options.revision}", sql=True)
        self.sql = _schema_prelude(self.setup.settings.schema) + buffer.getvalue()

    # ------------------------------------------------------------------ the run

    def execute(self) -> Outcome:
        try:
            self.setup = verify.setup_of(self.app)
            self.preflight()
            if self.options.sql:
                self.offline_sql()
                return self.finish(ExitCode.OK, "done")
            if self.options.dry_run:
                self.notes.extend(
                    f"  would apply {verify.describe(script)}  ({display_path(script.path)})"
                    for script in self.plan
                )
                return self.finish(ExitCode.OK, "preflight")
            if self.plan or self.options.resolved:
                self.lock_and_apply()
            if self.options.verify:
                self.post_verify()
            return self.finish(ExitCode.OK, "done")
        except _Stop as stop:
            self.findings.extend(stop.findings)
            return self.finish(stop.exit_code, self.stage)
        except RunConfigError:
            raise
        except ConfigError as error:
            raise self.usage_error(error) from None
        except SafeMigrateError as error:
            self.findings.append(
                Finding(
                    rule=_RULE_OF_ERROR.get(type(error).__name__, self.stage + "-failed"),
                    severity=Severity.ERROR,
                    message=error.message,
                    path=error.where,
                    help=error.hint,
                    extra=dict(error.data),
                )
            )
            return self.finish(error.exit_code, self.stage)
        except sa.exc.SQLAlchemyError as exc:
            reason = one_line(exc, self.setup.urls)
            # In stage upgrade this is the ledger's own table, before any revision ran.
            doing = "writing to" if self.stage == "upgrade" else "reading"
            self.findings.append(
                Finding(
                    rule=f"{self.stage}-failed",
                    severity=Severity.ERROR,
                    message=f"{doing} {self.target_label} failed in stage {self.stage}: {reason}",
                    help=_database_error_help(exc, reason),
                )
            )
            return self.finish(ExitCode.PREFLIGHT, self.stage)

    def usage_error(self, error: ConfigError) -> ConfigError:
        """``error`` with the run's report, as :class:`RunConfigError` (when one can be made)."""
        self.findings.append(
            Finding(
                rule="usage-error",
                severity=Severity.ERROR,
                message=error.message,
                path=error.where,
                help=error.hint,
                extra=dict(error.data),
            )
        )
        try:
            return RunConfigError(error, self.finish(ExitCode.USAGE, self.stage).report)
        except AttributeError:  # a run that had not read its setup yet: the plain error
            return error

    def headline(self, code: ExitCode, stage: str) -> str:
        return _headline_of(self, code, stage)

    def finish(self, code: ExitCode, stage: Stage) -> Outcome:
        ok = code is ExitCode.OK
        facts: dict[str, Any] = {
            "ok": ok,
            "stage": "done" if ok and stage != "preflight" else stage,
            "from": list(self.started or ()),
            "to": list(self.target),
            "current": list(self.current),
            "applied": [
                {"revision": step.revision, "seconds": round(step.seconds, 3)}
                for step in self.applied
            ],
            "plan": [
                {"revision": script.revision, "message": script.message} for script in self.plan
            ],
            "backup": str(self.backup_path) if self.backup_path is not None else None,
        }
        facts["summary"] = self.headline(code, facts["stage"])
        if self.orphans_settled:
            facts["orphans"] = self.orphans_settled
        if self.options.dry_run:
            facts["dry_run"] = True
        if self.sql is not None:
            facts["sql"] = self.sql
        report = Report("safe-upgrade", self.findings, facts=facts, notes=self.notes)
        return Outcome(report, code, self.sql)


def _failed_once(entries: Sequence[ledger.Entry]) -> set[str]:
    """Revisions with at least one failed attempt in the ledger (resolved or not)."""
    return {entry.revision for entry in entries if not entry.success}


def _headline_of(run: _Run, code: ExitCode, stage: str) -> str:
    """One line that says how the run ended (the last line of the text output)."""
    at = ", ".join(run.current) or "base"
    if code is not ExitCode.OK and run.started is None and stage == "preflight":
        # Stopped before the database was read (a broken history, a bad id): "at base"
        # would be a guess, and a frightening one.
        return (
            f"safe-upgrade stopped in stage {stage} (exit {int(code)}) before reading the"
            " database; nothing was changed."
        )
    if code is not ExitCode.OK:
        return f"safe-upgrade stopped in stage {stage} (exit {int(code)}); database at {at}."
    if run.options.sql:
        return f"SQL for {plural(len(run.plan), 'revision')} printed; nothing was changed."
    if run.options.dry_run:
        if not run.plan:
            return f"Dry run: at {at}, nothing to apply."
        return f"Dry run: {plural(len(run.plan), 'revision')} would be applied; nothing changed."
    if run.applied:
        seconds = sum(step.seconds for step in run.applied)
        return (
            f"Applied {plural(len(run.applied), 'revision')} in {seconds:.2f}s; database at {at}."
        )
    if run.another:
        return f"Another migrator applied the plan; database at {at}."
    return f"Already at {at}: nothing to apply."


def safe_upgrade(
    app: Flask, options: Options | None = None, progress: Progress | None = None
) -> Outcome:
    """Run the stages for ``app`` (see the module docstring); never raises for a failed run.

    Raises :class:`ConfigError` (exit 2) for what the user must fix in the command or the
    configuration: an unknown target, a missing migrations directory, a bad option.
    """
    run_class = _Run
    if verify.uses_multidb(app):
        from flask_safemigrate.upgrade_binds import MultiRun

        run_class = MultiRun
    run = run_class(app, options or Options(), progress or Progress())
    with app.app_context(), app_engine_options.applied(app.config):
        return run.execute()


def _shifted_start(
    progress: Progress, offset: int, total: int, position: int, script: history.Script
) -> None:
    progress.step_started(offset + position, total, script)


def _shifted_finish(
    progress: Progress, offset: int, total: int, position: int, revision: str, seconds: float
) -> None:
    progress.step_finished(offset + position, total, revision, seconds)


def _schema_prelude(schema: str | None) -> str:
    """SQL that puts the offline script in ``SAFEMIGRATE_SCHEMA``.

    The stock ``env.py`` passes no ``configure_args`` in offline mode, so Alembic writes the
    version table unqualified: the search path sends it (and the ledger-free script's
    unqualified statements) to the schema, which is created first, as safe-upgrade does.
    """
    if schema is None:
        return ""
    quoted = '"' + schema.replace('"', '""') + '"'
    return f"CREATE SCHEMA IF NOT EXISTS {quoted};\n\nSET search_path TO {quoted};\n\n"


def _orphan_facts(orphan: orphans.Orphan) -> dict[str, Any]:
    return {
        "session": orphan.session,
        "pid": orphan.pid,
        "host": orphan.host,
        "gone": orphan.gone,
        "seconds": orphan.seconds,
        "query": orphan.query,
    }


def _seconds_list(waits: Sequence[float]) -> str:
    """``2.01s`` or ``2.01s + 2.00s`` (one per attempt); ``an unknown time`` without figures."""
    if not waits:
        return "an unknown time"
    return " + ".join(f"{w:.2f}s" for w in waits)


def _database_error_help(error: BaseException, reason: str) -> str:
    """What to do about a database error outside any revision: by its kind, not a guess."""
    if "database is locked" in reason:
        return (
            "another connection holds a lock on the database: let it finish, or raise"
            " SAFEMIGRATE_CONNECT_TIMEOUT (how long SQLite waits for a lock)"
        )
    if database.is_transient_ddl(error):
        return (
            "another migrator changed this table while this run read it (a first run creating"
            " the version table or the ledger); nothing was changed: run safe-upgrade again"
        )
    if database.is_privilege_error(error):
        return "grant the account the privileges the error names on the version table and schema"
    return "see the database's error above; `flask db verify` shows where the database stands"


def locks_file_hint(guard: lock_guard.Guard | None) -> str:
    """How the lock-lost help names the SQLite lock file (``lock file`` elsewhere)."""
    path = guard.held.path if guard is not None else None
    return f"lock file {path}" if path is not None else "SQLite lock file"


def _utcnow() -> datetime:
    return datetime.now(UTC)
