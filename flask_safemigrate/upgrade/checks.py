"""Pre-flight checks of a run, for every target: graph, position, ledger, plan, lint.

They read only. Each raises :class:`.state.Stop` (exit 3) with its findings, or a
:class:`ConfigError` (exit 2) for what the command line asked wrongly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace

import sqlalchemy as sa

from flask_safemigrate import alembic_order as order
from flask_safemigrate import database, history, ledger, suggested
from flask_safemigrate.caches import user_cache
from flask_safemigrate.checks import (
    check_schema_models,
    invalid_index_findings,
    ledger_findings,
    overlapping_revisions,
    static_findings,
    unknown_revision,
    width_findings,
)
from flask_safemigrate.errors import ChecksFailed, ConfigError, DatabaseUnreachable, ExitCode
from flask_safemigrate.releases import TOOL_TABLES
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import one_line
from flask_safemigrate.upgrade import compat_stage, events, fresh_tables, live_check, wording
from flask_safemigrate.upgrade.state import Run
from flask_safemigrate.upgrade.targets import Target

__all__ = [
    "check_graph",
    "check_invalid_indexes",
    "check_ledger",
    "check_position",
    "check_schema_ahead",
    "compute_plan",
    "lint",
    "positions",
    "read_target",
    "read_under_lock",
    "resolve_resolved",
    "settle_ledger",
    "skip_lint_hint",
]


def check_graph(run: Run) -> None:
    """The revision graph is sound (or merged with --auto-merge); resolves the goal."""
    graph = run.setup.graph
    errors = [f for f in static_findings(graph) if f.severity is Severity.ERROR]
    if errors and run.options.auto_merge and {f.rule for f in errors} == {"multiple-heads"}:
        graph = _auto_merge(run)
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
        raise run.stop(ExitCode.PREFLIGHT, *errors)
    start, run.destination = order.split_range(run.options.revision)
    if start is not None and not run.options.sql:
        raise ConfigError(
            f"a START:END range ({run.options.revision.strip()!r}) is only for --sql, as"
            " with `flask db upgrade`: an upgrade starts where the database stands",
            hint=f"run `{run.setup.command} safe-upgrade {run.destination}`, or add --sql to"
            " print the range's SQL",
        )
    if order.is_relative(run.destination):
        return  # counts from where the database stands: resolved by compute_plan
    try:
        run.goal = graph.resolve(run.destination)
    except history.RevisionLookupError as exc:
        raise ConfigError(
            f"cannot upgrade to {run.options.revision!r}: {exc}",
            hint="name a revision id, a unique prefix, `head`, `heads`, `branch@head` or"
            " a step count (`+1`) (`flask db history` lists them)",
        ) from None


def _auto_merge(run: Run) -> history.RevisionGraph:
    from flask_safemigrate import merge

    try:
        result = merge.merge_heads(run.app, directory=run.setup.directory, x_args=run.setup.x_args)
    except ChecksFailed:
        plan = merge.plan_merge(run.app, run.setup.directory)
        findings = [merge.conflict_finding(c, forced=False) for c in plan.conflicts]
        raise run.stop(ExitCode.PREFLIGHT, *findings) from None
    run.notes.append(f"Merged heads {', '.join(result.heads)} into {result.merge_revision}.")
    run.progress.emit(events.Merged(revision=result.merge_revision))
    run.read_setup()
    return run.setup.graph


def read_target(run: Run, target: Target) -> tuple[list[ledger.Entry], list[Finding]]:
    """The target's revision (into ``target.current``), its ledger, and ids too long for
    its version column, read on the run's connection of the target (a new one after a failed
    attempt: :func:`database.reusing`).

    Through :func:`database.retry_transient`: on a first run another replica may be creating
    the version table or the ledger right now (MariaDB error 1412/1684).
    """
    setup = run.setup

    def read() -> tuple[tuple[str, ...], list[ledger.Entry], list[Finding]]:
        with run.connect(target) as connection:
            check_schema_models(setup, target.spec, connection)
            current = run.read_current(connection)
            entries = ledger.read_entries(connection, setup.version_schema)
            too_long = width_findings(setup, target.spec, connection)
        return current, entries, too_long

    try:
        target.current, entries, too_long = database.retry_transient(read)
    except DatabaseUnreachable as exc:
        finding = wording.unreachable(target, exc, run.stage)
        if finding is None:
            raise
        raise run.stop(ExitCode.PREFLIGHT, finding) from None
    except sa.exc.SQLAlchemyError as exc:
        reason = one_line(exc, setup.urls)
        raise run.stop(
            ExitCode.PREFLIGHT,
            wording.tag(
                Finding(
                    rule=f"{run.stage}-failed",
                    severity=Severity.ERROR,
                    message=f"reading {target.label} failed in stage {run.stage}: {reason}",
                    help=wording.database_error_help(exc, reason),
                ),
                target,
                database=True,
            ),
        ) from None
    return entries, too_long


def check_position(run: Run, target: Target, entries: Sequence[ledger.Entry]) -> None:
    """The target is at revisions the scripts know, one row per branch."""
    graph = run.setup.graph
    unknown = [rev for rev in target.current if rev not in graph.scripts]
    if unknown:
        raise run.stop(
            ExitCode.PREFLIGHT,
            *(unknown_revision(run.setup, target.spec, rev, entries) for rev in unknown),
        )
    if len(target.current) > 1:
        _check_no_overlap(run, target)


def _check_no_overlap(run: Run, target: Target) -> None:
    """A version table holding a revision and one of its ancestors is corrupt.

    Alembic keeps one row per branch; upgrading from both rows would apply the same
    revisions twice, or (as Alembic does) stop halfway with "overlaps".
    """
    graph = run.setup.graph
    current = target.current
    behind = sorted(
        rev
        for rev in current
        if any(rev in graph.ancestors(other) for other in current if other != rev)
    )
    if not behind:
        return
    finding = overlapping_revisions(target.label, run.setup.version_table, current, behind)
    raise run.stop(ExitCode.PREFLIGHT, wording.tag(finding, target))


def check_ledger(
    run: Run, target: Target, entries: Sequence[ledger.Entry], *, warn: bool
) -> tuple[list[Finding], set[str]]:
    """The target's failed migrations that block, and those still unresolved.

    ``warn`` is the pre-flight look (other ledger findings become warnings). In a fleet every
    replica runs the same ``--resolved REV``: the first to get the lock records the repair
    and applies, the others find it resolved under the lock (or at pre-flight) and simply go
    on. A failure newer than the one seen at pre-flight (another replica resolved it,
    retried and failed again) is not this run's to resolve: it blocks.
    """
    target.failed_once = {entry.revision for entry in entries if not entry.success}
    if not run.setup.settings.ledger or not entries:
        target.resolving = {}
        return [], set()
    found = [
        wording.tag(finding, target)
        for finding in ledger_findings(run.setup, target.spec, entries, target.current)
    ]
    unresolved = {str(f.extra.get("revision")): f for f in found if f.rule == "failed-migration"}
    latest = {entry.revision: entry for entry in entries}  # each revision's last row
    if warn:
        target.resolving = {
            rev: latest[rev].id for rev in run.options.resolved if rev in unresolved
        }
        run.findings.extend(
            replace(f, severity=Severity.WARNING) for f in found if f.rule != "failed-migration"
        )
    else:  # under the lock: what another replica resolved meanwhile is not ours to record
        target.resolving = {rev: row for rev, row in target.resolving.items() if rev in unresolved}
    _note_already_resolved(run, entries, unresolved)
    blocking = [
        finding
        for rev, finding in unresolved.items()
        if rev not in latest or target.resolving.get(rev) != latest[rev].id
    ]
    return blocking, set(unresolved)


def resolve_resolved(run: Run) -> None:
    """``--resolved`` takes a revision prefix, as ``flask db ledger accept`` does.

    A unique prefix of a script's id becomes that id (the ledger stores full ids); an
    ambiguous one is refused with its candidates (exit 2). What matches no script stays as
    typed: a failure of a revision whose script is gone still has its full id in the ledger.
    """
    graph = run.setup.graph
    full: list[str] = []
    for ref in run.options.resolved:
        if ref in graph.scripts:
            full.append(ref)
            continue
        matching = sorted(r for r in graph.scripts if len(ref) >= 4 and r.startswith(ref))
        if len(matching) > 1:
            raise ConfigError(
                f"--resolved {ref}: the prefix is ambiguous, it matches {', '.join(matching)}",
                hint="give more characters of the revision id (`flask db ledger show` lists"
                " the failures)",
                data={"revision": ref, "candidates": matching},
            )
        full.append(matching[0] if matching else ref)
    if tuple(full) != run.options.resolved:
        run.options = replace(run.options, resolved=tuple(dict.fromkeys(full)))


def settle_ledger(run: Run, blocking: Sequence[Finding], unresolved: set[str]) -> None:
    """Every ``--resolved`` names a failure some target recorded; blocking failures stop."""
    if not run.setup.settings.ledger:
        return
    failed_once = {rev for target in run.targets for rev in target.failed_once}
    unknown = set(run.options.resolved) - unresolved - failed_once
    typos = sorted(rev for rev in unknown if rev not in run.setup.graph.scripts)
    if typos:  # neither a script nor a recorded failure: most likely a mistyped id
        raise ConfigError(
            wording.no_such_revision(run, typos),
            hint="check the id: `flask db ledger show` lists the failures to resolve,"
            " `flask db history` the revisions",
        )
    if unknown:
        raise ConfigError(
            wording.unknown_resolved(run, sorted(unknown)),
            hint="`flask db verify` lists failed migrations",
        )
    if blocking:
        raise run.stop(ExitCode.PREFLIGHT, *blocking)


def _note_already_resolved(
    run: Run, entries: Sequence[ledger.Entry], unresolved: Mapping[str, Finding]
) -> None:
    """Say so once when another run (a replica) resolved a ``--resolved`` failure."""
    failed_once = {entry.revision for entry in entries if not entry.success}
    for rev in run.options.resolved:
        if rev in unresolved or rev not in failed_once:
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
        if note not in run.notes:
            run.notes.append(note)


def check_schema_ahead(run: Run) -> None:
    """No pending revision creates a table or column the target already has (a database
    built by ``create_all()`` or by hand, or stamped too early): stop before it fails.

    Not judged with the multi-database template (each ``upgrade_<bind>()`` runs on another
    database) nor with a dedicated schema (the tables are not in the default one).
    """
    from flask_safemigrate.upgrade import adoption

    setup = run.setup
    if setup.multidb or setup.settings.schema is not None:
        return
    for target in run.targets:
        if not target.plan:
            continue
        with run.connect(target) as connection:
            clash = adoption.schema_ahead(
                connection,
                target.plan,
                target.dialect,
                ignore={setup.version_table, *TOOL_TABLES},
                failed=target.failed_once,
            )
        if clash is not None:
            found = adoption.finding(
                clash,
                target.label,
                target.at,
                recorded=bool(target.current),
                ddl_kept=not target.transactional,
            )
            raise run.stop(ExitCode.PREFLIGHT, wording.tag(found, target))


def compute_plan(run: Run) -> None:
    """Each target's path to the goal in the order Alembic applies it (:mod:`.order`), and
    their union as ``run.plan``.

    Targets normally move together; one that is behind gets the longer path (Alembic
    upgrades each from its own version table). A relative destination (``+1``) is resolved
    here, once, to the revision it reaches: a retry or a re-read under the lock then goes
    to that revision, not one further.
    """
    graph = run.setup.graph
    if order.is_relative(run.destination):
        _resolve_relative(run)
    wanted: set[str] = set(run.goal)
    for revision in run.goal:
        wanted |= graph.ancestors(revision)
    for target in run.targets:
        ahead = [rev for rev in target.current if rev not in wanted]
        if ahead:
            raise ConfigError(
                wording.ahead(target, ahead, run.options.revision),
                hint="to go back, use `flask db downgrade REVISION`",
            )
        target.plan = order.in_upgrade_order(
            run.alembic_config(),
            run.destination,
            target.current,
            graph.path(target.current, run.goal),
            graph.scripts,
        )
    seen: set[str] = set()
    run.plan = []
    for target in sorted(run.targets, key=lambda t: -len(t.plan)):
        for script in target.plan:
            if script.revision not in seen:
                seen.add(script.revision)
                run.plan.append(script)


def _resolve_relative(run: Run) -> None:
    """``+N`` (``REV+N``, ``branch@+N``) as Alembic walks it from each target's position."""
    graph = run.setup.graph
    reached: dict[str, None] = {}
    for target in run.targets:
        try:
            walk = order.upgrade_order(run.alembic_config(), run.destination, target.current)
        except order.ReadFailed as failed:
            raise order.unreadable(run.destination, failed) from None
        unknown = [rev for rev in walk if rev not in graph.scripts]
        if not walk or unknown:
            raise ConfigError(
                f"cannot upgrade to {run.destination!r} from {target.at}: Alembic's walk"
                f" {'applies nothing' if not walk else 'names ' + ', '.join(unknown)}",
                hint="name the revision to upgrade to (`flask db history` lists them)",
            )
        reached[walk[-1]] = None
    if len(reached) > 1:
        raise order.relative_destination_error(run.destination, list(reached))
    run.destination = next(iter(reached))
    run.goal = (run.destination,)


#: Lint codes that never stop a deploy: conventions and style (SM4xx), the unused
#: suppression note (SM900), and two rules about the script as code to maintain, not about
#: what running it does: missing-downgrade (SM301; an upgrade never runs it) and
#: app-model-import (SM311; the import works with the code being deployed, or the upgrade
#: fails at that revision, guarded or not). They are for review: a deploy lists them one
#: line each, ``flask db lint`` reports them in full.
NEVER_BLOCK = ("SM4", "SM9", "SM301", "SM311")


def lint(run: Run) -> list[Finding]:
    """Lint what the upgrade will run, where it will run it; the errors that stop the run
    (the caller stops it, with the release-compatibility breaks found next, so a deploy
    hears every blocker at once, and words how to go on past all of them:
    :func:`skip_lint_hint`). The counts, errors included, are one progress line.

    Only the ``upgrade()`` code of each target's pending scripts is judged, on the target's
    live dialect (a configured lint dialect does not override the database the deploy is
    on), in the branches that dialect reaches. Findings of these scripts about ``downgrade()``
    and for review (conventions) never block: they are listed one line each
    (``run.review``), since a count the user cannot see is a question they cannot answer,
    and ``flask db lint`` would show every applied revision's findings too.
    """
    kept: list[Finding] = []
    review: list[Finding] = []
    by_dialect: dict[str | None, set[str]] = {}
    for target in run.targets:
        if target.plan:
            by_dialect.setdefault(target.dialect, set()).update(s.revision for s in target.plan)
    for dialect, revisions in by_dialect.items():
        found = _lint_on(run, dialect, revisions)
        if not run.multi and run.setup.settings.schema is None:
            # Its tables are all here. With --sql the database is not read: SQL from base is
            # for an empty database (it creates the version table); from START, not judged.
            plan = [script for script in run.plan if script.revision in revisions]
            if not run.position_given:
                found = fresh_tables.judge(found, plan, dialect, lambda: _tables(run))
            elif not run.started:
                found = fresh_tables.judge(
                    found, plan, dialect, set, empty=fresh_tables.SQL_FROM_BASE
                )
        for finding in found:
            if finding.extra.get("direction") == "downgrade" or (finding.code or "").startswith(
                NEVER_BLOCK
            ):
                if finding not in review:
                    review.append(finding)
            elif finding not in kept:
                kept.append(finding)
    kept = live_check.judge(run, kept)  # locks judged by the live tables' sizes
    blocking = [f for f in kept if f.severity is Severity.ERROR]
    others = [f for f in kept if f.severity is not Severity.ERROR]
    run.findings.extend(others)
    # Worded for the app's directory; listed now, before the run's report rewrites its own.
    review = [suggested.finding_for(finding, run.setup.command) for finding in review]
    run.review = review
    run.progress.emit(
        events.Linted(
            warnings=sum(1 for f in others if f.severity is Severity.WARNING),
            infos=sum(1 for f in others if f.severity is Severity.INFO),
            errors=len(blocking),
            scripts=len(run.plan),
            left=len(review),
            review=tuple(review),
        )
    )
    return blocking


def skip_lint_hint(run: Run, blocking: Sequence[Finding], *, breaks: bool) -> list[Finding]:
    """Lint's blocking findings, each help ending with how to go on anyway: ``--skip-lint``,
    and ``--allow-breaking`` too when the same run's release-compatibility check blocks
    (``breaks``): a suggestion that named only one stopped again on the other."""
    anyway = "write its SQL" if run.options.sql else "apply it"
    if breaks:
        command = compat_stage.again_allowing(run.options, skip_lint=True)
        tail = f"or {anyway} anyway, past the release-compatibility breaks below too: `{command}`"
    else:
        tail = f"or pass --skip-lint to {anyway} anyway"
    return [
        finding
        if finding.rule in _CERTAIN_FAILURES
        else replace(finding, help=(f"{finding.help}; " if finding.help else "") + tail)
        for finding in blocking
    ]


#: Lint rules whose finding is a statement that fails whenever it runs (a misspelt operation):
#: "pass --skip-lint to apply it anyway" would only apply the revisions before it and stop
#: on it, half deployed, so their help gives no way past them.
_CERTAIN_FAILURES = frozenset({"unknown-operation"})


def _tables(run: Run) -> set[str]:
    """The app's tables in the run's database now, in lower case (not the version table nor
    the ledger)."""
    with run.connect(run.targets[0]) as connection:
        names = {name.lower() for name in sa.inspect(connection).get_table_names()}
    return names - {run.setup.version_table.lower(), *TOOL_TABLES}


def _lint_on(run: Run, dialect: str | None, revisions: set[str]) -> list[Finding]:
    """The lint findings of ``revisions`` on ``dialect``, less what the baseline records."""
    from flask_safemigrate.lint import options
    from flask_safemigrate.lint.command import lint_command
    from flask_safemigrate.lint.mapped import mapped_columns

    config = options.resolve(
        {}, settings=run.setup.settings, search_from=run.setup.directory, app_dialect=dialect
    )
    # The app's models, as `flask db lint` and verify give them: a drop of a column they
    # still map is worded the same (it breaks every server) wherever it is reported.
    config = replace(config, mapped=mapped_columns(run.setup.migrate_state.db))
    if dialect is not None:
        config = replace(config, dialect=dialect)
    # With the team's baseline applied, as `flask db lint` applies it: what was recorded when
    # lint was adopted is accepted, so a fresh database that runs the whole history is not
    # stopped by it. The exit code is lint's; what blocks an upgrade is decided by lint().
    # Unchanged scripts' results come from the user's cache (lint.cache, caches). A table an
    # earlier revision of the plan creates is judged by fresh_tables and the live gate (at
    # info, with the revision that creates it), not taken away as `flask db lint --pending` does.
    report = lint_command(
        [run.setup.directory],
        config,
        only_revisions=revisions,
        cache_dir=user_cache(),
        deployed_together=False,
    ).report
    return list(report.findings)


def check_invalid_indexes(run: Run) -> None:
    """PostgreSQL: an index a failed ``CREATE INDEX CONCURRENTLY`` left INVALID; an error
    (stop, exit 3) when a pending script names it, since its create would be skipped."""
    for target in run.targets:
        if target.dialect != "postgresql" or run.options.sql:
            continue
        with run.connect(target) as connection:
            found = invalid_index_findings(connection, target.label, _sources(target.plan))
        blocking = [f for f in found if f.severity is Severity.ERROR]
        run.findings.extend(f for f in found if f.severity is not Severity.ERROR)
        if blocking:
            raise run.stop(ExitCode.PREFLIGHT, *blocking)


def _sources(plan: list[history.Script]) -> Iterator[str]:
    """The text of each pending script that can be read (when an invalid index asks)."""
    for script in plan:
        with contextlib.suppress(OSError):
            yield script.path.read_text(encoding="utf-8", errors="replace")


def positions(run: Run, at_head: list[bool] | None = None) -> tuple[events.Position, ...]:
    """Where each target stands, for the events that say so (``AnotherApplied``,
    ``AnotherMoved``, ``Verified``)."""
    heads = at_head or [False] * len(run.targets)
    return tuple(
        events.Position(target.progress_name, target.current, head)
        for target, head in zip(run.targets, heads, strict=True)
    )


def read_under_lock(run: Run) -> bool:
    """Read every target again; replan if one moved. True: another migrator did the plan.
    When it did only part of it, that is said (``AnotherMoved``) before the rest is applied."""
    before = [target.current for target in run.targets]
    blocking: list[Finding] = []
    unresolved: set[str] = set()
    for target in run.targets:
        entries, _ = read_target(run, target)
        check_position(run, target, entries)
        # A migrator that failed while this one waited left a failure row: honour it.
        found, open_failures = check_ledger(run, target, entries, warn=False)
        blocking += found
        unresolved |= open_failures
    settle_ledger(run, blocking, unresolved)
    if [target.current for target in run.targets] == before:
        return False
    compute_plan(run)
    if run.plan:
        run.progress.emit(events.AnotherMoved(positions=positions(run), left=len(run.plan)))
    return not run.plan
