"""verify's checks of one of the app's databases, in order: reachable, at a known revision,
at head, no drift, a clean ledger (the findings come from :mod:`flask_safemigrate.checks`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate import alembic_order, database, history, ledger
from flask_safemigrate.checks import (
    check_schema_models,
    database_unreachable,
    drift_findings,
    invalid_index_findings,
    ledger_findings,
    not_at_head,
    unknown_revision,
    width_findings,
)
from flask_safemigrate.errors import ConfigError, DatabaseUnreachable, PreflightError
from flask_safemigrate.project import Setup, Target
from flask_safemigrate.report import Finding
from flask_safemigrate.text import one_line

__all__ = ["DatabaseResult", "check_database"]


@dataclass
class DatabaseResult:
    """What the checks of one database found, noted and read (its current revisions)."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    current: tuple[str, ...] = ()
    #: Whether the version table was read: an unreachable database's position is unknown.
    read: bool = True


def check_database(setup: Setup, target: Target) -> DatabaseResult:
    """The checks of one database; a read that fails for a passing reason (another replica
    creating the ledger, a dropped connection) is tried again on a fresh connection."""

    def read() -> DatabaseResult:
        result = DatabaseResult()
        with database.connect(
            target.url,
            timeout=setup.settings.connect_timeout,
            retries=setup.settings.connect_retries,
            read_only=True,
        ) as connection:
            _check_connected(setup, target, connection, result)
        return result

    try:
        return database.retry_transient(read)
    except DatabaseUnreachable as exc:
        return DatabaseResult(
            findings=[database_unreachable(target.label, target.url, exc)], read=False
        )
    except sa.exc.SQLAlchemyError as exc:
        reason = one_line(exc, setup.urls)
        raise PreflightError(
            f"reading database {target.label} failed: {reason}",
            hint=database.error_help(exc, reason),
            data={"database": database.mask_url(target.url)},
        ) from None


def _pending(setup: Setup, current: tuple[str, ...]) -> list[history.Script]:
    """The revisions an upgrade to heads would apply, in the order Alembic applies them
    (the graph's order where Alembic refuses the walk: verify reports, it does not upgrade)."""
    path = setup.graph.path(current, "heads")
    try:
        return alembic_order.in_upgrade_order(
            setup.alembic_config(), "heads", current, path, setup.graph.scripts
        )
    except ConfigError:
        return path


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
    result.findings.extend(invalid_index_findings(connection, target.label))
    entries = ledger.read_entries(connection, setup.version_schema)
    at = ", ".join(current) or "base (no revision applied)"
    result.notes.append(f"Database {target.label}: at {at}.")

    unknown = [rev for rev in current if rev not in graph.scripts]
    for revision in unknown:
        result.findings.append(unknown_revision(setup, target, revision, entries))

    at_head = False
    if not unknown:
        try:
            pending = _pending(setup, current)
        except (history.RevisionLookupError, history.RevisionCycleError) as exc:
            result.notes.append(f"Pending revisions of {target.label} not computed: {exc}")
        else:
            at_head = not pending
            if pending:
                result.findings.append(not_at_head(target, at, pending))
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
