"""SM201 add-not-null-column-without-default."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import dotted
from flask_safemigrate.lint.helpers.alter_ops import alter_actions, column_arg
from flask_safemigrate.lint.helpers.column_sources import AddedColumn, added_column_defs
from flask_safemigrate.lint.helpers.facts import ANY_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label
from flask_safemigrate.lint.helpers.restores import restores_column
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import add_column_action

_INTEGER_TYPES = frozenset(
    {"Integer", "BigInteger", "SmallInteger", "INTEGER", "BIGINT", "SMALLINT", "INT"}
)


def _autoincrements(added: AddedColumn) -> bool:
    """Whether a primary-key column is an integer the database numbers itself (SQLAlchemy
    renders SERIAL / AUTO_INCREMENT for it)."""
    if added.value("autoincrement") is False:
        return False
    column = added.column
    types = [*column.args[1:2], *(kw.value for kw in column.keywords if kw.arg == "type_")]
    while types:
        node = types.pop()
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "with_variant"
        ):
            # BigInteger().with_variant(sqlite.INTEGER(), "sqlite"): integers on each dialect
            types.extend([node.func.value, *node.args[:1]])
            continue
        target = node.func if isinstance(node, ast.Call) else node
        if (dotted(target) or "").rsplit(".", 1)[-1] not in _INTEGER_TYPES:
            return False
        if not types:
            return True
    return False


_FAILS = "which fails as soon as the table has rows"
_FILLS = (
    "which MariaDB/MySQL accept by filling the existing rows with an implicit 0, '' or zero"
    " date that the app never wrote"
)


def _outcome(migration: Migration) -> str:
    """What the statement does to a table with rows, on the dialects lint judges for:
    PostgreSQL and SQLite refuse it, MariaDB/MySQL quietly fill the rows in."""
    dialects = migration.config.dialects
    if "mysql" not in dialects:
        return _FAILS
    if dialects == {"mysql"}:
        return _FILLS
    return f"{_FAILS} on PostgreSQL and SQLite, and {_FILLS.removeprefix('which ')}"


@register
class AddNotNullColumnWithoutDefault(Rule):
    """Adding a NOT NULL column without a server default to an existing table.

    ## What it does
    Flags `add_column` (on `op` and `batch_op`) of a `sa.Column(..., nullable=False)` - or a
    `primary_key=True` column, which is NOT NULL too - that has no `server_default=`, on a
    table not created earlier in the same function; and `ADD COLUMN ... NOT NULL` without
    `DEFAULT` in literal SQL. The column is read where the script builds it: in the call, in
    a variable bound once, in a helper of the script that returns it, in a list the upgrade
    loops over, its keywords also given as `**{"nullable": False}`. A Python-side
    `default=` does not count: the database never sees it. Identity and computed columns,
    and integer primary keys (which SQLAlchemy renders as `SERIAL`/`AUTO_INCREMENT`, and
    SQLite numbers as `INTEGER PRIMARY KEY` when a batch rebuilds the table), are not
    flagged, also when the type is an integer with integer variants
    (`sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")`).

    ## Why it matters
    The existing rows have no value for the new column: PostgreSQL and SQLite refuse the
    statement as soon as the table has a row, so the migration passes on an empty
    development database and fails in production. MySQL instead fills the rows with an
    implicit `0`, `''` or zero date, which is rarely what was meant.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("plan", sa.String(20), nullable=False))
    ```

    ## Use instead
    Add the column nullable, backfill it in batches, then set NOT NULL (see `set-not-null`);
    or give it a constant server default, which PostgreSQL 11+ and MySQL 8 add instantly:
    ```python
    def upgrade():
        op.add_column(
            "users",
            sa.Column("plan", sa.String(20), nullable=False, server_default="free"),
        )
    ```
    """

    code = "SM201"
    name = "add-not-null-column-without-default"
    fix = "add the column nullable (or with a server_default), backfill in batches, then NOT NULL"

    # Not also `nullable=False`: the column may be built where the facts do not reach (at
    # module level) or say it (`**{"nullable": False}`).
    requires = (op_facts("add_column") | ANY_EXECUTE,)

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for added in added_column_defs(migration):
            call, column = added.call, added.column
            if line.created(call) or restores_column(migration, call, added.name):
                continue
            nullable = added.value("nullable")
            primary_key = added.value("primary_key") is True
            if not (nullable is False or (primary_key and nullable is not True)):
                continue
            if (
                added.keyword("server_default") is not None
                and added.value("server_default") is not None
            ):
                continue
            if column_arg(column, "Identity", "Computed", "Sequence") is not None:
                continue
            if primary_key and _autoincrements(added):
                continue
            python = " (its Python-side default= never reaches the database)"
            yield Violation(
                f"adds NOT NULL column {column_label(call, added.name)} without a"
                f" server default to an existing table, {_outcome(migration)}"
                f"{python if added.keyword('default') is not None else ''}",
                node=call.node,
            )
        for call, table, action in alter_actions(migration, line):
            in_sql = add_column_action(action)
            if in_sql is None:
                continue
            name, definition = in_sql
            if re.search(r"\b(?:NOT NULL|PRIMARY KEY)\b", definition, re.IGNORECASE) and not (
                re.search(
                    r"\b(?:DEFAULT|GENERATED|IDENTITY|AUTO_INCREMENT|SERIAL|BIGSERIAL"
                    r"|SMALLSERIAL)\b",
                    definition,
                    re.IGNORECASE,
                )
            ):
                yield Violation(
                    f"adds NOT NULL column {table}.{name} without a default in SQL to an"
                    f" existing table, {_outcome(migration)}",
                    node=call.node,
                )
