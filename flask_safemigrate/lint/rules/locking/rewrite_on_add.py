"""SM217 rewrite-on-add: an identity or stored generated column added to an existing table."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import keyword, literal
from flask_safemigrate.lint.helpers.alter_ops import (
    added_columns,
    alter_actions,
    column_arg,
    column_name,
)
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import add_column_action

_POSTGRESQL = frozenset({"postgresql"})
_BOTH = frozenset({"postgresql", "mysql"})
_IDENTITY_SQL = compiled_later(r"\bGENERATED (?:ALWAYS|BY DEFAULT) AS IDENTITY\b", re.IGNORECASE)
_STORED_SQL = compiled_later(r"\bAS\s*\(.*\)\s*STORED\b", re.IGNORECASE | re.S)


@register
class RewriteOnAdd(Rule):
    """Adding an identity or stored generated column rewrites the whole existing table under
    a lock.

    ## What it does
    Flags `add_column` of a `sa.Column(..., sa.Identity())` (PostgreSQL) or of a
    `sa.Column(..., sa.Computed(..., persisted=True))` (PostgreSQL and MySQL; on PostgreSQL
    before 18 every generated column is stored, so `persisted` left unset counts too), and
    `ADD COLUMN ... GENERATED ... AS IDENTITY` / `... AS (...) STORED` in literal SQL, on a
    table not created earlier in the same function.

    ## Why it matters
    Unlike a plain nullable column, which is a catalog change, these columns need a value
    computed for every existing row: PostgreSQL rewrites the table under an ACCESS EXCLUSIVE
    lock (no reads, no writes), MySQL copies it. On a large table the application stalls for
    the whole rewrite.

    ## Example
    ```python
    def upgrade():
        op.add_column(
            "orders",
            sa.Column("total_cents", sa.BigInteger(), sa.Computed("quantity * price_cents")),
        )
    ```

    ## Use instead
    Add a plain nullable column, backfill it in batches, and keep it current from the
    application (or a trigger); on MySQL a `VIRTUAL` generated column is added in place:
    ```python
    def upgrade():
        op.add_column("orders", sa.Column("total_cents", sa.BigInteger(), nullable=True))
        # then backfill in key-range batches, in an autocommit block
    ```
    """

    code = "SM217"
    name = "rewrite-on-add"
    dialects = _BOTH
    fix = "add a plain nullable column and backfill it in batches (MySQL: a VIRTUAL column)"

    requires = (op_facts("add_column") | ANY_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call, column in added_columns(migration):
            if line.created(call):
                continue
            where = column_label(call, column_name(column))
            if column_arg(column, "Identity") is not None:
                yield Violation(
                    f"adds identity column {where}, which rewrites the table under a lock to"
                    " number the existing rows",
                    node=call.node,
                    dialects=_POSTGRESQL,
                )
                continue
            computed = column_arg(column, "Computed")
            if computed is None:
                continue
            persisted = literal(keyword(computed, "persisted"))
            dialects = (
                _BOTH if persisted is True else _POSTGRESQL if persisted is not False else None
            )
            if dialects:
                yield Violation(
                    f"adds stored generated column {where}, which rewrites the table under a"
                    " lock to compute it for the existing rows",
                    node=call.node,
                    dialects=dialects,
                )
        for call, table, action in alter_actions(migration, line):
            added = add_column_action(action)
            if added is None:
                continue
            added_name, definition = added
            if _IDENTITY_SQL.search(definition):
                yield Violation(
                    f"adds identity column {table}.{added_name} in SQL, which rewrites the table"
                    " under a lock",
                    node=call.node,
                    dialects=_POSTGRESQL,
                )
            elif _STORED_SQL.search(definition):
                yield Violation(
                    f"adds stored generated column {table}.{added_name} in SQL, which rewrites the"
                    " table under a lock",
                    node=call.node,
                )
