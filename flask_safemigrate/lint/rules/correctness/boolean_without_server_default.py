"""SM303 boolean-without-server-default."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import (
    column_calls,
    keyword,
    literal,
)
from flask_safemigrate.lint.helpers.arguments import column_name
from flask_safemigrate.lint.helpers.functions import last_name
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity


def _column_type(column: ast.Call) -> ast.expr | None:
    type_ = keyword(column, "type_")
    if type_ is not None:
        return type_
    args = [a for a in column.args if not isinstance(a, ast.Starred)]
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        args = args[1:]
    return args[0] if args else None


def _is_boolean(type_: ast.expr | None) -> bool:
    if type_ is None:
        return False
    node = type_.func if isinstance(type_, ast.Call) else type_
    return last_name(node) in {"Boolean", "BOOLEAN"}


@register
class BooleanWithoutServerDefault(Rule):
    """A boolean column without a `server_default`, where existing rows or inserts need one.

    ## What it does
    Reports an `sa.Column(..., sa.Boolean(), ...)` without `server_default=` (or with
    `server_default=None`):

    - in `create_table` (or `add_column` on a table created earlier in the same function),
      when the column is `nullable=False`;
    - in `add_column` (`op` or `batch_op`) on an existing table, always: a NOT NULL column
      cannot be added to a table with rows, and a nullable one leaves every existing row
      NULL.

    ## Why it matters
    A Python-side `default=False` on the model exists only in the ORM: the database knows
    nothing about it. Adding a NOT NULL boolean fails on every table that has rows
    ("column contains null values"); a nullable one gives old rows NULL, a third state that
    `WHERE is_active = false` does not match. Inserts from raw SQL, other services or
    fixtures that do not set the column fail on a NOT NULL boolean without a default.

    ## Example
    ```python
    op.add_column("users", sa.Column("is_active", sa.Boolean(), nullable=False))
    ```

    ## Use instead
    ```python
    op.add_column(
        "users",
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    ```
    """

    code = "SM303"
    name = "boolean-without-server-default"
    severity = Severity.WARNING
    fix = 'give the column a server default: server_default=sa.false() (or sa.text("false"))'

    requires = (
        frozenset({"Boolean", "BOOLEAN"}),
        op_facts("create_table", receivers=("op",)) | op_facts("add_column"),
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        for call in migration.calls:
            if call.name == "create_table" and call.receiver == "op":
                new_table, table = True, call.table
                columns = [c for a in call.node.args[1:] for c in column_calls(a)]
                columns += [c for kw in call.node.keywords for c in column_calls(kw.value)]
            elif call.name == "add_column" and call.receiver in {"op", "batch_op"}:
                table = call.table
                new_table = migration.created_before(call)
                node = call.param("column")
                columns = list(column_calls(node)) if node is not None else []
            else:
                continue
            for column in columns:
                if not _is_boolean(_column_type(column)):
                    continue
                default = keyword(column, "server_default")
                if default is not None and literal(default) is not None:
                    continue
                not_null = literal(keyword(column, "nullable")) is False
                where = f"{table or '?'}.{column_name(column)}"
                if not_null:
                    consequence = (
                        "inserts that do not set it fail"
                        if new_table
                        else "adding it fails on a table that has rows"
                    )
                    yield Violation(
                        f"column {where} is a NOT NULL boolean without server_default; "
                        f"{consequence}",
                        node=column,
                    )
                elif not new_table:
                    yield Violation(
                        f"adds boolean column {where} without server_default; every existing "
                        "row gets NULL, which neither `= true` nor `= false` matches",
                        node=column,
                    )
