"""SM207 add-unique-constraint."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import keyword, literal
from flask_safemigrate.lint.helpers.alter_ops import (
    added_columns,
    alter_actions,
    column_name,
    constraint_name,
    ops,
)
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE, POSTGRESQL
from flask_safemigrate.lint.helpers.labels import column_label, table_label
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import IDENT

_ADD_UNIQUE = compiled_later(rf"^ADD (?:CONSTRAINT ({IDENT}) )?UNIQUE\b", re.IGNORECASE)
_USING_INDEX = compiled_later(r"\bUSING INDEX\b", re.IGNORECASE)


@register
class AddUniqueConstraint(Rule):
    """Adding a unique constraint to an existing PostgreSQL table builds its index under a lock.

    ## What it does
    Flags `create_unique_constraint` (on `op` and `batch_op`) and `add_column` of a
    `sa.Column(..., unique=True)` on a table not created earlier in the same function, and
    `ADD [CONSTRAINT ...] UNIQUE (...)` in literal SQL unless it is `UNIQUE USING INDEX`.
    PostgreSQL only: MySQL (InnoDB) builds a unique index online, and SQLite rebuilds the
    table in batch mode anyway.

    ## Why it matters
    The constraint's unique index is built like a plain `CREATE INDEX`: writes to the table
    wait for the whole build. It also fails if duplicates already exist.

    ## Example
    ```python
    def upgrade():
        op.create_unique_constraint("uq_users_email", "users", ["email"])
    ```

    ## Use instead
    Build the index concurrently, then attach it as the constraint (a quick catalog change):
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index(
                "uq_users_email", "users", ["email"], unique=True,
                postgresql_concurrently=True,
            )
        op.execute(
            "ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email"
        )
    ```
    """

    code = "SM207"
    name = "add-unique-constraint"
    dialects = POSTGRESQL
    fix = (
        "CREATE UNIQUE INDEX CONCURRENTLY (autocommit block), then ADD CONSTRAINT ... UNIQUE"
        " USING INDEX"
    )

    requires = (
        op_facts("create_unique_constraint", "add_column") | ANY_EXECUTE,
        op_facts("create_unique_constraint") | ANY_EXECUTE | {"unique=True"},  # on an added column
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in ops(migration, "create_unique_constraint"):
            if not line.created(call):
                yield Violation(
                    f"adds unique constraint{constraint_name(call)} on {table_label(call)},"
                    " which builds its index while blocking writes to the table",
                    node=call.node,
                )
        for call, column in added_columns(migration):
            if (
                literal(keyword(column, "unique")) is True
                and literal(keyword(column, "index")) is not True
                and not line.created(call)
            ):
                yield Violation(
                    f"adds column {column_label(call, column_name(column))} with unique=True,"
                    " whose constraint builds its index while blocking writes to the table",
                    node=call.node,
                )
        for call, table, action in alter_actions(migration, line):
            if _ADD_UNIQUE.match(action) and not _USING_INDEX.search(action):
                yield Violation(
                    f"adds a unique constraint on {table} in SQL, which builds its index while"
                    " blocking writes to the table",
                    node=call.node,
                )
