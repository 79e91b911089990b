"""SM209 volatile-default-on-existing-table."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import dotted, keyword, nodes_below
from flask_safemigrate.lint.helpers.alter_ops import added_columns, alter_actions, column_name
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import add_column_action, sql_statements, sql_text

# Functions evaluated per row (PostgreSQL VOLATILE, or non-deterministic on MySQL). now(),
# CURRENT_TIMESTAMP and friends are STABLE: PostgreSQL evaluates them once and adds the
# column without a rewrite, so they are not listed.
VOLATILE_FUNCTIONS = frozenset(
    {
        "clock_timestamp",
        "timeofday",
        "random",
        "random_normal",
        "rand",
        "gen_random_uuid",
        "gen_random_bytes",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "uuid",
        "uuid_short",
        "nextval",
        "sysdate",
        "newid",
    }
)
_FUNCTION_CALL = compiled_later(r"\b([A-Za-z_][\w.]*)\s*\(")


def _volatile(node: ast.expr) -> str | None:
    """The volatile function a server default calls, if any.

    A plain string is a constant (SQLAlchemy quotes it); ``sa.text(...)``,
    ``sa.literal_column(...)`` and ``sa.func.<name>(...)`` are expressions.
    """
    for sub in nodes_below(node):
        if not isinstance(sub, ast.Call):
            continue
        name = dotted(sub.func) or ""
        head, _, attr = name.rpartition(".")
        if head.rpartition(".")[2] == "func" and attr.lower() in VOLATILE_FUNCTIONS:
            return attr.lower()
        if (attr or name) in {"text", "literal_column"} and sub.args:
            found = _volatile_in(sql_text(sub.args[0]) or "")
            if found is not None:
                return found
    return None


def _volatile_in(sql: str) -> str | None:
    for statement in sql_statements(sql) if sql else ():
        for match in _FUNCTION_CALL.finditer(statement):
            name = match.group(1).rsplit(".", 1)[-1].lower()
            if name in VOLATILE_FUNCTIONS:
                return name
    return None


_DEFAULT_EXPR = compiled_later(r"\bDEFAULT\b(.*)$", re.IGNORECASE)


@register
class VolatileDefaultOnExistingTable(Rule):
    """Adding a column whose default is volatile rewrites the whole table.

    ## What it does
    Flags `add_column` (on `op` and `batch_op`) on a table not created earlier in the same
    function, whose `server_default` calls a volatile function - `clock_timestamp()`,
    `random()`, `gen_random_uuid()`, `uuid_generate_v4()`, `nextval()`, MySQL's `uuid()`,
    ... - written as `sa.func.gen_random_uuid()` or `sa.text("gen_random_uuid()")`; and
    `ADD COLUMN ... DEFAULT <volatile>` in literal SQL. Constant defaults (`"0"`,
    `sa.text("false")`, `sa.false()`) are fine, and so are `now()`/`CURRENT_TIMESTAMP`,
    which PostgreSQL evaluates once (they are stable, not volatile).

    ## Why it matters
    PostgreSQL 11+ adds a column with a constant default instantly, storing the value once.
    A volatile default must be computed for each existing row, so the table and its indexes
    are rewritten under `ACCESS EXCLUSIVE`; MySQL cannot add an expression default in place
    and copies the table; SQLite refuses a non-constant default in `ADD COLUMN`.

    ## Example
    ```python
    def upgrade():
        op.add_column(
            "orders",
            sa.Column("public_id", sa.Uuid(), server_default=sa.func.gen_random_uuid()),
        )
    ```

    ## Use instead
    Add the column without a default, then set the default (which only applies to new rows),
    and backfill the old rows in batches:
    ```python
    def upgrade():
        op.add_column("orders", sa.Column("public_id", sa.Uuid(), nullable=True))
        op.alter_column(
            "orders", "public_id", server_default=sa.text("gen_random_uuid()")
        )
        # then backfill: UPDATE orders SET public_id = gen_random_uuid()
        #                WHERE id BETWEEN :lo AND :hi AND public_id IS NULL
    ```
    """

    code = "SM209"
    name = "volatile-default-on-existing-table"
    fix = "add the column without a default, set the default separately, backfill in batches"

    requires = (op_facts("add_column") | ANY_EXECUTE, ANY_EXECUTE | {"server_default"})

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call, column in added_columns(migration):
            server_default = keyword(column, "server_default")
            if server_default is None or line.created(call):
                continue
            function = _volatile(server_default)
            if function is not None:
                yield Violation(
                    f"adds column {column_label(call, column_name(column))} with the volatile"
                    f" default {function}(), which rewrites the whole table under an exclusive"
                    " lock to fill the existing rows",
                    node=call.node,
                )
        for call, table, action in alter_actions(migration, line):
            added = add_column_action(action)
            if added is None:
                continue
            default = _DEFAULT_EXPR.search(added[1])
            function = _volatile_in(default.group(1)) if default is not None else None
            if function is not None:
                yield Violation(
                    f"adds column {table}.{added[0]} in SQL with the volatile default"
                    f" {function}(), which rewrites the whole table under an exclusive lock",
                    node=call.node,
                )
