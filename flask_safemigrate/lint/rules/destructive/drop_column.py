"""SM102 drop-column."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.alter_actions import alter_actions
from flask_safemigrate.lint.helpers.facts import UP_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label
from flask_safemigrate.lint.helpers.moves import moves
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import COLUMN_WORD, IDENT, ident

_DROP_COLUMN = compiled_later(
    rf"^DROP (?:COLUMN )?(?:IF EXISTS )?{COLUMN_WORD}({IDENT})", re.IGNORECASE
)


@register
class DropColumn(Rule):
    """Dropping a column in an upgrade loses its data and breaks the running servers.

    ## What it does
    Flags `op.drop_column(...)`, `batch_op.drop_column(...)` and `ALTER TABLE ... DROP COLUMN`
    in literal SQL inside `upgrade()`, unless the column (or its table) was added earlier in
    the same `upgrade()`. `downgrade()` is not checked: dropping what the upgrade added is the
    normal reverse. Also not flagged:

    a column swap that keeps the name: `a_new` added and filled (`UPDATE t SET a_new =
    ...`, or code between the add and the rename that names `a_new`: `update(t).values(
    a_new=...)`, a backfill helper given it), `a` dropped, `a_new` renamed to `a`; or `a`
    renamed to `a_old`, a new `a` added and filled, `a_old` dropped. The values move and
    the name servers select keeps existing (what changes is what the column holds: review
    the new type against the old code). Nor is a column of a table the same function drops
    later (that drop is the finding), or a drop under an existence check of a column the
    same function makes again later under that name: what an interrupted run of this very
    migration left; or a generated column added back later (`sa.Computed(...)`), whose
    values the database computes again.

    The contract step of expand/contract (a column the models stopped mapping releases
    ago) stays an error: a linter cannot see earlier releases. Neither an existence check
    around the drop nor the app's current models tell it apart: projects guard every op to
    make migrations re-runnable, and `flask db migrate` writes a drop precisely because the
    model no longer maps the column, usually in the same release. Mark the contract step
    with a suppression and its reason, as below. What the models do tell is the worst case:
    with `flask db lint` (the app loaded), a drop of a column the current models still map
    is reported as breaking every server, the new release's included.

    ## Why it matters
    The values are gone for good. Worse, SQLAlchemy names every mapped column in its
    SELECTs and INSERTs, so until every server runs code whose model no longer has the
    column, requests fail with "column does not exist" - during every deploy window.

    ## Example
    ```python
    def upgrade():
        op.drop_column("users", "nickname")
    ```

    ## Use instead
    Split it into two releases:

    1. Remove the column from the model (stop reading and writing it; `deferred()` first if
       code still names it) and deploy that release without the drop. If `flask db migrate`
       wrote the drop, move it out of this release's migration.
    2. In a later release, once no server runs the old model, drop the column in a new
       migration, marked with a suppression that says why it is safe now.

    Keep a backup (or copy the values elsewhere) if they may be needed again.
    ```python
    # release 1: delete `nickname = db.Column(...)` from the User model; no migration
    # release 2:
    def upgrade():
        op.drop_column("users", "nickname")  # safemigrate: ignore[drop-column] -- unmapped in 2.3
    ```
    """

    code = "SM102"
    name = "drop-column"
    fix = (
        "split it into two releases: (1) remove the column from the model and deploy that"
        " without this drop; (2) in a later release, once no server runs the old model, drop"
        " it, marked `# safemigrate: ignore[drop-column] -- <why it is safe now>`"
    )

    requires = (op_facts("drop_column", upgrade=True) | UP_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in migration.upgrade_calls:
            if call.name == "drop_column" and call.receiver in {"op", "batch_op"}:
                if not line.added(call, call.table, call.column) and not _kept_or_unused(
                    migration, call, call.table, call.column
                ):
                    yield Violation(
                        f"drops column {column_label(call)}, losing its values for good and"
                        f" breaking {_who(migration, call.table, call.column)}",
                        node=call.node,
                    )
            elif call.name == "execute":
                for table, match in alter_actions(line, call, _DROP_COLUMN):
                    column = ident(match.group(1))
                    if not line.added(call, table, column) and not _kept_or_unused(
                        migration, call, table, column
                    ):
                        yield Violation(
                            f"drops column {table}.{column} in SQL, losing its values"
                            f" for good and breaking {_who(migration, table, column)}",
                            node=call.node,
                        )


def _kept_or_unused(
    migration: Migration, call: Call, table: str | None, column: str | None
) -> bool:
    """A step of a column swap that keeps the name (and the values, converted), or a change
    to a table the same function drops later (that drop is judged on its own)."""
    if table is None or column is None:
        return False
    found = moves(migration)
    return (
        found.swap_replaces(call, table, column)
        or found.swap_leftover(call, table, column)
        or found.dropped_later(call, table)
        or found.leftover(call, table, column)
        or found.regenerated(call, table, column)
    )


def _who(migration: Migration, table: str | None, column: str | None) -> str:
    """Whom the drop breaks: with the app's models known (``flask db lint``) and still
    mapping the column, every server, the new release included."""
    mapped = migration.config.mapped
    if (
        mapped is not None
        and table is not None
        and column is not None
        and ident(column) in mapped.get(ident(table), frozenset())
    ):
        return "every server: the app's models still map it, the new release's included"
    return "servers whose model still selects it"
