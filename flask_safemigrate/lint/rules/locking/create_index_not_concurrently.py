"""SM203 create-index-not-concurrently."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import keyword, literal
from flask_safemigrate.lint.helpers.alter_ops import column_name
from flask_safemigrate.lint.helpers.existing_tables import columns_added_to_existing, ops_without
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE, POSTGRESQL
from flask_safemigrate.lint.helpers.labels import column_label, object_label, table_label
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import QNAME, ident

_CREATE_INDEX = compiled_later(
    rf"^CREATE (?:UNIQUE )?INDEX (CONCURRENTLY )?(?:IF NOT EXISTS )?(?:{QNAME} )?ON "
    rf"(?:ONLY )?({QNAME})",
    re.IGNORECASE,
)


@register
class CreateIndexNotConcurrently(Rule):
    """Creating an index on an existing PostgreSQL table without CONCURRENTLY blocks writes.

    ## What it does
    Flags `create_index` (on `op` and `batch_op`) without `postgresql_concurrently=True`,
    `add_column` of a `sa.Column(..., index=True)`, and `CREATE INDEX` without
    `CONCURRENTLY` in literal SQL - on a table not created earlier in the same function.
    Both `upgrade()` and `downgrade()` are checked: a downgrade that recreates a dropped
    index on a live table takes the same lock.

    ## Why it matters
    A plain `CREATE INDEX` holds a `SHARE` lock for the whole build: every INSERT, UPDATE
    and DELETE on the table waits, which on a large table means minutes of failing writes.

    ## Example
    ```python
    def upgrade():
        op.create_index("ix_orders_user_id", "orders", ["user_id"])
    ```

    ## Use instead
    Build it concurrently, outside the migration's transaction:
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_orders_user_id", "orders", ["user_id"], postgresql_concurrently=True
            )
    ```
    """

    code = "SM203"
    name = "create-index-not-concurrently"
    dialects = POSTGRESQL
    fix = "pass postgresql_concurrently=True inside `with op.get_context().autocommit_block():`"

    requires = (
        op_facts("create_index", "add_column") | ANY_EXECUTE,
        op_facts("create_index") | ANY_EXECUTE | {"index=True"},  # on an added column
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in ops_without(migration, line, "create_index", "postgresql_concurrently"):
            label = object_label(call, "index", "index_name")
            yield Violation(
                f"creates {label} on {table_label(call)} without CONCURRENTLY, which blocks"
                " writes to the table until the index is built",
                node=call.node,
            )
        for call, column in columns_added_to_existing(migration, line):
            if literal(keyword(column, "index")) is True:
                yield Violation(
                    f"adds column {column_label(call, column_name(column))} with index=True,"
                    " which builds the index without CONCURRENTLY and blocks writes to the"
                    " table until it is done",
                    node=call.node,
                    help="add the column without index=True, then create the index"
                    " concurrently in an autocommit block",
                )
        for call in migration.calls:
            if call.name != "execute":
                continue
            for statement, created in line.statements(call):
                match = _CREATE_INDEX.match(statement)
                if (
                    match is not None
                    and not match.group(1)
                    and ident(match.group(2)) not in (created)
                ):
                    yield Violation(
                        f"creates an index on {ident(match.group(2))} in SQL without"
                        " CONCURRENTLY, which blocks writes to the table until it is built",
                        node=call.node,
                        help="use CREATE INDEX CONCURRENTLY inside"
                        " `with op.get_context().autocommit_block():`",
                    )
