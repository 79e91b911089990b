"""The stages of one run over its targets: preflight, lock, backup, upgrade, verify.

Each stage loops over :attr:`.state.Run.targets` (one for a single-database app, one per
bind for the multi-database template); see :mod:`flask_safemigrate.upgrade` for what each
stage does and :mod:`.wording` for the only places where one target and several differ.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from flask_safemigrate import (
    database,
    dedicated_schema,
    faults,
    history,
    ledger,
    lock_guard,
    suggested,
)
from flask_safemigrate.caches import user_cache
from flask_safemigrate.checks import describe, drift_findings
from flask_safemigrate.errors import ConfigError, ExitCode, LockLost, SafeMigrateError
from flask_safemigrate.project import Setup
from flask_safemigrate.report import Finding, Report, Result, Severity
from flask_safemigrate.text import display_path, one_line
from flask_safemigrate.upgrade import (
    apply,
    backup_stage,
    checks,
    compat_stage,
    events,
    failures,
    heartbeat,
    interrupt,
    live_check,
    offline,
    plan_details,
    script_imports,
    watching,
    wording,
)
from flask_safemigrate.upgrade.options import RunConfigError, Stage
from flask_safemigrate.upgrade.settle import settle_orphans
from flask_safemigrate.upgrade.state import Run, Stop
from flask_safemigrate.upgrade.targets import Target

__all__ = ["execute"]

_RULE_OF_ERROR = {
    "DatabaseUnreachable": "database-unreachable",
    "LockTimeout": "lock-timeout",
    "BackupFailed": "backup-failed",
    "LockLost": "lock-lost",
}


def execute(run: Run) -> Result:
    """Run the stages; every failed run ends in a :class:`Result` with its report.

    Each database's reads reuse one connection (:func:`database.reusing`), closed before
    the lock wait, a backup and the apply (:func:`database.close_idle`): not a dozen logins.
    """
    with database.reusing():
        return _stages(run)


def _stages(run: Run) -> Result:
    try:
        run.read_setup()
        run.progress.emit(
            events.RunStarted(
                revision=run.options.revision,
                databases=tuple(target.endpoint for target in run.targets),
                dry_run=run.options.dry_run,
                sql=run.options.sql,
            )
        )
        if run.options.sql:
            offline.preflight_offline(run)  # as plain --sql: the database is never read
        else:
            preflight(run)
        if run.findings and not (run.options.sql or run.options.dry_run):
            run.findings[:] = _suggesting(run, run.findings)
            run.progress.emit(events.Advised(findings=tuple(run.findings)))
        if run.options.sql:
            offline.offline_sql(run)
            return finish(run, ExitCode.OK, "done")
        if run.options.dry_run:
            _plan_notes(run, "would apply")
            return finish(run, ExitCode.OK, "preflight")
        if run.plan or run.options.resolved:
            lock_and_apply(run)
        if run.options.verify:
            post_verify(run)
        compat_stage.record(run)  # the release deployed, for the next run's compat check
        backup_stage.prune_backups(run)
        return finish(run, ExitCode.OK, "done")
    except Stop as stop:
        run.findings.extend(stop.findings)
        if run.options.dry_run and run.sized:
            _plan_notes(run, "pending")  # what the gate judged, statement by statement
        return finish(run, stop.exit_code, run.stage)
    except KeyboardInterrupt as stop:
        # Ctrl-C / SIGTERM: the lock and connections are released; read where things stand.
        raise interrupt.interrupted(run, stop) from stop
    except RunConfigError:
        raise
    except ConfigError as error:
        raise _usage_error(run, error) from None
    except SafeMigrateError as error:
        run.findings.append(
            Finding(
                rule=_RULE_OF_ERROR.get(type(error).__name__, run.stage + "-failed"),
                severity=Severity.ERROR,
                message=error.message,
                path=error.where,
                help=error.hint,
                extra=dict(error.data),
            )
        )
        return finish(run, error.exit_code, run.stage)
    except sa.exc.SQLAlchemyError as exc:
        reason = one_line(exc, run.setup.urls)
        # In stage upgrade this is the ledger's own table, before any revision ran.
        doing = "writing to" if run.stage == "upgrade" else "reading"
        run.findings.append(
            Finding(
                rule=f"{run.stage}-failed",
                severity=Severity.ERROR,
                message=f"{doing} {run.label} failed in stage {run.stage}: {reason}",
                help=wording.database_error_help(exc, reason),
            )
        )
        return finish(run, ExitCode.PREFLIGHT, run.stage)


def _plan_notes(run: Run, verb: str) -> None:
    """``--dry-run``'s plan: each revision, then its statements with their tables' sizes."""
    for script in run.plan:
        run.notes.append(f"  {verb} {describe(script)}  ({display_path(script.path)})")
        run.notes.extend(live_check.dry_run_notes(run, script.revision))


def preflight(run: Run) -> None:
    """Read every target and check it; plan; lint the pending scripts. Writes nothing."""
    settings = run.setup.settings
    wording.refuse(run, settings)
    checks.check_graph(run)
    checks.resolve_resolved(run)
    read = [checks.read_target(run, target) for target in run.targets]
    for target in run.targets:
        target.started = target.current
    run.started = run.current
    blocking: list[Finding] = []
    unresolved: set[str] = set()
    for target, (entries, too_long) in zip(run.targets, read, strict=True):
        if too_long:
            raise run.stop(ExitCode.PREFLIGHT, *too_long)
        checks.check_position(run, target, entries)
        found, open_failures = checks.check_ledger(run, target, entries, warn=True)
        blocking += found
        unresolved |= open_failures
    checks.settle_ledger(run, blocking, unresolved)
    checks.compute_plan(run)
    if settings.schema is not None and (run.plan or run.options.resolved):
        with run.connect(run.targets[0]) as connection:
            dedicated_schema.preflight(connection, settings.schema)  # may the login create it?
    for target in run.targets:
        run.progress.emit(
            events.Planned(
                target=target.progress_name,
                database=target.label,
                current=target.current,
                plan=tuple(script.revision for script in target.plan),
                pending=len(target.plan),
            )
        )
    checks.check_schema_ahead(run)
    checks.check_invalid_indexes(run)
    if run.plan and not run.options.sql:
        live_check.read(run)  # sizes and long transactions, before lint judges the locks
    missing = script_imports.check(run)  # a module the scripts import, missing here
    lint_errors: list[Finding] = []
    if run.plan and not run.options.skip_lint:
        lint_errors = checks.lint(run)
    elif run.plan:
        run.progress.emit(events.Linted(warnings=0, scripts=len(run.plan), skipped=True))
    # Will the release running now survive the plan? Its advice names --skip-lint too when
    # lint blocks, and lint's names --allow-breaking when a break does: what goes on past both.
    breaks = compat_stage.check(run, lint_blocks=bool(lint_errors))
    passable = [*checks.skip_lint_hint(run, lint_errors, breaks=bool(breaks)), *breaks]
    if missing:  # no option goes past a missing module: the way on starts with installing it
        passable = [_after_installing(finding) for finding in passable]
    blocking = [*missing, *passable]
    if blocking:  # lint's errors and the breaks together: one deploy hears every blocker
        raise run.stop(ExitCode.PREFLIGHT, *blocking)


def _after_installing(finding: Finding) -> Finding:
    """A blocker whose way on (an option) is not enough while a module the scripts import
    is missing too, said so."""
    return replace(
        finding,
        help=(finding.help or "")
        + " (once the module the scripts import is installed: no option goes past a missing"
        " import)",
    )


def lock_and_apply(run: Run) -> None:
    """Every target's migration lock in a stable order (the default database first, then
    the binds by name: two migrators never wait on each other); targets on one database
    share one lock. Under the locks: read again, then back up and upgrade."""
    from flask_safemigrate import locks

    run.enter("lock")
    database.close_idle()  # none kept idle while it waits
    settings = run.setup.settings
    began_all = time.monotonic()
    with contextlib.ExitStack() as stack:
        stack.callback(_drop_guards, run)  # runs last: after every guard and lock ended
        taken: dict[str, lock_guard.Guard] = {}
        locked: list[Target] = []
        for target in run.targets:
            name = locks.lock_name(
                target.url,
                version_table=run.setup.version_table,
                schema=run.setup.version_schema,
            )
            if name in taken:
                target.guard = taken[name]
                continue
            locked.append(target)
            began = time.perf_counter()
            run.progress.emit(
                events.LockWaiting(
                    target=target.progress_name, database=target.label, wait=settings.lock_wait
                )
            )
            with heartbeat.ticking(settings.heartbeat, watching.lock_countdown(run, target)):
                held = stack.enter_context(
                    locks.migration_lock(
                        target.url,
                        name=name,
                        wait=settings.lock_wait,
                        connect_timeout=settings.connect_timeout,
                        connect_retries=settings.connect_retries,
                    )
                )
            # Keepalive, checks and fence for this lock; ends before the lock is released.
            target.guard = taken[name] = stack.enter_context(
                lock_guard.guarding(held, dialect=target.dialect, wait=settings.lock_wait)
            )
            run.progress.emit(
                events.LockAcquired(
                    target=target.progress_name, seconds=time.perf_counter() - began
                )
            )
        # What killed migrators left running would block this run: wait or end it.
        deadline = max(began_all + settings.lock_wait, time.monotonic() + 1.0)
        for target in locked:
            settle_orphans(run, target, deadline=deadline)
        if checks.read_under_lock(run):
            run.another = True
            run.progress.emit(events.AnotherApplied(positions=checks.positions(run)))
            return
        if run.plan:
            backup_stage.backup(run)
        upgrade(run)


def _drop_guards(run: Run) -> None:
    for target in run.targets:
        target.guard = None


def _prepare(run: Run) -> None:
    """Under the lock: the dedicated schema, each ledger, and the ``--resolved`` repairs."""
    setup = run.setup
    if setup.settings.schema is not None:
        with run.connect(run.targets[0]) as connection:  # under the lock: no CREATE SCHEMA race
            dedicated_schema.ensure_schema(connection, setup.settings.schema)
            connection.commit()
    if not setup.settings.ledger:
        return
    for target in run.targets:
        with run.connect(target) as connection:
            ledger.create(connection, setup.version_schema)
            for revision in target.resolving:  # still unresolved: checked under the lock
                ledger.resolve(connection, revision=revision, schema=setup.version_schema)
            connection.commit()


def upgrade(run: Run) -> None:
    """Apply every target's plan; a lock timeout is retried with backoff.

    The commit policy follows the ``env.py`` template: one transaction per revision for a
    single database; the multi-database template's one transaction per bind until the end.
    """
    run.enter("upgrade")
    _prepare(run)
    if not run.plan:
        return
    database.close_idle()  # none kept idle while it applies
    checksums = {script.revision: ledger.checksum(script.path) for script in run.plan}
    order = _env_order(run)
    commit: apply.CommitPolicy = "at-end" if run.multi else "per-revision"
    waits: list[float] = []  # how long each attempt really waited for a lock
    watch = watching.StatementWatch(run)
    try:
        _apply_with_retries(run, order, commit, checksums, waits, watch)
    finally:
        watch.close()


def _apply_with_retries(
    run: Run,
    order: list[Target],
    commit: apply.CommitPolicy,
    checksums: dict[str, str],
    waits: list[float],
    watch: watching.StatementWatch,
) -> None:
    """:func:`upgrade`'s attempts: apply, and retry after a lock timeout with backoff."""
    setup = run.setup
    settings = setup.settings
    attempt = 0
    while True:
        offset = len(run.applied)
        total = offset + sum(len(target.plan) for target in order)
        try:
            run.applied += apply.apply(
                state=setup.migrate_state,
                config=run.alembic_config(),
                revision=run.destination,
                tag=run.options.tag,
                targets=[apply.TargetPlan(t.key, t.plan, t.current) for t in order],
                commit=commit,
                checksums=checksums,
                version_table=setup.version_table,
                ledger_schema=setup.version_schema,
                use_ledger=settings.ledger,
                lock_timeout=settings.lock_timeout,
                statement_timeout=settings.statement_timeout,
                on_start=functools.partial(_started, run, offset, total),
                on_finish=functools.partial(_finished, run, offset, total),
                guards={t.key: t.guard for t in run.targets if t.guard is not None},
                on_beat=watch,
                beat_every=settings.heartbeat,
            )
        except apply.StepInterrupted as step:
            interrupt.record(run, step)  # under the lock: what it may have left blocks
            raise
        except apply.StepFailed as failed:
            run.applied += failed.applied
            culprit = run.target_of(failed.bind)
            position = len(run.applied) + len(failed.rolled_back)
            if isinstance(failed.error, SafeMigrateError):
                # Lost before a revision started or the fence's LockTimeout: nothing ran,
                # no "FAILED" line for it; the report says what happened.
                if failed.error.data.get("point") == "commit":
                    _failed(run, culprit, failed, position, total)
                if isinstance(failed.error, LockLost):
                    run.rolled_back = failed.rolled_back
                    raise failures.lock_lost(run, failed, failed.error) from None
                raise failed.error from None
            _failed(run, culprit, failed, position, total)
            if failed.statement_seconds is not None:
                waits.append(failed.statement_seconds)
            # Retry only where the failed attempt left nothing half done behind.
            clean = (all(t.transactional for t in run.targets) and not failed.committed) or (
                commit == "per-revision" and not failed.ran
            )
            if not (faults.is_lock_timeout(failed.error) and attempt < settings.lock_retries):
                clean = False
            if not clean:
                raise failures.failure(run, failed, attempts=attempt + 1, waits=waits) from None
            attempt += 1
            pause = min(settings.lock_retry_pause * 2 ** (attempt - 1), 10.0)
            run.progress.emit(
                events.Retrying(
                    target=culprit.progress_name,
                    revision=failed.revision,
                    lock_timeout=settings.lock_timeout,
                    retries=settings.lock_retries,
                    attempt=attempt,
                    pause=pause,
                    waited=failed.statement_seconds,
                )
            )
            time.sleep(pause)
            for target in run.targets:  # where each stands after the rollback
                checks.read_target(run, target)
            checks.compute_plan(run)
            continue
        failures.refresh_positions(run, fallback_to_goal=True)
        if run.multi:  # the multi-database template commits every bind at its end
            names = tuple(target.name for target in order if target.plan)
            run.progress.emit(events.Committed(targets=names))
        return


def _env_order(run: Run) -> list[Target]:
    """The targets in the order ``env.py`` migrates them (the configured binds' order)."""
    configured = run.app.config.get("SQLALCHEMY_BINDS") or {}
    keys: list[str | None] = [None, *configured]
    by_key = {target.key: target for target in run.targets}
    ordered = [by_key[key] for key in keys if key in by_key]
    return ordered + [target for target in run.targets if target not in ordered]


def _started(
    run: Run, offset: int, total: int, position: int, key: str | None, script: history.Script
) -> None:
    run.progress.emit(
        events.StepStarted(
            target=run.target_of(key).progress_name,
            position=offset + position,
            total=total,
            revision=script.revision,
            message=script.message or "",
        )
    )


def _finished(
    run: Run, offset: int, total: int, position: int, key: str | None, rev: str, seconds: float
) -> None:
    run.progress.emit(
        events.StepEnded(
            target=run.target_of(key).progress_name,
            position=offset + position,
            total=total,
            revision=rev,
            seconds=seconds,
            outcome="ok",
        )
    )


def _failed(run: Run, culprit: Target, failed: apply.StepFailed, position: int, total: int) -> None:
    run.progress.emit(
        events.StepEnded(
            target=culprit.progress_name,
            position=position,
            total=total,
            revision=failed.revision,
            seconds=failed.seconds,
            outcome="failed",
        )
    )


def post_verify(run: Run) -> None:
    """Every target at the goal, without drift at head, with a ledger row per revision."""
    run.enter("verify")
    setup = run.setup
    findings: list[Finding] = []
    at_head: list[bool] = []
    for target in run.targets:
        with run.connect(target) as connection:
            target.current = now = run.read_current(connection)
            if set(now) != set(run.goal):
                not_at_goal = Finding(
                    rule="not-at-target",
                    severity=Severity.ERROR,
                    message=f"After the upgrade {target.label} is at {target.at}, not at"
                    f" {', '.join(run.goal)}.",
                    help="run `flask db verify` and `flask db history` to see why",
                )
                findings.append(wording.tag(not_at_goal, target))
            head = set(now) == set(setup.graph.heads)
            at_head.append(head)
            if head:  # a comparison found clean before is remembered (caches.user_cache)
                remember = user_cache()
                findings.extend(
                    drift_findings(setup, target.spec, connection, remember_in=remember)
                )
            mine = [step.revision for step in run.applied if step.bind == target.key]
            if setup.settings.ledger and mine:
                recorded = {
                    e.revision
                    for e in ledger.read_entries(connection, setup.version_schema)
                    if e.success and e.direction == "upgrade"
                }
                missing = [rev for rev in mine if rev not in recorded]
                if missing:
                    findings.append(wording.ledger_incomplete(target, missing))
    if findings:
        raise run.stop(ExitCode.CHECKS_FAILED, *findings)
    run.progress.emit(events.Verified(positions=checks.positions(run, at_head)))


def _usage_error(run: Run, error: ConfigError) -> ConfigError:
    """``error`` with the run's report, as :class:`RunConfigError` (when one can be made).

    Its hint suggests the run's commands (``flask db -d DIR``), in the text line as in the
    report's finding: the checks that raise it word it for the app's directory.
    """
    if error.hint is not None:
        error.hint = suggested.text_for(error.hint, _command(run))
    run.findings.append(
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
        return RunConfigError(error, finish(run, ExitCode.USAGE, run.stage).report)
    except AttributeError:  # a run that had not read its setup yet: the plain error
        return error


def finish(run: Run, code: ExitCode, stage: Stage) -> Result:
    """The report of the run as it ends (every exit keeps this shape)."""
    ok = code is ExitCode.OK
    # Stopped before the database was read, or --sql (which never reads it; `from` is the
    # SQL's start): where it stands is unknown (null), not base ([]).
    read = run.started is not None and not run.position_given
    facts: dict[str, Any] = {
        "ok": ok,
        "stage": "done" if ok and stage != "preflight" else stage,
        "from": list(run.started) if run.started is not None else None,
        "to": list(run.goal),
        "current": list(run.current) if read else None,
        "applied": [
            {"revision": step.revision, "seconds": round(step.seconds, 3)} for step in run.applied
        ],
        "plan": [{"revision": script.revision, "message": script.message} for script in run.plan],
        "backup": str(run.backup_path) if run.backup_path is not None else None,
        "backups_removed": [str(path) for path in run.backups_removed],
        # Pending scripts' findings that never block (downgrade(), conventions), one per line
        # in the text's pre-flight: what its count refers to.
        "review": [review_entry(finding) for finding in run.review],
    }
    facts["summary"] = wording.headline(run, code, facts["stage"])
    if run.orphans_settled:
        facts["orphans"] = run.orphans_settled
    if run.options.dry_run:
        facts["dry_run"] = True
        facts["statements"] = [item.to_dict() for item in run.sized]
        if run.options.plan_details and run.plan:
            facts["revisions"] = plan_details.plan_details(run)
    if run.sql is not None:
        facts["sql"] = run.sql
    if (compat := compat_stage.facts(run)) is not None:
        facts["compat"] = compat
    wording.shape_facts(run, facts)
    prefix = _command(run)
    facts["summary"] = suggested.text_for(facts["summary"], prefix)
    notes = [suggested.text_for(note, prefix) for note in run.notes]
    report = Report("safe-upgrade", _suggesting(run, run.findings), facts=facts, notes=notes)
    run.progress.emit(
        events.RunEnded(
            outcome="ok" if ok else "failed",
            exit_code=int(code),
            reached=facts["stage"],
            applied=len(run.applied),
        )
    )
    return Result(report, code)


def review_entry(finding: Finding) -> dict[str, Any]:
    """One of JSON ``review``: lint's keys for a finding that never blocks a deploy."""
    entry = finding.as_lint_dict()
    return {key: entry[key] for key in ("code", "rule", "severity", "path", "line", "message")}


def _command(run: Run) -> str:
    """How the commands this run suggests start (``flask db -d DIR`` for another directory),
    also when the run stopped before reading its setup (a missing directory): from its ``-d``."""
    setup: Setup | None = getattr(run, "setup", None)
    if setup is not None:
        return setup.command
    safe = run.app.extensions.get("safemigrate")
    if safe is None:
        return suggested.DEFAULT_PREFIX
    return suggested.command_prefix(run.options.directory, safe.migrations_directory(run.app))


def _suggesting(run: Run, findings: list[Finding]) -> list[Finding]:
    """``findings`` with the commands they suggest as the user can copy them."""
    prefix = _command(run)
    return [suggested.finding_for(finding, prefix) for finding in findings]
