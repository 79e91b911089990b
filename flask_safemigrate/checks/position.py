"""Where a database stands against the scripts: ``database-unreachable``,
``unknown-database-revision``, ``not-at-head`` and ``overlapping-database-revisions``.

verify reports them as failed checks (exit 1, or 3 for an unreachable database);
safe-upgrade's pre-flight stops on them (exit 3) with the same findings.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import URL

from flask_safemigrate import database, history, ledger
from flask_safemigrate.checks.graph import describe
from flask_safemigrate.errors import DatabaseUnreachable
from flask_safemigrate.project import Setup, Target
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path, plural

__all__ = ["database_unreachable", "not_at_head", "overlapping_revisions", "unknown_revision"]

_UPGRADE_HINT = "run `flask db safe-upgrade` (or `flask db upgrade`) to apply them"


def database_unreachable(label: str, url: URL, error: DatabaseUnreachable) -> Finding:
    """``database-unreachable``: the connection (with its timeout and retries) failed.

    ``label`` is how the command names the database (its masked URL, and the bind).
    """
    # The label names the database already: not "X could not be reached: cannot connect to X".
    reason = error.message.removeprefix(f"cannot connect to {database.mask_url(url)}: ")
    outcome = "refused the connection" if error.refused else "could not be reached"
    return Finding(
        rule="database-unreachable",
        severity=Severity.ERROR,
        message=f"Database {label} {outcome}: {reason}",
        help=error.hint,
        extra={"database": database.mask_url(url)},
    )


def not_at_head(target: Target, at: str, pending: Sequence[history.Script]) -> Finding:
    """``not-at-head``: revisions the scripts have that the database has not applied."""
    listed = "; ".join(describe(script) for script in pending)
    return Finding(
        rule="not-at-head",
        severity=Severity.ERROR,
        message=(
            f"Database {target.label} is at {at}: "
            f"{plural(len(pending), 'revision')} not applied yet: {listed}."
        ),
        help=_UPGRADE_HINT,
        extra={
            "database": database.mask_url(target.url),
            "pending": [{"revision": s.revision, "message": s.message} for s in pending],
        },
    )


def overlapping_revisions(
    label: str, version_table: str, current: Sequence[str], behind: Sequence[str]
) -> Finding:
    """``overlapping-database-revisions``: the version table holds a revision and one of its
    ancestors (``behind``), which Alembic would upgrade twice or stop on ("overlaps")."""
    return Finding(
        rule="overlapping-database-revisions",
        severity=Severity.ERROR,
        message=f"The version table {version_table} of {label} holds {', '.join(current)}, but"
        f" {', '.join(behind)} is an ancestor of another of them: one row per branch"
        " is all it may hold.",
        help="check which revision the schema matches, then delete the other row"
        f" (DELETE FROM {version_table} WHERE version_num = '{behind[0]}')",
        extra={"revisions": list(current)},
    )


def unknown_revision(
    setup: Setup, target: Target, revision: str, entries: Sequence[ledger.Entry]
) -> Finding:
    """``unknown-database-revision``: the database is at a revision no script has; the cause
    (a deleted script, or a database ahead of this code) read from the scripts and ledger."""
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
