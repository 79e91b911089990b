"""``flask db verify``: the history, the database against it, drift, the ledger, a roundtrip.

:func:`verify` returns a :class:`~flask_safemigrate.report.Report` whose findings carry the
check names of DESIGN.md; :func:`exit_code` maps it to the command's exit status. Nothing here
prints or exits.

Checks, in the order they run:

1. Static, from the scripts read as text (:mod:`flask_safemigrate.history`, nothing is
   imported, so a history Alembic refuses to load is reported, not crashed on):
   ``multiple-heads``, ``duplicate-revision``, ``missing-parent``, ``revision-cycle``,
   ``unparseable-script`` and ``missing-downgrade`` (a warning).
2. Against the app's database, for the default engine and, with Flask-Migrate's multi-database
   template, every bind: ``database-unreachable``, ``unknown-database-revision``,
   ``not-at-head``, ``schema-drift`` (only at head: a database behind head differs from the
   models by design), and from the ledger when it exists ``edited-after-apply`` and
   ``failed-migration``.
3. With ``roundtrip=True``, on scratch databases (never the app's own): every revision
   from base is upgraded, snapshotted, downgraded (``downgrade-leaves-trace`` when the schema
   is not what it was) and upgraded again; at head the schema is compared with the models
   (``schema-drift``). Any error stops the roundtrip as ``roundtrip-failed``.

Where the scratch databases come from, and how the roundtrip runs the app's own ``env.py``
against them without touching the app: see :mod:`flask_safemigrate.scratch`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from alembic import command as alembic_command
from flask import Flask
from sqlalchemy.engine import URL, Connection, Engine

from flask_safemigrate import (
    app_engine_options,
    database,
    dedicated_schema,
    history,
    ledger,
    revision_ids,
    scratch,
)
from flask_safemigrate.errors import (
    ConfigError,
    DatabaseUnreachable,
    ExitCode,
    PreflightError,
)
from flask_safemigrate.report import Finding, Report, Severity
from flask_safemigrate.schema_diff import Snapshot, drift, take_snapshot
from flask_safemigrate.settings import Settings
from flask_safemigrate.text import display_path, one_line, plural

__all__ = [
    "CHECKS",
    "DRIFT_HINT",
    "SCRATCH_PREFIX",
    "Setup",
    "Target",
    "applied_revisions",
    "describe",
    "display_path",
    "drift_findings",
    "exit_code",
    "graph_finding",
    "ledger_findings",
    "quiet_alembic",
    "setup_of",
    "static_findings",
    "stock_width_findings",
    "unknown_revision",
    "verify",
    "width_findings",
]

#: Every check ``verify`` can report (DESIGN.md "Names that are part of the contract").
CHECKS: Final = (
    "multiple-heads",
    "duplicate-revision",
    "missing-parent",
    "revision-cycle",
    "unparseable-script",
    "missing-downgrade",
    "database-unreachable",
    "unknown-database-revision",
    "not-at-head",
    "schema-drift",
    "edited-after-apply",
    "failed-migration",
    "downgrade-leaves-trace",
    "roundtrip-failed",
    "invalid-revision-id",
)

#: Scratch databases are named ``sm_verify_<12 hex digits>`` (see :mod:`.scratch`).
SCRATCH_PREFIX: Final = scratch.SCRATCH_PREFIX

_UPGRADE_HINT = "run `flask db safe-upgrade` (or `flask db upgrade`) to apply them"
DRIFT_HINT = (
    "generate a migration for the difference (`flask db migrate -m '...'`), review it and"
    " apply it; or change the models back if the database is right"
)
_TRACE_HINT = (
    "make downgrade() undo exactly what upgrade() does: drop what it creates and restore"
    " what it drops or alters"
)


# --------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class Target:
    """One database the migrations manage: the default engine (``bind`` None) or a bind."""

    bind: str | None
    url: URL
    metadata: sa.MetaData

    @property
    def label(self) -> str:
        """How messages name it: the URL with the password masked (and the bind key)."""
        shown = database.mask_url(self.url)
        return shown if self.bind is None else f"{shown} (bind {self.bind!r})"


@dataclass
class Setup:
    """What verify reads from the app once."""

    app: Flask
    settings: Settings
    migrate_state: Any
    directory: Path
    locations: list[Path]
    graph: history.RevisionGraph
    configure_args: Mapping[str, Any]
    version_table: str
    version_schema: str | None
    targets: list[Target]
    multidb: bool

    @property
    def urls(self) -> list[URL]:
        """The app's database URLs: their passwords are masked in every message."""
        return [t.url for t in self.targets]


def _is_multidb(directory: Path) -> bool:
    """Whether ``env.py`` is Flask-Migrate's multi-database template (it migrates every bind)."""
    try:
        text = (directory / "env.py").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "bind_names" in text


def uses_multidb(app: Flask) -> bool:
    """Whether ``app``'s migrations use the multi-database template (False when unknown)."""
    safe = app.extensions.get("safemigrate")
    return safe is not None and _is_multidb(Path(safe.migrations_directory(app)))


def setup_of(app: Flask) -> Setup:
    safe = app.extensions.get("safemigrate")
    state = app.extensions.get("migrate")
    if safe is None or state is None:
        raise ConfigError(
            "SafeMigrate is not registered on this app", hint="call SafeMigrate(app, db)"
        )
    settings: Settings = safe.get_settings(app)
    directory = Path(safe.migrations_directory(app))
    if not directory.is_dir():
        raise ConfigError(
            f"no migrations directory at {directory}",
            hint="run `flask db init`, or pass the directory to SafeMigrate(directory=...)",
        )
    try:
        locations = history.version_locations(directory)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="fix alembic.ini") from None
    graph = history.load_graph(locations)
    dedicated_schema.install(app)  # again: a later Migrate(app, db) replaces configure_args
    state = app.extensions["migrate"]
    configure_args: Mapping[str, Any] = dict(state.configure_args)
    version_table = str(configure_args.get("version_table") or "alembic_version")
    version_schema = configure_args.get("version_table_schema")
    db = state.db
    if settings.schema is not None:
        dedicated_schema.check_dialect(db.engine.url, settings.schema, configure_args)
    multidb = _is_multidb(directory)
    engines: Mapping[str | None, Engine] = db.engines
    binds: list[str | None] = [None]
    if multidb:
        binds += sorted(key for key in engines if key is not None)
    targets = []
    for bind in binds:
        metadatas = getattr(db, "metadatas", None)
        metadata = metadatas[bind] if metadatas is not None else db.metadata
        targets.append(Target(bind, engines[bind].url, metadata))
    return Setup(
        app=app,
        settings=settings,
        migrate_state=state,
        directory=directory,
        locations=locations,
        graph=graph,
        configure_args=configure_args,
        version_table=version_table,
        version_schema=version_schema,
        targets=targets,
        multidb=multidb,
    )


# --------------------------------------------------------------------------- entry points


def verify(
    app: Flask,
    *,
    use_db: bool = True,
    roundtrip: bool = False,
    scratch_url: str | None = None,
) -> Report:
    """Run the checks for ``app`` and return the report (``command`` ``"verify"``).

    ``use_db=False`` skips everything that reads the app's databases. ``roundtrip=True``
    adds the scratch-database roundtrip; ``scratch_url`` names the (empty) database to use
    instead of a temporary one. Raises :class:`ConfigError` (exit 2) for a missing migrations
    directory or unusable options, and :class:`PreflightError` (exit 3) when a database
    answers a read with an error; everything else is a finding.
    """
    with app.app_context(), quiet_alembic(), app_engine_options.applied(app.config):
        setup = setup_of(app)
        findings = static_findings(setup.graph)
        notes = [_history_note(setup.graph)]
        current: set[str] = set()
        facts: dict[str, Any] = {}
        if use_db:
            databases = []
            for target in setup.targets:
                result = _check_database(setup, target)
                findings.extend(result.findings)
                notes.extend(result.notes)
                current.update(result.current)
                databases.append(
                    {
                        "bind": target.bind,
                        "url": database.mask_url(target.url),
                        "current": sorted(result.current),
                    }
                )
            if setup.multidb:
                facts["databases"] = databases
        else:
            findings.extend(stock_width_findings(setup.graph))
            notes.append("Database checks skipped (--no-db).")
        if roundtrip:
            trip = _run_roundtrip(setup, scratch_url)
            findings.extend(trip.findings)
            notes.extend(trip.notes)
            facts["roundtrip"] = trip.facts
    return Report(
        "verify",
        findings,
        facts={"heads": list(setup.graph.heads), "current": sorted(current), **facts},
        notes=notes,
    )


def exit_code(report: Report) -> ExitCode:
    """3 when a database could not be reached, 1 when a check failed, else 0."""
    if any(f.rule == "database-unreachable" for f in report.findings):
        return ExitCode.PREFLIGHT
    return ExitCode.CHECKS_FAILED if report.fails(Severity.ERROR) else ExitCode.OK


# --------------------------------------------------------------------------- helpers


def describe(script: history.Script) -> str:
    return f"{script.revision} ({script.message})" if script.message else script.revision


def _history_note(graph: history.RevisionGraph) -> str:
    heads = ", ".join(graph.heads) or "none"
    return f"History: {plural(len(graph.scripts), 'revision')}, head {heads}."


# --------------------------------------------------------------------------- static checks


def graph_finding(problem: history.GraphProblem, severity: Severity = Severity.ERROR) -> Finding:
    """A graph problem as a finding (``rule`` is the verify check name)."""
    return Finding(
        rule=problem.check,
        severity=severity,
        message=problem.message,
        path=display_path(problem.path) if problem.path is not None else None,
        line=problem.line,
        help=problem.hint,
        extra={"revisions": list(problem.revisions)},
    )


def width_findings(setup: Setup, target: Target, connection: Connection) -> list[Finding]:
    """``invalid-revision-id`` for each id longer than this database's version column.

    Alembic would write the id after the revision's DDL ran: PostgreSQL rolls back, but
    MariaDB keeps the DDL and a half-applied revision. Checked before anything is applied.
    """
    width = database.version_column_width(
        connection, version_table=setup.version_table, schema=setup.version_schema
    )
    if width is None:
        return []
    where = database.mask_url(target.url)
    return [
        replace(
            graph_finding(problem),
            message=f"{problem.message} of database {target.label}",
            extra={"revisions": list(problem.revisions), "database": where, "width": width},
        )
        for problem in history.overlong_ids(setup.graph.scripts.values(), width)
    ]


def stock_width_findings(graph: history.RevisionGraph) -> list[Finding]:
    """Without a database: ids longer than Alembic's stock version column, as warnings."""
    return [
        replace(
            graph_finding(problem, Severity.WARNING),
            message=f"{problem.message} on a stock Alembic version table; the database was"
            " not read (--no-db), so its real width is unknown",
        )
        for problem in history.overlong_ids(
            graph.scripts.values(), revision_ids.STOCK_VERSION_WIDTH
        )
    ]


def static_findings(graph: history.RevisionGraph) -> list[Finding]:
    """The graph's problems, plus ``missing-downgrade`` warnings."""
    findings = [graph_finding(problem) for problem in graph.problems]
    for script in graph.scripts.values():
        if script.has_upgrade and script.upgrade_is_empty:
            continue  # a merge point or an empty revision: nothing to undo
        if not script.has_downgrade:
            what = "has no downgrade(): `flask db downgrade` past it fails"
        elif script.downgrade_is_empty:
            what = (
                "has an empty downgrade(): downgrading past it leaves its changes in place"
                " while the version table says they are gone"
            )
        else:
            continue
        findings.append(
            Finding(
                rule="missing-downgrade",
                severity=Severity.WARNING,
                message=f"Revision {describe(script)} {what}.",
                path=display_path(script.path),
                line=script.line_of("def downgrade"),  # the revision line when there is none
                help="write a downgrade() that reverses upgrade(); if the change cannot be"
                " undone, make downgrade() raise an error that says why",
                extra={"revisions": [script.revision]},
            )
        )
    return findings


# --------------------------------------------------------------------------- database checks


@dataclass
class _DatabaseResult:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    current: tuple[str, ...] = ()


def _check_database(setup: Setup, target: Target) -> _DatabaseResult:
    result = _DatabaseResult()
    try:
        with database.connect(
            target.url,
            timeout=setup.settings.connect_timeout,
            retries=setup.settings.connect_retries,
        ) as connection:
            _check_connected(setup, target, connection, result)
    except DatabaseUnreachable as exc:
        result.findings.append(
            Finding(
                rule="database-unreachable",
                severity=Severity.ERROR,
                message=f"Database {target.label} could not be reached: {exc.message}",
                help=exc.hint,
                extra={"database": database.mask_url(target.url)},
            )
        )
    except sa.exc.SQLAlchemyError as exc:
        raise PreflightError(
            f"reading database {target.label} failed: {one_line(exc, setup.urls)}",
            hint="check the account's privileges on the version table and the schema",
            data={"database": database.mask_url(target.url)},
        ) from None
    return result


def _check_connected(
    setup: Setup, target: Target, connection: Connection, result: _DatabaseResult
) -> None:
    graph = setup.graph
    check_schema_models(setup, target, connection)
    current = database.current_revisions(
        connection, version_table=setup.version_table, schema=setup.version_schema
    )
    result.current = current
    result.findings.extend(width_findings(setup, target, connection))
    entries = ledger.read_entries(connection, setup.version_schema)
    where = {"database": database.mask_url(target.url)}
    at = ", ".join(current) or "base (no revision applied)"
    result.notes.append(f"Database {target.label}: at {at}.")

    unknown = [rev for rev in current if rev not in graph.scripts]
    for revision in unknown:
        result.findings.append(unknown_revision(setup, target, revision, entries))

    at_head = False
    if not unknown:
        try:
            pending = graph.path(current, "heads")
        except (history.RevisionLookupError, history.RevisionCycleError) as exc:
            result.notes.append(f"Pending revisions of {target.label} not computed: {exc}")
        else:
            at_head = not pending
            if pending:
                listed = "; ".join(describe(script) for script in pending)
                result.findings.append(
                    Finding(
                        rule="not-at-head",
                        severity=Severity.ERROR,
                        message=(
                            f"Database {target.label} is at {at}: "
                            f"{plural(len(pending), 'revision')} not applied yet: {listed}."
                        ),
                        help=_UPGRADE_HINT,
                        extra={
                            **where,
                            "pending": [
                                {"revision": s.revision, "message": s.message} for s in pending
                            ],
                        },
                    )
                )
    if at_head:
        result.findings.extend(drift_findings(setup, target, connection))
    else:
        result.notes.append(
            f"Schema drift of {target.label} not checked: the database is not at head."
        )

    if not setup.settings.ledger:
        result.notes.append("Ledger checks skipped (SAFEMIGRATE_LEDGER is off).")
    elif entries:
        result.findings.extend(ledger_findings(setup, target, entries, current))


def check_schema_models(setup: Setup, target: Target, connection: Connection) -> None:
    """With ``SAFEMIGRATE_SCHEMA``, refuse model tables outside it (exit 2, named).

    Such a table is never compared (only the schema is) and would be reported missing, or
    re-created by every autogenerate, forever.
    """
    schema = setup.settings.schema
    if schema is None:
        return
    default = connection.dialect.default_schema_name
    outside = dedicated_schema.tables_outside(target.metadata, schema, default)
    if outside:
        raise dedicated_schema.outside_error(outside, schema, default)


def drift_findings(setup: Setup, target: Target, connection: Connection) -> list[Finding]:
    """``schema-drift``: one finding per difference between the live schema and the models."""
    return [
        Finding(
            rule="schema-drift",
            severity=Severity.ERROR,
            message=f"{line} (database {target.label})",
            help=DRIFT_HINT,
            extra={"database": database.mask_url(target.url), "difference": line},
        )
        for line in drift(connection, target.metadata, setup.configure_args)
    ]


def unknown_revision(
    setup: Setup, target: Target, revision: str, entries: Sequence[ledger.Entry]
) -> Finding:
    versions = ", ".join(display_path(p) for p in setup.locations)
    referrers = [
        script
        for script in setup.graph.scripts.values()
        if revision in script.down_revisions or revision in script.depends_on
    ]
    applied = [e for e in entries if e.revision == revision and e.success]
    known = ""
    if applied:
        last = applied[-1]
        known = (
            f" The ledger says it was applied ({last.direction}) at "
            f"{last.started_at.isoformat(timespec='seconds')} by {last.applied_by or 'unknown'}."
        )
    if referrers:
        names = ", ".join(f"{s.revision} ({display_path(s.path)})" for s in referrers)
        message = (
            f"Database {target.label} is at revision {revision}, which no script in {versions}"
            f" has, although {names} names it as its parent: its script went missing."
            f"{known}"
        )
        hint = (
            f"restore the script of {revision} (`git log --all --diff-filter=D --name-only --"
            f" '*{revision}*'` finds the commit that deleted it); never delete a migration that"
            " was applied"
        )
        cause = "script-missing"
    else:
        message = (
            f"Database {target.label} is at revision {revision}, which no script in {versions}"
            " has: the database is ahead of this code (it was migrated by a newer release or"
            f" another branch), or the script of its latest revision was deleted.{known}"
        )
        hint = (
            f"deploy or check out the code that has revision {revision} (`git log --all --"
            f" '*{revision}*'`); to run this older code, first downgrade the database with the"
            " code that knows the revision. Do not `flask db stamp` over it"
        )
        cause = "database-ahead"
    return Finding(
        rule="unknown-database-revision",
        severity=Severity.ERROR,
        message=message,
        help=hint,
        extra={"database": database.mask_url(target.url), "revision": revision, "cause": cause},
    )


def ledger_findings(
    setup: Setup,
    target: Target,
    entries: Sequence[ledger.Entry],
    current: Sequence[str],
) -> list[Finding]:
    """``edited-after-apply`` and ``failed-migration`` from the ledger's rows.

    Per revision, the latest successful row decides whether it is applied: an ``upgrade`` (or
    ``accept``) row whose checksum differs from the file means the script was edited after
    it ran; after a successful ``downgrade`` the revision is not applied and may be edited.
    A revision the version table says is not applied (downgraded without the ledger) may be
    edited too. A revision whose latest row is a failure has failed and not been run
    successfully since. Error texts are shown on one line with the URL's password masked.
    """
    by_revision: dict[str, list[ledger.Entry]] = {}
    for entry in entries:
        by_revision.setdefault(entry.revision, []).append(entry)
    applied = applied_revisions(setup.graph, current)
    findings: list[Finding] = []
    where = {"database": database.mask_url(target.url)}
    for revision, rows in by_revision.items():
        script = setup.graph.scripts.get(revision)
        last = rows[-1]
        if not last.success:
            error = (last.error or "").strip().splitlines()
            reason = database.mask_text(error[0], target.url) if error else "no error recorded"
            path = display_path(script.path) if script is not None else None
            name = describe(script) if script is not None else revision
            state = "is" if revision in applied else "is not"
            findings.append(
                Finding(
                    rule="failed-migration",
                    severity=Severity.ERROR,
                    message=(
                        f"Revision {name} failed during {last.direction} at "
                        f"{last.started_at.isoformat(timespec='seconds')} by "
                        f"{last.applied_by or 'unknown'} on {target.label}: "
                        f"{reason}; no later run succeeded. The"
                        f" version table says the revision {state} applied."
                    ),
                    path=path,
                    help=(
                        "find out what the failed run left behind (MariaDB/MySQL cannot roll"
                        " back DDL, so part of it may be applied), repair that, fix the script"
                        " or the data, then run `flask db safe-upgrade --resolved"
                        f" {revision}` to record the repair and go on"
                    ),
                    extra={
                        **where,
                        "revision": revision,
                        "direction": last.direction,
                        "error": reason,
                    },
                )
            )
        successes = [row for row in rows if row.success]
        if not successes or script is None or revision not in applied:
            continue
        latest = successes[-1]
        if latest.direction not in ("upgrade", "accept") or latest.checksum is None:
            continue
        try:
            if ledger.matches(script.path, latest.checksum):
                continue
            now = ledger.checksum(script.path)
        except OSError:
            continue
        shown = display_path(script.path)
        findings.append(
            Finding(
                rule="edited-after-apply",
                severity=Severity.ERROR,
                message=(
                    f"Migration script {shown} (revision {revision}) was changed after it was"
                    f" applied to {target.label} at "
                    f"{latest.started_at.isoformat(timespec='seconds')} by "
                    f"{latest.applied_by or 'unknown'}: its sha256 is now {now[:12]}..., the"
                    f" ledger recorded {latest.checksum[:12]}..."
                ),
                path=shown,
                line=script.line,
                help=(
                    "never edit an applied migration: revert the edit and put the change in a"
                    " new revision (`flask db revision` / `flask db migrate`). If the edit was"
                    " only cosmetic (comments, formatting), re-record its checksum with"
                    f" flask_safemigrate.ledger.accept(connection, revision={revision!r},"
                    f" path={shown!r})"
                ),
                extra={
                    **where,
                    "revision": revision,
                    "recorded_checksum": latest.checksum,
                    "current_checksum": now,
                },
            )
        )
    return findings


def applied_revisions(graph: history.RevisionGraph, current: Sequence[str]) -> set[str]:
    """The current revisions and their ancestors (what the version table says is applied).

    A current revision no script has hides its ancestry: then every known revision counts.
    """
    if any(revision not in graph.scripts for revision in current):
        return set(graph.scripts)
    applied: set[str] = set()
    for revision in current:
        if revision in graph.scripts:
            applied.add(revision)
            try:
                applied |= graph.ancestors(revision)
            except (history.RevisionLookupError, history.RevisionCycleError):
                continue
    return applied


# --------------------------------------------------------------------------- roundtrip


@dataclass
class _Trip:
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


class _StepFailed(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _snapshot(engines: Mapping[str | None, Engine], setup: Setup) -> dict[str | None, Snapshot]:
    schemas: list[str | None] = [None]
    if setup.version_schema:
        schemas.append(setup.version_schema)
    snaps = {}
    for bind, engine in engines.items():
        with engine.connect() as conn:
            snaps[bind] = take_snapshot(conn, schemas=schemas, exclude=[setup.version_table])
    return snaps


def _versions(engines: Mapping[str | None, Engine], setup: Setup) -> set[str]:
    with engines[None].connect() as conn:
        return set(
            database.current_revisions(
                conn, version_table=setup.version_table, schema=setup.version_schema
            )
        )


@contextmanager
def quiet_alembic() -> Iterator[None]:
    """Hide INFO logging while verify runs (restored afterwards; warnings still show).

    The stock ``env.py`` configures logging from ``alembic.ini`` on every command, which
    would print three "Context impl ..." lines per roundtrip step, and Alembic's comparison
    logs a line per table on PostgreSQL. ``logging.disable`` is process-wide: other threads
    of the process lose their INFO lines for as long as the call lasts.
    """
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.INFO))
    try:
        yield
    finally:
        logging.disable(previous)


def _run_roundtrip(setup: Setup, scratch_url: str | None) -> _Trip:
    trip = _Trip()
    if setup.graph.problems:
        trip.notes.append(
            "Roundtrip skipped: the history has problems (above) that Alembic cannot run."
        )
        trip.facts = {"ran": False, "revisions": 0}
        return trip
    order = setup.graph.path((), "heads")
    cleanup = scratch.Cleanup()
    app_urls = {target.bind: target.url for target in setup.targets}
    try:
        with scratch.scratch_databases(app_urls, setup.settings, scratch_url, cleanup) as urls:
            shown = ", ".join(database.mask_url(url) for url in urls.values())
            trip.facts = {"ran": True, "revisions": len(order), "completed": 0, "scratch": shown}
            hidden = [*setup.urls, *urls.values()]
            engines = {bind: scratch.scratch_engine(url) for bind, url in urls.items()}
            try:
                with scratch.scratch_app_context(setup.app, engines, urls):
                    _walk(setup, order, engines, hidden, trip)
            finally:
                if scratch_url is not None and setup.settings.schema is not None:
                    _drop_scratch_schema(engines[None], setup.settings.schema, hidden, cleanup)
                for engine in engines.values():
                    engine.dispose()
    except DatabaseUnreachable as exc:
        trip.findings.append(
            Finding(
                rule="database-unreachable",
                severity=Severity.ERROR,
                message=f"Roundtrip not run: {exc.message}",
                help=exc.hint,
                extra=exc.data,
            )
        )
        trip.facts = {"ran": False, "revisions": 0}
        return trip
    for error in cleanup.errors:
        trip.findings.append(
            Finding(rule="roundtrip-failed", severity=Severity.ERROR, message=error)
        )
    done, total = trip.facts["completed"], len(order)
    count = plural(total, "revision") if done == total else f"{done} of {plural(total, 'revision')}"
    where = "temporary" if scratch_url is None else "given"
    trip.notes.append(
        f"Roundtrip: {count} upgraded, downgraded and upgraded again on the {where} scratch"
        f" database {shown}" + (" (dropped)." if scratch_url is None else " (emptied).")
    )
    return trip


def _drop_scratch_schema(
    engine: Engine, schema: str, hidden: Sequence[URL], cleanup: scratch.Cleanup
) -> None:
    """Empty a ``--scratch-url`` database of the dedicated schema the roundtrip filled."""
    try:
        with engine.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote_schema(schema)
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")
    except sa.exc.SQLAlchemyError as exc:
        cleanup.errors.append(
            f"schema {schema} of the scratch database could not be dropped after the"
            f" roundtrip: {one_line(exc, hidden)}; drop it by hand before the next run"
        )


def _walk(
    setup: Setup,
    order: Sequence[history.Script],
    engines: Mapping[str | None, Engine],
    hidden: Sequence[URL],
    trip: _Trip,
) -> None:
    config = setup.migrate_state.migrate.get_config(str(setup.directory))

    def step(direction: str, script: history.Script, target: str) -> None:
        try:
            if direction == "upgrade":
                alembic_command.upgrade(config, target)
            else:
                alembic_command.downgrade(config, target)
        except Exception as exc:  # a script can raise anything; each becomes a finding
            raise _StepFailed(
                Finding(
                    rule="roundtrip-failed",
                    severity=Severity.ERROR,
                    message=(
                        f"Roundtrip stopped: {direction} of revision {describe(script)} failed"
                        f" on the scratch database: {one_line(exc, hidden)}"
                    ),
                    path=display_path(script.path),
                    line=script.line,
                    help=f"fix {direction}() of {script.path.name}; run `flask db verify"
                    " --roundtrip` again to check",
                    extra={"revision": script.revision, "direction": direction},
                )
            ) from exc

    try:
        if setup.settings.schema is not None:
            with engines[None].begin() as conn:
                dedicated_schema.ensure_schema(conn, setup.settings.schema)
        before = _snapshot(engines, setup)
        applied = _versions(engines, setup)
        for script in order:
            step("upgrade", script, script.revision)
            after_up = _versions(engines, setup)
            down_target = script.down_revisions[0] if script.is_merge else f"{script.revision}@-1"
            step("downgrade", script, down_target)
            reverted = _versions(engines, setup)
            if reverted != applied:
                raise _StepFailed(
                    Finding(
                        rule="roundtrip-failed",
                        severity=Severity.ERROR,
                        message=(
                            f"Roundtrip stopped: downgrading revision {describe(script)} left"
                            f" the version table at {', '.join(sorted(reverted)) or 'base'},"
                            f" expected {', '.join(sorted(applied)) or 'base'}"
                        ),
                        path=display_path(script.path),
                        line=script.line,
                        extra={"revision": script.revision, "direction": "downgrade"},
                    )
                )
            after_down = _snapshot(engines, setup)
            trip.findings.extend(_traces(script, before, after_down))
            step("upgrade", script, script.revision)
            applied = after_up
            before = _snapshot(engines, setup)
            trip.facts["completed"] += 1
        for target in setup.targets:
            with engines[target.bind].connect() as conn:
                lines = drift(conn, target.metadata, setup.configure_args)
            label = "scratch database" if target.bind is None else f"scratch bind {target.bind!r}"
            trip.findings.extend(
                Finding(
                    rule="schema-drift",
                    severity=Severity.ERROR,
                    message=f"{line} ({label} after upgrading from base to head)",
                    help="the migrations do not build the schema the models describe: "
                    + DRIFT_HINT,
                    extra={"database": "scratch", "difference": line},
                )
                for line in lines
            )
    except _StepFailed as failed:
        trip.findings.append(failed.finding)
    except sa.exc.SQLAlchemyError as exc:
        trip.findings.append(
            Finding(
                rule="roundtrip-failed",
                severity=Severity.ERROR,
                message="Roundtrip stopped: reading the scratch database failed:"
                f" {one_line(exc, hidden)}",
            )
        )


def _traces(
    script: history.Script,
    before: Mapping[str | None, Snapshot],
    after: Mapping[str | None, Snapshot],
) -> list[Finding]:
    findings = []
    for bind, snapshot in after.items():
        added, removed, changed = snapshot.difference(before[bind])
        if not (added or removed or changed):
            continue
        parts = []
        if added:
            parts.append(f"still has {', '.join(added)}")
        if removed:
            parts.append(f"lost {', '.join(removed)}")
        if changed:
            parts.append(f"changed {', '.join(changed)}")
        label = "" if bind is None else f" (bind {bind!r})"
        findings.append(
            Finding(
                rule="downgrade-leaves-trace",
                severity=Severity.ERROR,
                message=(
                    f"Downgrading revision {describe(script)} does not restore the schema"
                    f" before it{label}: the database {'; '.join(parts)}."
                ),
                path=display_path(script.path),
                line=script.line,
                help=_TRACE_HINT,
                extra={
                    "revision": script.revision,
                    "leftover": added,
                    "missing": removed,
                    "changed": changed,
                },
            )
        )
    return findings
