"""safe-upgrade for Flask-Migrate's multi-database template (``flask db init --multidb``).

The stages are :mod:`.upgrade`'s, done for every bind (the default database first, then the
binds by name):

1. **preflight** connects to every bind and reads its revision and its ledger before anything
   is changed: an unreachable bind stops the run here (exit 3), naming it. Each bind has its
   own plan, ``graph.path(bind's revision, target)``: binds normally move together; a bind
   that is behind gets the longer path (Alembic upgrades each bind from its own version
   table), and the run's ``plan`` is the union, in history order from the lowest.
2. **lock**: each bind's migration lock, in bind order (the same order in every migrator,
   so two never wait on each other); two binds on one database share one lock. Each lock
   gets a :mod:`.lock_guard` guard (keepalive, fence, checks in the runner): a lost one
   stops the run with exit 5 ``lock-lost`` naming the bind.
3. **backup**: each bind that wants one (SQLite by default).
4. **upgrade** (:func:`.runner.run_multidb_upgrade`): the stock multi-database ``env.py``
   opens one transaction per bind and commits them all after the last revision of the last
   bind. So on PostgreSQL and SQLite a failure anywhere rolls back what this run did on
   every such bind; MariaDB/MySQL keeps its DDL, and there each revision is committed
   (version and ledger rows too) as soon as it finishes. After a failure every bind is read
   back and the report says where each stands.
5. **verify**: every bind is at the target, without drift at head, with its ledger rows.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from flask_safemigrate import database, faults, history, ledger, lock_guard, runner, verify
from flask_safemigrate.errors import (
    ConfigError,
    DatabaseUnreachable,
    ExitCode,
    LockLost,
    SafeMigrateError,
)
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path, one_line, plural, shorten
from flask_safemigrate.upgrade import (
    Outcome,
    Stage,
    _Run,
    _Stop,
)

__all__ = ["MultiRun"]


@dataclass
class _Bind:
    """One database of the app and what this run knows and does there."""

    target: verify.Target
    started: tuple[str, ...] = ()
    current: tuple[str, ...] = ()
    plan: list[history.Script] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # revisions with an unresolved failure
    failed_once: set[str] = field(default_factory=set)  # with a failure, resolved or not
    backup: Path | None = None

    @property
    def key(self) -> str | None:
        return self.target.bind

    @property
    def name(self) -> str:
        """How progress lines name it: ``default`` or the bind key."""
        return "default" if self.target.bind is None else self.target.bind

    @property
    def label(self) -> str:
        return self.target.label if self.key is not None else f"{self.target.label} (default)"

    @property
    def dialect(self) -> str | None:
        return database.dialect_of(self.target.url)

    @property
    def at(self) -> str:
        return ", ".join(self.current) or "base"


@dataclass
class MultiRun(_Run):
    """:class:`.upgrade._Run` for every bind (see the module docstring)."""

    binds: list[_Bind] = field(default_factory=list)
    #: Each bind's migration-lock guard while the locks are held (binds on one database
    #: share one lock and so one guard).
    guards: dict[str | None, lock_guard.Guard] = field(default_factory=dict)
    #: What the last failed run rolled back on the transactional binds (lock-lost report).
    rolled_back: list[runner.Applied] = field(default_factory=list)

    # ------------------------------------------------------------------ preflight

    def preflight(self) -> None:
        settings = self.setup.settings
        if self.options.sql:
            raise ConfigError(
                "--sql is not available for Flask-Migrate's multi-database template",
                hint="`flask db upgrade --sql` writes one SQL file per bind",
            )
        if settings.schema is not None:
            raise ConfigError(
                "SAFEMIGRATE_SCHEMA is not supported with the multi-database template",
                hint="unset SAFEMIGRATE_SCHEMA, or give each bind's URL its own database",
            )
        self.check_graph()
        self.binds = [_Bind(target) for target in self.setup.targets]
        blocking: list[Finding] = []
        for bind in self.binds:
            entries = self.read_bind(bind)
            bind.started = bind.current
            blocking += self.check_bind(bind, entries)
        # A failure another replica resolved already is no usage error: the fleet goes on.
        unknown = set(self.options.resolved) - {r for b in self.binds for r in b.failed_once}
        if unknown:
            raise ConfigError(
                f"--resolved {', '.join(sorted(unknown))}: no bind's ledger has a"
                " failure of that revision",
                hint="`flask db verify` lists failed migrations",
            )
        if blocking:
            raise self.stop(ExitCode.PREFLIGHT, *blocking)
        self.plan_binds()
        self.started = self.current
        for bind in self.binds:
            todo = plural(len(bind.plan), "revision") + " to apply" if bind.plan else None
            self.progress.stage(
                "preflight", f"{bind.label} at {bind.at}: {todo or 'nothing to apply'}"
            )
        if self.plan and not self.options.skip_lint:
            self.lint()

    def read_bind(self, bind: _Bind) -> list[ledger.Entry]:
        """The bind's revision and ledger; exit 3 naming the bind when it cannot be read."""
        settings = self.setup.settings

        def read() -> tuple[tuple[str, ...], list[ledger.Entry], list[Finding]]:
            with database.connect(
                bind.target.url,
                timeout=settings.connect_timeout,
                retries=settings.connect_retries,
            ) as connection:
                current = self.read_current(connection)
                too_long = verify.width_findings(self.setup, bind.target, connection)
                return current, ledger.read_entries(connection, self.setup.version_schema), too_long

        try:
            # A first run: another replica may be creating these tables (MariaDB 1412/1684).
            bind.current, entries, too_long = database.retry_transient(read)
            if too_long and self.stage == "preflight":
                raise self.stop(ExitCode.PREFLIGHT, *too_long)
            return entries
        except DatabaseUnreachable as exc:
            unchanged = " Nothing was changed on any database." if self.stage == "preflight" else ""
            raise self.stop(
                ExitCode.PREFLIGHT,
                Finding(
                    rule="database-unreachable",
                    severity=Severity.ERROR,
                    message=f"Database {bind.label} could not be reached:"
                    f" {exc.message}.{unchanged}",
                    help=exc.hint,
                    extra={"bind": bind.key, "database": database.mask_url(bind.target.url)},
                ),
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            raise self.stop(
                ExitCode.PREFLIGHT,
                Finding(
                    rule=f"{self.stage}-failed",
                    severity=Severity.ERROR,
                    message=f"reading {bind.label} failed in stage {self.stage}:"
                    f" {one_line(exc, self.setup.urls)}",
                    help="grant the account the privileges the error names on the version table"
                    if database.is_privilege_error(exc)
                    else "see the database's error above; `flask db verify` shows where it stands",
                    extra={"bind": bind.key, "database": database.mask_url(bind.target.url)},
                ),
            ) from None

    def check_bind(self, bind: _Bind, entries: Sequence[ledger.Entry]) -> list[Finding]:
        """Unknown revisions stop the run; failed migrations block unless ``--resolved``."""
        setup = self.setup
        graph = setup.graph
        unknown = [rev for rev in bind.current if rev not in graph.scripts]
        if unknown:
            raise self.stop(
                ExitCode.PREFLIGHT,
                *(verify.unknown_revision(setup, bind.target, rev, entries) for rev in unknown),
            )
        behind = [
            rev
            for rev in bind.current
            if any(rev in graph.ancestors(other) for other in bind.current if other != rev)
        ]
        if behind:
            raise self.stop(
                ExitCode.PREFLIGHT,
                Finding(
                    rule="overlapping-database-revisions",
                    severity=Severity.ERROR,
                    message=f"The version table {setup.version_table} of {bind.label} holds"
                    f" {bind.at}, but {', '.join(sorted(behind))} is an ancestor of another of"
                    " them: one row per branch is all it may hold.",
                    help="check which revision the schema matches, then delete the other row",
                    extra={"bind": bind.key, "revisions": list(bind.current)},
                ),
            )
        if not setup.settings.ledger or not entries:
            return []
        bind.failed = set()  # read afresh under the lock: only what is still unresolved
        bind.failed_once = {entry.revision for entry in entries if not entry.success}
        blocking = []
        for finding in verify.ledger_findings(setup, bind.target, entries, bind.current):
            revision = finding.extra.get("revision")
            finding = replace(finding, extra={**finding.extra, "bind": bind.key})
            if finding.rule == "failed-migration":
                bind.failed.add(str(revision))
                if revision not in self.options.resolved:
                    blocking.append(finding)
            elif self.stage == "preflight":
                self.findings.append(replace(finding, severity=Severity.WARNING))
        return blocking

    def plan_binds(self) -> None:
        graph = self.setup.graph
        wanted: set[str] = set(self.target)
        for revision in self.target:
            wanted |= graph.ancestors(revision)
        for bind in self.binds:
            ahead = [rev for rev in bind.current if rev not in wanted]
            if ahead:
                raise ConfigError(
                    f"{bind.label} is at {', '.join(ahead)}, which is not below"
                    f" {self.options.revision!r}: safe-upgrade only moves forward",
                    hint="to go back, use `flask db downgrade REVISION`",
                )
            bind.plan = graph.path(bind.current, self.options.revision)
        # The union, in history order: the path of the bind that is furthest behind first.
        seen: set[str] = set()
        self.plan = []
        for bind in sorted(self.binds, key=lambda b: -len(b.plan)):
            for script in bind.plan:
                if script.revision not in seen:
                    seen.add(script.revision)
                    self.plan.append(script)
        self.current = _union(b.current for b in self.binds)

    # ------------------------------------------------------------------ lock, backup, upgrade

    def lock_and_apply(self) -> None:
        from flask_safemigrate import locks

        self.stage = "lock"
        settings = self.setup.settings
        began_all = time.monotonic()
        with contextlib.ExitStack() as stack:
            taken: dict[str, lock_guard.Guard] = {}
            stack.callback(self.guards.clear)  # runs last: after every guard and lock ended
            locked: list[_Bind] = []
            for bind in self.binds:
                name = locks.lock_name(
                    bind.target.url,
                    version_table=self.setup.version_table,
                    schema=self.setup.version_schema,
                )
                if name in taken:
                    self.guards[bind.key] = taken[name]
                    continue
                locked.append(bind)
                began = time.perf_counter()
                self.progress.stage(
                    "lock",
                    f"taking the migration lock of {bind.label} (waits up to"
                    f" {settings.lock_wait:g}s)",
                )
                held = stack.enter_context(
                    locks.migration_lock(
                        bind.target.url,
                        name=name,
                        wait=settings.lock_wait,
                        connect_timeout=settings.connect_timeout,
                        connect_retries=settings.connect_retries,
                    )
                )
                # Keepalive, checks and fence for this lock; ends before the lock is released.
                taken[name] = self.guards[bind.key] = stack.enter_context(
                    lock_guard.guarding(held, dialect=bind.dialect, wait=settings.lock_wait)
                )
                self.progress.stage("lock", f"acquired in {time.perf_counter() - began:.2f}s")
            # What killed migrators left running on any bind would block this run.
            deadline = max(began_all + settings.lock_wait, time.monotonic() + 1.0)
            for bind in locked:
                self.settle_orphans(deadline=deadline, url=bind.target.url)
            before = [b.current for b in self.binds]
            blocking: list[Finding] = []
            for bind in self.binds:
                bind.failed.clear()
                blocking += self.check_bind(bind, self.read_bind(bind))
            if blocking:  # a migrator that failed while this one waited: honour its row
                raise self.stop(ExitCode.PREFLIGHT, *blocking)
            if [b.current for b in self.binds] != before:
                self.plan_binds()
                if not self.plan:
                    self.another = True
                    self.progress.stage(
                        "lock",
                        "another migrator applied the plan meanwhile: now "
                        + "; ".join(f"{b.name} at {b.at}" for b in self.binds),
                    )
                    return
            if self.plan:
                self.backup()
            self.upgrade()

    def backup(self) -> None:
        self.stage = "backup"
        settings = self.setup.settings
        from flask_safemigrate import backup

        directory = (
            Path(settings.backup_dir)
            if settings.backup_dir
            else Path(self.app.instance_path) / "backups"
        )
        for bind in self.binds:
            wanted = self.options.backup
            if wanted is None:
                wanted = (
                    settings.backup if settings.backup is not None else bind.dialect == "sqlite"
                )
            if not wanted or not bind.plan:
                continue
            label = f"{bind.name}-before-" + ("-".join(rev[:12] for rev in bind.current) or "base")
            bind.backup = backup.backup_database(
                bind.target.url,
                directory,
                label=label,
                timeout=settings.connect_timeout,
                tool_timeout=settings.backup_timeout,
            )
            if self.backup_path is None:
                self.backup_path = bind.backup
            self.progress.stage("backup", f"{bind.label} written to {bind.backup}")

    def upgrade(self) -> None:
        self.stage = "upgrade"
        setup = self.setup
        settings = setup.settings
        if settings.ledger:
            for bind in self.binds:
                with self.connect_to(bind) as connection:
                    ledger.create(connection, setup.version_schema)
                    for revision in sorted(set(self.options.resolved) & bind.failed):
                        ledger.resolve(connection, revision=revision, schema=setup.version_schema)
                    connection.commit()
        if not self.plan:
            return
        checksums = {script.revision: ledger.checksum(script.path) for script in self.plan}
        order = self.env_order()
        attempt = 0
        while True:
            plans = [runner.BindPlan(b.key, b.plan) for b in order]
            total = len(self.applied) + sum(len(b.plan) for b in order)
            offset = len(self.applied)
            try:
                self.applied += runner.run_multidb_upgrade(
                    state=setup.migrate_state,
                    directory=str(setup.directory),
                    target=self.options.revision,
                    binds=plans,
                    checksums=checksums,
                    version_table=setup.version_table,
                    ledger_schema=setup.version_schema,
                    use_ledger=settings.ledger,
                    lock_timeout=settings.lock_timeout,
                    statement_timeout=settings.statement_timeout,
                    on_start=functools.partial(self.started_step, offset, total),
                    on_finish=functools.partial(self.finished_step, offset, total),
                    guards=self.guards,
                )
            except runner.StepFailed as failed:
                self.applied += failed.applied
                if isinstance(failed.error, SafeMigrateError):
                    # A lost lock, or the fence's LockTimeout: no script failed (see _Run).
                    if failed.error.data.get("point") == "commit":
                        self.progress.step_failed(
                            len(self.applied) + len(failed.rolled_back),
                            total,
                            failed.seconds,
                            bind=self.bind_of(failed.bind).name,
                        )
                    if isinstance(failed.error, LockLost):
                        self.rolled_back = failed.rolled_back
                        raise self.bind_lock_lost(failed, failed.error) from None
                    raise failed.error from None
                position = len(self.applied) + len(failed.rolled_back)
                self.progress.step_failed(
                    position, total, failed.seconds, bind=self.bind_of(failed.bind).name
                )
                retry = (
                    faults.is_lock_timeout(failed.error)
                    and attempt < settings.lock_retries
                    and all(b.dialect != "mysql" for b in self.binds)
                )
                if not retry:
                    raise self.failure(failed, attempts=attempt + 1) from None
                attempt += 1
                pause = min(0.5 * 2 ** (attempt - 1), 10.0)
                self.progress.waiting(
                    f"revision {failed.revision} on {self.bind_of(failed.bind).name} waited"
                    f" longer than SAFEMIGRATE_LOCK_TIMEOUT ({settings.lock_timeout:g}s) for a"
                    f" lock; every bind rolled back; retry {attempt} of"
                    f" {settings.lock_retries} in {pause:g}s"
                )
                time.sleep(pause)
                for bind in self.binds:
                    self.read_bind(bind)
                self.plan_binds()
                continue
            for bind in self.binds:
                bind.current = tuple(self.target) if bind.plan else bind.current
            self.progress.stage(
                "upgrade",
                "committed on " + ", ".join(b.name for b in order if b.plan),
            )
            return

    def bind_lock_lost(self, failed: runner.StepFailed, error: LockLost) -> _Stop:
        """Exit 5 ``lock-lost`` naming the bind(s) whose lock was lost (see ``_Run``)."""
        name = error.data.get("lock")
        lost = [
            b for b in self.binds if b.key in self.guards and self.guards[b.key].held.name == name
        ]
        lost = lost or [self.bind_of(failed.bind)]
        label = " and ".join(b.label for b in lost)
        self.refresh_position()  # for "binds" below (lock_lost reads them for its message)
        return self.lock_lost(
            failed,
            error,
            guard=self.guards.get(lost[0].key),
            label=label,
            extra={
                "bind": lost[0].key,
                "lost_binds": [b.key for b in lost],
                "rolled_back": [{"bind": s.bind, "revision": s.revision} for s in self.rolled_back],
                "binds": [{"bind": b.key, "current": list(b.current)} for b in self.binds],
            },
        )

    def refresh_position(self) -> None:
        """Read every bind back (after a lost lock); a bind that cannot be read keeps its."""
        for bind in self.binds:
            with (
                contextlib.suppress(SafeMigrateError, sa.exc.SQLAlchemyError),
                self.connect_to(bind) as connection,
            ):
                bind.current = self.read_current(connection)
        self.current = _union(b.current for b in self.binds)

    def position_text(self, at: str) -> str:
        undone = ", ".join(f"{s.revision} on {self.bind_of(s.bind).name}" for s in self.rolled_back)
        text = (
            f"Rolled back with it (one transaction per PostgreSQL/SQLite database until every"
            f" bind is done): {undone}. "
            if undone
            else ""
        )
        return text + "Now: " + "; ".join(f"{b.label} at {b.at}" for b in self.binds) + "."

    def env_order(self) -> list[_Bind]:
        """The binds in the order the multi-database ``env.py`` migrates them."""
        configured = self.app.config.get("SQLALCHEMY_BINDS")
        keys: list[str | None] = [None, *(configured or {})]
        by_key = {b.key: b for b in self.binds}
        ordered = [by_key[k] for k in keys if k in by_key]
        return ordered + [b for b in self.binds if b not in ordered]

    def bind_of(self, key: str | None) -> _Bind:
        return next((b for b in self.binds if b.key == key), self.binds[0])

    def started_step(
        self, offset: int, total: int, position: int, key: str | None, script: history.Script
    ) -> None:
        self.progress.step_started(offset + position, total, script, bind=self.bind_of(key).name)

    def finished_step(
        self, offset: int, total: int, position: int, key: str | None, rev: str, seconds: float
    ) -> None:
        self.progress.step_finished(
            offset + position, total, rev, seconds, bind=self.bind_of(key).name
        )

    @contextlib.contextmanager
    def connect_to(self, bind: _Bind) -> Any:
        settings = self.setup.settings
        with database.connect(
            bind.target.url, timeout=settings.connect_timeout, retries=settings.connect_retries
        ) as connection:
            yield connection

    # ------------------------------------------------------------------ failure

    def failure(
        self, failed: runner.StepFailed, *, attempts: int, waits: Sequence[float] = ()
    ) -> _Stop:
        """Exit 4: which bind and revision failed, and where EVERY bind stands now."""
        setup = self.setup
        urls = setup.urls
        culprit = self.bind_of(failed.bind)
        script = setup.graph.scripts.get(failed.revision or "")
        name = verify.describe(script) if script is not None else (failed.revision or "?")
        reason = one_line(failed.error, urls)
        # A dropped connection is not the script's fault (see _Run.failure).
        lost = faults.is_connection_lost(failed.error)
        nothing_left = culprit.dialect != "mysql" or not failed.ran
        states: list[str] = []
        unreadable: set[str | None] = set()
        for bind in self.binds:
            try:
                with self.connect_to(bind) as connection:
                    bind.current = self.read_current(connection)
                    recordable = bool(failed.revision) and failed.started
                    if bind is culprit and setup.settings.ledger and recordable:
                        self.record_failure(connection, failed, script, reason, lost, nothing_left)
            except (SafeMigrateError, sa.exc.SQLAlchemyError, OSError) as exc:
                unreadable.add(bind.key)
                self.notes.append(f"Could not read back {bind.label}: {one_line(exc, urls)}")
            states.append(self.state_of(bind, failed, culprit, bind.key in unreadable))
        self.current = _union(b.current for b in self.binds)
        ran = [shorten(database.mask_text(s, culprit.target.url)) for s in failed.ran]
        what = (
            f"The database connection running revision {name} on {culprit.label} was lost"
            f" ({reason}); the server ended the session or the network dropped it, the script"
            " itself did not fail"
            if lost
            else f"Revision {name} failed on {culprit.label}: {reason}"
        )
        message = f"{what}. Where each database stands now: " + "; ".join(states) + "."
        if self.backup_path is not None:
            message += (
                " Backups from before this run: "
                + ", ".join(f"{b.name}: {b.backup}" for b in self.binds if b.backup is not None)
                + "."
            )
        resume = f"then run `flask db safe-upgrade --resolved {failed.revision}`"
        why = (
            "find out why the session ended (pg_terminate_backend or KILL by someone, a server"
            " restart or failover, a proxy, firewall or network timeout)"
        )
        if lost and nothing_left:
            todo = f"{why}, then run `flask db safe-upgrade` again: there is nothing to repair"
        elif lost:
            todo = (
                f"{why}; undo (or finish) by hand the statements of {failed.revision} that stay"
                f" applied on {culprit.name} (listed above), {resume}"
            )
        elif culprit.dialect == "mysql" and ran:
            todo = (
                f"undo (or finish) by hand the statements of {failed.revision} that stay"
                f" applied on {culprit.name} (listed above), fix the script or the data, {resume}"
            )
        elif faults.is_lock_timeout(failed.error):
            todo = (
                "end or wait out the blocking session, or raise SAFEMIGRATE_LOCK_TIMEOUT /"
                f" SAFEMIGRATE_LOCK_RETRIES; {resume}"
            )
        else:
            todo = f"fix the script or the data, {resume}"
        return self.stop(
            ExitCode.MIGRATION_FAILED,
            Finding(
                rule="connection-lost" if lost else "migration-failed",
                severity=Severity.ERROR,
                message=message,
                path=display_path(script.path) if script is not None else None,
                line=runner.failing_line(failed.error, script),
                help=todo,
                extra={
                    "revision": failed.revision,
                    "bind": culprit.key,
                    "statement": shorten(
                        database.mask_text(failed.statement or "", culprit.target.url)
                    )
                    or None,
                    "error": reason,
                    "ran": ran,
                    "current": None if culprit.key in unreadable else list(culprit.current),
                    "attempts": attempts,
                    "backup": str(self.backup_path) if self.backup_path else None,
                    "binds": [
                        {
                            "bind": b.key,
                            "current": None if b.key in unreadable else list(b.current),
                        }
                        for b in self.binds
                    ],
                },
            ),
        )

    def state_of(
        self, bind: _Bind, failed: runner.StepFailed, culprit: _Bind, unreadable: bool
    ) -> str:
        """One bind's state after a failure, read back from its version table."""
        at = "unknown (unreachable)" if unreadable else bind.at
        committed = [s.revision for s in failed.applied if s.bind == bind.key]
        undone = [s.revision for s in failed.rolled_back if s.bind == bind.key]
        text = f"{bind.label} is at {at}"
        if committed:
            text += (
                f" ({', '.join(committed)} committed by this run: MariaDB/MySQL commits each"
                " revision)"
            )
        if undone:
            text += (
                f"; {', '.join(undone)} ran there and rolled back with the failure (one"
                " transaction per database until every bind is done)"
            )
        if bind is culprit:
            if bind.dialect == "mysql" and failed.ran:
                text += (
                    "; MariaDB/MySQL cannot roll back DDL:"
                    f" {plural(len(failed.ran), 'statement')} of {failed.revision} ran"
                    " before the failure and stay applied: "
                    + "; ".join(shorten(database.mask_text(s, bind.target.url)) for s in failed.ran)
                )
            elif bind.dialect == "mysql":
                text += f"; no statement of {failed.revision} had run there"
            else:
                text += f"; {failed.revision} rolled back there"
        elif not bind.plan:
            text += "; nothing to apply there"
        elif not committed and not undone:
            text += "; not reached, unchanged"
        return text

    # ------------------------------------------------------------------ verify and report

    def post_verify(self) -> None:
        self.stage = "verify"
        setup = self.setup
        findings: list[Finding] = []
        checked = []
        for bind in self.binds:
            with self.connect_to(bind) as connection:
                bind.current = now = self.read_current(connection)
                if set(now) != set(self.target):
                    findings.append(
                        Finding(
                            rule="not-at-target",
                            severity=Severity.ERROR,
                            message=f"After the upgrade {bind.label} is at {bind.at}, not at"
                            f" {', '.join(self.target)}.",
                            help="run `flask db verify` and `flask db history` to see why",
                            extra={"bind": bind.key},
                        )
                    )
                at_head = set(now) == set(setup.graph.heads)
                if at_head:
                    findings.extend(verify.drift_findings(setup, bind.target, connection))
                mine = [s.revision for s in self.applied if s.bind == bind.key]
                if setup.settings.ledger and mine:
                    recorded = {
                        e.revision
                        for e in ledger.read_entries(connection, setup.version_schema)
                        if e.success and e.direction == "upgrade"
                    }
                    missing = [rev for rev in mine if rev not in recorded]
                    if missing:
                        findings.append(
                            Finding(
                                rule="ledger-incomplete",
                                severity=Severity.ERROR,
                                message=f"The ledger of {bind.label} has no row for"
                                f" {', '.join(missing)}, applied by this run.",
                                help="check that nothing deletes from safemigrate_ledger",
                                extra={"bind": bind.key},
                            )
                        )
            checked.append(f"{bind.name} " + ("at head, no drift" if at_head else f"at {bind.at}"))
        self.current = _union(b.current for b in self.binds)
        if findings:
            raise self.stop(ExitCode.CHECKS_FAILED, *findings)
        self.progress.stage("verify", "; ".join(checked) + " from the models")

    def headline(self, code: ExitCode, stage: str) -> str:
        text = super().headline(code, stage)
        if not self.binds:
            return text
        where = ", ".join(f"{b.name} at {b.at}" for b in self.binds)
        head, _, _ = text.rpartition("database at ")
        if head and text.endswith("."):
            return f"{head}databases: {where}."
        if text.startswith("Already at"):
            return f"Already at the target: {where}; nothing to apply."
        return text

    def finish(self, code: ExitCode, stage: Stage) -> Outcome:
        outcome = super().finish(code, stage)
        facts = outcome.report.facts
        facts["applied"] = [
            {"revision": s.revision, "seconds": round(s.seconds, 3), "bind": s.bind}
            for s in self.applied
        ]
        facts["binds"] = [
            {
                "bind": bind.key,
                "url": database.mask_url(bind.target.url),
                "from": list(bind.started),
                "current": list(bind.current),
                "plan": [script.revision for script in bind.plan],
                "applied": [
                    {"revision": s.revision, "seconds": round(s.seconds, 3)}
                    for s in self.applied
                    if s.bind == bind.key
                ],
                "backup": str(bind.backup) if bind.backup is not None else None,
            }
            for bind in self.binds
        ]
        return outcome


def _union(revisions: Any) -> tuple[str, ...]:
    return tuple(sorted({rev for group in revisions for rev in group}))
