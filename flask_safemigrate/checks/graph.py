"""Checks on the scripts read as text: ``multiple-heads``, ``duplicate-revision``,
``missing-parent``, ``revision-cycle``, ``unparseable-script`` (the graph's problems),
``missing-downgrade`` and ``invalid-revision-id`` (ids too wide for a version column).

Nothing is imported, so a history Alembic refuses to load is reported, not crashed on.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.engine import Connection

from flask_safemigrate import database, history, revision_ids
from flask_safemigrate.project import Setup, Target
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path

__all__ = ["describe", "graph_finding", "static_findings", "stock_width_findings", "width_findings"]


def describe(script: history.Script) -> str:
    """How findings name a revision: its id and, when it has one, its message."""
    return f"{script.revision} ({script.message})" if script.message else script.revision


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
