"""The breaks of one database, as both commands find them: the previous release's tables
against the tables after the migrations, with the renames the pending scripts perform.

``verify --compat-with`` (the schema built on a scratch database) and safe-upgrade's deploy
check (the schema predicted from the models being deployed) call :func:`release_breaks`, so a
column a pending script renames is one ``column-renamed`` break on both, read by
:func:`flask_safemigrate.compat.removals.removals_of` from the same scripts' ``upgrade()``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

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
    renames it. A schema read back is exact: what it lacks is gone. And a column the models
    add or change that no pending script names (not even in raw SQL) may not be built at all:
    its break's help says so, with the fix (``flask db migrate`` forgotten).
    """
    removed = removals_of(pending, dialect)
    found = breaking_findings(old, new, old_label, bind, removed.renamed_column)
    if not predicted:
        return found
    kept = [finding for finding in found if _removed(finding, removed)]
    if not any(finding.extra.get("change") in _BUILT for finding in kept):
        return kept  # the scripts are read again only when there is something to look up
    texts = _texts(pending)
    return [_unnamed(finding, texts) for finding in kept]


#: The breaks the models predict of a column the migrations must build or change.
_BUILT = frozenset({"not-null-added", "made-not-null", "type-narrowed", "unique-added"})


def _texts(pending: Sequence[history.Script]) -> list[str]:
    texts = []
    for script in pending:
        try:
            texts.append(script.path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            texts.append("")  # read by lint and the plan already; nothing to say of it here
    return texts


def _unnamed(finding: Finding, texts: Sequence[str]) -> Finding:
    """A break of a column that no pending script names: the models have it, the migrations
    may not build it (``flask db migrate`` forgotten), which the help says, with the fix."""
    column = finding.extra.get("column")
    if finding.extra.get("change") not in _BUILT or not isinstance(column, str):
        return finding
    named = re.compile(rf"(?<![\w$]){re.escape(column)}(?![\w$])", re.IGNORECASE)
    if any(named.search(text) for text in texts):
        return finding
    where = f"{finding.extra.get('table')}.{column}"
    missing = (
        f"no pending migration names {where}: if the models gained it without one, generate it"
        " first (`flask db migrate`), review it and deploy again"
    )
    return replace(finding, help=f"{finding.help}; {missing}" if finding.help else missing)


def _removed(finding: Finding, removed: Removals) -> bool:
    """Whether a break is real: a table or column the plan drops, or any other kind."""
    change, table = finding.extra.get("change"), str(finding.extra.get("table"))
    if change == "table-dropped":
        return removed.drops_table(table)
    if change == "column-dropped":
        return removed.drops_column(table, str(finding.extra.get("column")))
    return True
