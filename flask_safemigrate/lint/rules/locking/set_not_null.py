"""SM202 set-not-null."""

from __future__ import annotations

from collections.abc import Iterator

from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label
from flask_safemigrate.lint.helpers.not_null import not_null_steps
from flask_safemigrate.lint.helpers.restores import restores_not_null
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity

#: The advice where the dialect is known and is not PostgreSQL (whose is the rule's ``fix``).
_OTHER_DIALECTS = {
    "mysql": (
        "MySQL/MariaDB: backfill the NULLs first; the change rebuilds the table (ALGORITHM=INPLACE,"
        " LOCK=NONE lets reads and writes go on): run it in a quiet window or with an online"
        " schema-change tool"
    ),
    "sqlite": (
        "SQLite: backfill the NULLs first; batch_alter_table copies the table, fine while it is"
        " small"
    ),
}


@register
class SetNotNull(Rule):
    """Making an existing column NOT NULL scans the whole table under an exclusive lock.

    ## What it does
    Flags `alter_column(..., nullable=False)` (on `op` and `batch_op`) and
    `ALTER COLUMN ... SET NOT NULL` in literal SQL, for a column that was not added earlier
    in the same function (a column added to an existing table and made NOT NULL in one
    function is `backfill-then-set-not-null`'s case). Not flagged: `existing_nullable=False`
    (nothing changes); a `SET NOT NULL` that follows, in the same function, the validation of a
    `CHECK (... IS NOT NULL)` constraint on that table - PostgreSQL 12+ then skips the scan;
    and, in `downgrade()`, putting back a NOT NULL that the same script's `upgrade()` dropped
    (the schema production had before; autogenerate writes it).

    ## Why it matters
    PostgreSQL checks every row while holding `ACCESS EXCLUSIVE` on the table, so all reads
    and writes wait for a full scan; MySQL and SQLite rebuild the table. And the statement
    fails if a single NULL slipped in, for instance from servers still running the
    previous release.

    ## Example
    ```python
    def upgrade():
        op.alter_column("users", "email", existing_type=sa.String(255), nullable=False)
    ```

    ## Use instead
    On every database, backfill the NULLs first (and deploy code that writes none). On
    MySQL/MariaDB the change rebuilds the table (in place, reads and writes go on with
    `ALGORITHM=INPLACE, LOCK=NONE`): run it in a quiet window or with an online schema-change
    tool; on SQLite `batch_alter_table` copies the table, fine while it is small. When the
    dialect is known (the app's engine, or `--dialect`), the finding's help gives that
    dialect's advice. On PostgreSQL, prove the constraint without the exclusive lock first.
    Add a check `NOT VALID` (a moment's lock), commit, then validate it in its own transaction (an
    autocommit block, or the next migration) under a lock that lets reads and writes go on;
    `SET NOT NULL` then uses the validated check and skips its scan (PostgreSQL 12+).
    Validating in the transaction that added the check would keep the `ADD`'s
    `ACCESS EXCLUSIVE` lock through the whole scan (see `validate-in-same-transaction`).
    ```python
    def upgrade():
        op.execute(
            "ALTER TABLE users ADD CONSTRAINT users_email_not_null"
            " CHECK (email IS NOT NULL) NOT VALID"
        )
        with op.get_context().autocommit_block():
            op.execute("ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null")
        op.alter_column("users", "email", existing_type=sa.String(255), nullable=False)
        op.drop_constraint("users_email_not_null", "users", type_="check")
    ```
    """

    code = "SM202"
    name = "set-not-null"
    severity = Severity.WARNING
    fix = (
        "PostgreSQL: add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in an autocommit block"
        " (or a later migration), then SET NOT NULL"
    )

    requires = (op_facts("alter_column") | ANY_EXECUTE, ANY_EXECUTE | {"nullable=False"})

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        config = migration.config
        # The rule's fix is PostgreSQL's; another known dialect gets its own.
        help_text = _OTHER_DIALECTS.get(config.dialect) if config.dialect_known else None
        for call, table, column, in_sql in not_null_steps(migration, line):
            if line.added(call, table, column) or line.not_null_checked(call, table, column):
                continue
            if not in_sql and restores_not_null(migration, call, column):
                continue
            what = f"{table}.{column}" if in_sql else column_label(call)
            yield Violation(
                f"sets {what} NOT NULL{' in SQL' if in_sql else ''}, which scans the whole table"
                " under an exclusive lock and fails if any row holds NULL",
                node=call.node,
                help=help_text,
            )
