"""``flask db auto-merge-heads``: join several heads into one, refusing when the branches collide.

``alembic merge heads`` joins any heads, even when two feature branches both altered
``users.email``; the merged history then fails (or silently keeps whichever change ran last)
on the first database that applies both. Before writing the merge revision this package compares
what each branch does since the fork, statically: each script's ``upgrade()`` is read with the
lint engine's call model (``op.*``, ``batch_op.*``, literal SQL in ``execute``), never imported.

Raw SQL is read best effort: ``CREATE/DROP TABLE``, ``CREATE/DROP INDEX``, ``ALTER TABLE``
actions and ``INSERT/UPDATE/DELETE`` targets are recognised; SQL that is built at run time is
listed as unchecked. The merge revision itself is written by Alembic from the project's
``script.py.mako`` and ``file_template``, to a temporary file that replaces into place; no
existing script is ever rewritten or deleted.

The package follows the steps of one merge, each module importing only the ones before it:

- :mod:`.mentions`, :mod:`.calls`, :mod:`.sql`, :mod:`.touches`: what each script touches;
- :mod:`.conflicts`: which objects two branches both touch since their fork;
- :mod:`.planning`: the history, its heads and conflicts, before anything is written;
- :mod:`.writing`: Alembic writes the merge revision, which is then checked;
- :mod:`.findings` and :mod:`.api`: the report and the entry points.

Nothing here prints: what Alembic and post-write hooks write to stdout is the CLI's to divert.
"""

from __future__ import annotations

from flask_safemigrate.merge.api import (
    COMMAND,
    MergeResult,
    auto_merge_heads,
    merge_heads,
)
from flask_safemigrate.merge.conflicts import Change, Conflict, Side, find_conflicts
from flask_safemigrate.merge.findings import CONFLICT_CHECK, conflict_finding
from flask_safemigrate.merge.planning import Plan, default_message, plan_merge

__all__ = [
    "COMMAND",
    "CONFLICT_CHECK",
    "Change",
    "Conflict",
    "MergeResult",
    "Plan",
    "Side",
    "auto_merge_heads",
    "conflict_finding",
    "default_message",
    "find_conflicts",
    "merge_heads",
    "plan_merge",
]
