"""SM222 backfill-then-set-not-null: a column added, filled and made NOT NULL in one go."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label
from flask_safemigrate.lint.helpers.not_null import not_null_steps
from flask_safemigrate.lint.helpers.timeline import Timeline, timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity


def _added_to_existing(line: Timeline, call: Call, table: str | None, column: str | None) -> bool:
    """Whether ``table.column`` was added earlier in the function to a table that was not
    created (or emptied) there, and no validated NOT NULL check covers it."""
    return (
        table is not None
        and line.added(call, table, column)
        and not line.created(call, table)
        and not line.not_null_checked(call, table, column)
    )


@register
class BackfillThenSetNotNull(Rule):
    """A column added to an existing table is made NOT NULL in the same migration function.

    ## What it does
    Flags `alter_column(..., nullable=False)` (on `op` and `batch_op`) and
    `ALTER COLUMN ... SET NOT NULL` in literal SQL for a column that `add_column` (or
    `ADD COLUMN`) added earlier in the same function, to a table that function did not
    create: the "add nullable, backfill, set NOT NULL" pattern written as one step.
    `set-not-null` leaves these alone (the column is new), but the table is not. Not flagged:
    a table created or emptied earlier in the function, and a column whose
    `CHECK (column IS NOT NULL)` was validated before the `SET NOT NULL` (PostgreSQL 12+ then
    skips the scan).

    ## Why it matters
    The existing rows are still scanned to prove the new constraint. On PostgreSQL the whole
    function is one transaction: the `ACCESS EXCLUSIVE` lock `ADD COLUMN` took is held through
    the backfill `UPDATE` (which rewrites every row) and through the `SET NOT NULL` scan, so
    every read and write of the table waits for both. MySQL and SQLite rebuild the table for
    the NOT NULL. And the `SET NOT NULL` fails if the previous release, still running, inserted
    a row without the new column between the backfill and the constraint.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("plan", sa.String(20), nullable=True))
        op.execute("UPDATE users SET plan = 'free'")
        op.alter_column("users", "plan", nullable=False)
    ```

    ## Use instead
    Split it. Add the column nullable (or with a constant `server_default`, which existing rows
    get at once) and commit; backfill in batches outside that transaction; then make the column
    NOT NULL the way `set-not-null` shows: a check added `NOT VALID`, validated in its own
    transaction (an autocommit block or a later revision), then `SET NOT NULL`, which
    PostgreSQL 12+ runs without a scan.
    ```python
    # this revision: the column only, nullable
    def upgrade():
        op.add_column("users", sa.Column("plan", sa.String(20), nullable=True))

    # then the backfill, in batches (UPDATE ... WHERE id BETWEEN ...), outside any migration
    # transaction; then a later revision sets NOT NULL as set-not-null shows
    ```
    """

    code = "SM222"
    name = "backfill-then-set-not-null"
    severity = Severity.WARNING
    fix = (
        "add the column and commit, backfill in batches, validate a NOT NULL check in an"
        " autocommit block (or a later revision), then SET NOT NULL"
    )

    requires = (
        op_facts("add_column") | ANY_EXECUTE,
        op_facts("alter_column") | ANY_EXECUTE,
        ANY_EXECUTE | {"nullable=False"},
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call, table, column, in_sql in not_null_steps(migration, line):
            if _added_to_existing(line, call, table, column):
                what = f"{table}.{column}" if in_sql else column_label(call)
                yield Violation(
                    f"adds {what} and sets it NOT NULL{' in SQL' if in_sql else ''} in the same"
                    " function: the existing rows are scanned, after any backfill, while the"
                    " table stays locked",
                    node=call.node,
                )
