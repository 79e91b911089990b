"""SM315 non-transactional-statement: SQL PostgreSQL refuses inside the migration's transaction."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE, POSTGRESQL
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import execute_sql, sql_statements

# Statements that "cannot run inside a transaction block" (CONCURRENTLY is SM205's).
_REFUSED = compiled_later(
    r"^(VACUUM|CREATE DATABASE|DROP DATABASE|ALTER SYSTEM|CREATE TABLESPACE|DROP TABLESPACE"
    r"|CREATE SUBSCRIPTION|DROP SUBSCRIPTION)\b",
    re.IGNORECASE,
)
# Read from the raw SQL: sql_statements() empties string literals, and the value is one.
_ADD_VALUE = compiled_later(
    r"\bALTER\s+TYPE\s+(\S+)\s+ADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'((?:[^']|'')*)'",
    re.IGNORECASE,
)


def _uses(call: Call, value: str) -> bool:
    """Whether a string in the call is the value, or SQL that quotes it."""
    quoted = "'" + value.replace("'", "''") + "'"
    for node in ast.walk(call.node):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and (text == value or quoted in text):
            return True
    return False


@register
class NonTransactionalStatement(Rule):
    """A statement PostgreSQL cannot run inside a transaction, run in the migration's.

    ## What it does
    Flags, in literal SQL outside `autocommit_block()`: `VACUUM` (any form), `CREATE DATABASE`,
    `DROP DATABASE`, `ALTER SYSTEM`, `CREATE`/`DROP TABLESPACE` and `CREATE`/`DROP
    SUBSCRIPTION`, and `ALTER TYPE ... ADD VALUE` whose new value the same function then uses
    (in SQL, a default or inserted rows). `CONCURRENTLY` statements are
    `concurrently-outside-autocommit`'s.

    ## Why it matters
    Alembic runs a PostgreSQL migration in a transaction. These statements fail there with
    "cannot run inside a transaction block", at deploy time, after everything before them. A
    value added to an enum cannot be used until the transaction that added it commits (PostgreSQL
    12+: "unsafe use of new value"; before 12, `ADD VALUE` itself is refused).

    ## Example
    ```python
    def upgrade():
        op.execute("ALTER TYPE order_status ADD VALUE 'refunded'")
        op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")
        op.execute("VACUUM ANALYZE orders")
    ```

    ## Use instead
    Run the statement in an autocommit block (it commits on its own; make it safe to repeat),
    and use a new enum value only after that block:
    ```python
    def upgrade():
        with op.get_context().autocommit_block():
            op.execute("ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'refunded'")
        op.execute("UPDATE orders SET status = 'refunded' WHERE refunded_at IS NOT NULL")
    ```
    Maintenance such as `VACUUM` belongs in an operations job, not in a migration.
    """

    code = "SM315"
    name = "non-transactional-statement"
    dialects = POSTGRESQL
    fix = "run it in `with op.get_context().autocommit_block():` (or outside the migration)"

    requires = (ANY_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        calls = migration.calls
        for position, call in enumerate(calls):
            if call.autocommit or call.name != "execute":
                continue
            sql = execute_sql(call)
            if sql is None:
                continue
            for statement in sql_statements(sql):
                match = _REFUSED.match(statement)
                if match is not None:
                    yield Violation(
                        f"runs {match.group(1).upper()} inside the migration's transaction,"
                        " which PostgreSQL refuses (cannot run inside a transaction block)",
                        node=call.node,
                    )
            for added in _ADD_VALUE.finditer(sql):
                enum, value = added.group(1), added.group(2).replace("''", "'")
                later = (
                    other
                    for other in calls[position + 1 :]
                    if other.direction == call.direction and not other.autocommit
                )
                if any(_uses(other, value) for other in later):
                    yield Violation(
                        f"adds value {value!r} to enum {enum} and uses it in the same transaction,"
                        " which PostgreSQL refuses until the value is committed",
                        node=call.node,
                    )
