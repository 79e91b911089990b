"""SM206 add-foreign-key-validating."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import keyword, literal
from flask_safemigrate.lint.helpers.alter_ops import (
    NOT_VALID,
    alter_actions,
    column_arg,
    column_name,
    constraint_name,
)
from flask_safemigrate.lint.helpers.existing_tables import columns_added_to_existing, ops_without
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE, POSTGRESQL
from flask_safemigrate.lint.helpers.labels import column_label, table_label
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import IDENT, add_column_action

_ADD_FOREIGN_KEY = compiled_later(rf"^ADD (?:CONSTRAINT ({IDENT}) )?FOREIGN KEY\b", re.IGNORECASE)


@register
class AddForeignKeyValidating(Rule):
    """Adding a foreign key to an existing PostgreSQL table validates it under a lock.

    ## What it does
    Flags `create_foreign_key` (on `op` and `batch_op`) on a source table not created earlier
    in the same function, without `postgresql_not_valid=True`; `add_column` of a column with
    a `sa.ForeignKey(...)` (Alembic adds the constraint right after the column); and
    `ADD [CONSTRAINT ...] FOREIGN KEY` without `NOT VALID`, or `ADD COLUMN ... REFERENCES`,
    in literal SQL.

    ## Why it matters
    Adding the constraint checks every existing row while holding `SHARE ROW EXCLUSIVE` on
    both tables: writes to the table and to the referenced table stop for the whole scan.

    ## Example
    ```python
    def upgrade():
        op.create_foreign_key("fk_orders_user", "orders", "users", ["user_id"], ["id"])
    ```

    ## Use instead
    Add the constraint without checking old rows (new rows are checked at once), then
    validate it in a later migration; validation only takes a lock that lets writes go on:
    ```python
    def upgrade():
        op.create_foreign_key(
            "fk_orders_user", "orders", "users", ["user_id"], ["id"],
            postgresql_not_valid=True,
        )

    # in the next migration:
    def upgrade():
        op.execute("ALTER TABLE orders VALIDATE CONSTRAINT fk_orders_user")
    ```
    """

    code = "SM206"
    name = "add-foreign-key-validating"
    dialects = POSTGRESQL
    fix = "add it with postgresql_not_valid=True, then VALIDATE CONSTRAINT in a later migration"

    requires = (
        op_facts("create_foreign_key", "add_column") | ANY_EXECUTE,
        op_facts("create_foreign_key") | ANY_EXECUTE | {"ForeignKey"},  # in an added column
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in ops_without(migration, line, "create_foreign_key", "postgresql_not_valid"):
            referent = literal(call.param("referent_table"))
            other = f" and {referent}" if isinstance(referent, str) else ""
            source = table_label(call, "source_table")
            yield Violation(
                f"adds foreign key{constraint_name(call)} on {source} and validates it at once,"
                f" which blocks writes to {source}{other} while every row is checked",
                node=call.node,
            )
        for call, column in columns_added_to_existing(migration, line):
            foreign_key = column_arg(column, "ForeignKey")
            if foreign_key is None:
                continue
            if literal(keyword(foreign_key, "postgresql_not_valid")) is True:
                continue
            yield Violation(
                f"adds column {column_label(call, column_name(column))} with a foreign key,"
                " which Alembic adds and validates at once, blocking writes to both tables"
                " while every row is checked",
                node=call.node,
                help="add the column without ForeignKey, then create_foreign_key(...,"
                " postgresql_not_valid=True) and VALIDATE CONSTRAINT later",
            )
        for call, table, action in alter_actions(migration, line):
            added = add_column_action(action)
            references = added is not None and re.search(r"\bREFERENCES\b", added[1], re.IGNORECASE)
            if references or (_ADD_FOREIGN_KEY.match(action) and not NOT_VALID.search(action)):
                yield Violation(
                    f"adds a foreign key on {table} in SQL and validates it at once, which"
                    " blocks writes to both tables while every row is checked",
                    node=call.node,
                    help="ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, then VALIDATE"
                    " CONSTRAINT in a later migration",
                )
