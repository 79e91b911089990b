"""The breaks of one database, as both commands find them: the previous release's tables
against the tables after the migrations, with the renames the pending scripts perform.

``verify --compat-with`` (the schema built on a scratch database) and safe-upgrade's deploy
check (the schema predicted from the models being deployed) call :func:`release_breaks`, so a
column a pending script renames is one ``column-renamed`` break on both, read by
:func:`flask_safemigrate.compat.removals.removals_of` from the same scripts' ``upgrade()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask_safemigrate import history
from flask_safemigrate.checks.compat import Tables, breaking_findings
from flask_safemigrate.compat.removals import Removals, removals_of
from flask_safemigrate.report import Finding

__all__ = ["release_breaks"]


def release_breaks(
    old: Tables,
    new: Tables,
    old_label: str,
    bind: str | None,
    pending: Sequence[history.Script],
    dialect: str | None,
    *,
    predicted: bool,
) -> list[Finding]:
    """``breaks-previous-release`` of ``old`` (the previous release's snapshot tables)
    against ``new``; ``pending`` the scripts the previous release did not have, in the order
    they run on ``dialect``.

    ``predicted``: ``new`` describes the models being deployed, not a schema read back. What
    those models no longer map may still be in the database (the expand step keeps it), so a
    table or column missing from ``new`` is a break only when a pending script drops or
    renames it. A schema read back is exact: what it lacks is gone.
    """
    removed = removals_of(pending, dialect)
    found = breaking_findings(old, new, old_label, bind, removed.renamed_column)
    if not predicted:
        return found
    return [finding for finding in found if _removed(finding, removed)]


def _removed(finding: Finding, removed: Removals) -> bool:
    """Whether a break is real: a table or column the plan drops, or any other kind."""
    change, table = finding.extra.get("change"), str(finding.extra.get("table"))
    if change == "table-dropped":
        return removed.drops_table(table)
    if change == "column-dropped":
        return removed.drops_column(table, str(finding.extra.get("column")))
    return True
