"""Checks against one of the app's databases: reachable, at a known revision, at head, no drift."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate import database, dedicated_schema, history, ledger
from flask_safemigrate.errors import DatabaseUnreachable, PreflightError
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.schema_diff import drift
from flask_safemigrate.text import display_path, one_line, plural
from flask_safemigrate.verify.ledger_checks import ledger_findings
from flask_safemigrate.verify.setup import Setup, Target
from flask_safemigrate.verify.static_checks import describe, width_findings

__all__ = [
    "DRIFT_HINT",
    "DatabaseResult",
    "check_database",
    "check_schema_models",
    "drift_findings",
    "unknown_revision",
]


_UPGRADE_HINT = "run `flask db safe-upgrade` (or `flask db upgrade`) to apply them"
DRIFT_HINT = (
    "generate a migration for the difference (`flask db migrate -m '...'`), review it and"
    " apply it; or change the models back if the database is right"
)


@dataclass
class DatabaseResult:
    """What the checks of one database found, noted and read (its current revisions)."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    current: tuple[str, ...] = ()


def check_database(setup: Setup, target: Target) -> DatabaseResult:
    result = DatabaseResult()
    try:
        with database.connect(
            target.url,
            timeout=setup.settings.connect_timeout,
            retries=setup.settings.connect_retries,
        ) as connection:
            _check_connected(setup, target, connection, result)
    except DatabaseUnreachable as exc:
        # The label names the database already: not "X could not be reached: cannot connect to X".
        reason = exc.message.removeprefix(f"cannot connect to {database.mask_url(target.url)}: ")
        result.findings.append(
            Finding(
                rule="database-unreachable",
                severity=Severity.ERROR,
                message=f"Database {target.label} could not be reached: {reason}",
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
    setup: Setup, target: Target, connection: Connection, result: DatabaseResult
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
