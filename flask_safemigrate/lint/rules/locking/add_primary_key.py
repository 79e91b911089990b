"""SM215 add-primary-key: a primary key added to an existing PostgreSQL table."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.alter_ops import alter_actions, constraint_name, ops
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE, POSTGRESQL
from flask_safemigrate.lint.helpers.labels import table_label
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import IDENT

_ADD_PRIMARY_KEY = compiled_later(rf"^ADD (?:CONSTRAINT ({IDENT}) )?PRIMARY KEY\b", re.IGNORECASE)
_USING_INDEX = compiled_later(r"\bPRIMARY KEY USING INDEX\b", re.IGNORECASE)


@register
class AddPrimaryKey(Rule):
    """Adding a primary key to an existing PostgreSQL table blocks reads and writes while its
    index builds.

    ## What it does
    Flags `create_primary_key` (on `op` and `batch_op`) on a table not created earlier in the
    same function, and `ADD [CONSTRAINT ...] PRIMARY KEY (...)` in literal SQL unless it is
    `PRIMARY KEY USING INDEX`. PostgreSQL only: MySQL (InnoDB) rebuilds the table online, and
    SQLite recreates it in batch mode anyway.

    ## Why it matters
    `ALTER TABLE ... ADD PRIMARY KEY` takes an ACCESS EXCLUSIVE lock, then builds the unique
    index and checks that every key column is NOT NULL, all under that lock: on a large table
    every query waits for minutes. It also fails on duplicate or NULL keys, after the wait.

    ## Example
    ```python
    def upgrade():
        op.create_primary_key("pk_events", "events", ["id"])
    ```

    ## Use instead
    Build the unique index concurrently (outside the transaction), then attach it as the
    primary key, which is a quick catalog change once the columns are NOT NULL:
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index(
                "pk_events", "events", ["id"], unique=True, postgresql_concurrently=True
            )
        op.execute("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY USING INDEX pk_events")
    ```
    """

    code = "SM215"
    name = "add-primary-key"
    dialects = POSTGRESQL
    fix = (
        "CREATE UNIQUE INDEX CONCURRENTLY (autocommit block), then ADD CONSTRAINT ... PRIMARY KEY"
        " USING INDEX"
    )

    requires = (op_facts("create_primary_key") | ANY_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in ops(migration, "create_primary_key"):
            if not line.created(call):
                yield Violation(
                    f"adds primary key{constraint_name(call)} to {table_label(call)}, which"
                    " blocks reads and writes to the table while its index builds",
                    node=call.node,
                )
        for call, table, action in alter_actions(migration, line):
            if _ADD_PRIMARY_KEY.match(action) and not _USING_INDEX.search(action):
                yield Violation(
                    f"adds a primary key to {table} in SQL, which blocks reads and writes to the"
                    " table while its index builds",
                    node=call.node,
                )
