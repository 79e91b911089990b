"""SM308 sqlite-alter-outside-batch."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import (
    Call,
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

_SQLITE_UNSUPPORTED = {
    "alter_column": "change a column (ALTER COLUMN)",
    "drop_column": "drop a column that an index, key or constraint uses",
    "create_unique_constraint": "add a constraint",
    "create_foreign_key": "add a constraint",
    "create_check_constraint": "add a constraint",
    "create_primary_key": "add a constraint",
    "drop_constraint": "drop a constraint",
}
# alter_column keywords that only name or describe the column, or rename it (SQLite can
# rename); the table and column may be given by keyword too.
_RENAME_ONLY = frozenset(
    {
        "table_name",
        "column_name",
        "new_column_name",
        "existing_type",
        "existing_nullable",
        "existing_server_default",
        "existing_comment",
        "schema",
    }
)
_COLUMN_LIST_PARAMS = {
    "create_index": "columns",
    "create_unique_constraint": "columns",
    "create_primary_key": "columns",
    "create_foreign_key": "local_cols",
}


def _column_is_bound(column: ast.Call) -> bool:
    """Whether an ``sa.Column`` carries an index, a key or a constraint."""
    if any(literal(keyword(column, flag)) is True for flag in ("index", "unique", "primary_key")):
        return True
    return any(
        isinstance(arg, ast.Call)
        and last_name(arg.func) in {"ForeignKey", "CheckConstraint", "Identity", "Computed"}
        for arg in column.args
    )


def bound_columns(calls: list[Call]) -> dict[tuple[str | None, str], set[str | None]]:
    """``(table, column)`` pairs that the script indexes, keys or constrains anywhere, each
    with the names of what binds it (``None`` for an unnamed one, or a flag on its column)."""
    bound: dict[tuple[str | None, str], set[str | None]] = {}
    for call in calls:
        if call.receiver == "connection":
            continue
        if call.name in _COLUMN_LIST_PARAMS:
            columns = call.value(_COLUMN_LIST_PARAMS[call.name])
            if isinstance(columns, list | tuple):
                name = call.string(
                    "index_name" if call.name == "create_index" else "constraint_name"
                )
                for column in columns:
                    if isinstance(column, str):
                        bound.setdefault((call.table, column), set()).add(name)
        elif call.name in {"add_column", "create_table"}:
            parts = [*call.node.args, *(k.value for k in call.node.keywords)]
            for part in parts:
                for column in column_calls(part):
                    if _column_is_bound(column):
                        key = (call.table, column_name(column))
                        bound.setdefault(key, set()).add(None)
    return bound


def _dropped_before(calls: list[Call], call: Call) -> set[str]:
    """Indexes and constraints that the call's function dropped before it (autogenerate's
    downgrade drops a column's index first: by then the column is a plain one)."""
    dropped: set[str] = set()
    for other in calls:
        if other is call:
            break
        if other.direction == call.direction and other.name in {"drop_index", "drop_constraint"}:
            name = other.string("index_name" if other.name == "drop_index" else "constraint_name")
            if name is not None:
                dropped.add(name)
    return dropped


@register
class SqliteAlterOutsideBatch(Rule):
    """An ALTER that SQLite cannot run is issued outside a batch block.

    ## What it does
    When linting for SQLite, reports `op.alter_column`, `op.create_unique_constraint`,
    `op.create_foreign_key`, `op.create_check_constraint`, `op.create_primary_key` and
    `op.drop_constraint`, and `op.drop_column` of a column that the script itself shows to
    be indexed, keyed or constrained (an index, unique constraint, primary key or foreign
    key on it, or `index=True`/`unique=True`/`sa.ForeignKey` on its `sa.Column`). The same
    operations on `batch_op` inside `with op.batch_alter_table(...)` are fine. Not reported:
    an `alter_column` that only renames the column (`new_column_name=`), and dropping a plain
    column, both of which SQLite (3.25 and 3.35 onwards) does natively; a column whose named
    indexes and constraints the same function dropped before it (autogenerate's downgrade
    drops the index, then the column) is a plain column by then.

    ## Why it matters
    SQLite's `ALTER TABLE` can add, rename and drop plain columns but cannot change a
    column's type, nullability or default, cannot add or drop constraints, and refuses to
    drop a column that an index, key or constraint uses. Alembic raises
    `NotImplementedError` or SQLite rejects the statement, so the migration fails on SQLite
    (often the development and test database).

    ## Example
    ```python
    op.alter_column("users", "email", nullable=False)
    ```

    ## Use instead
    ```python
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("email", nullable=False)
    ```
    """

    code = "SM308"
    name = "sqlite-alter-outside-batch"
    severity = Severity.ERROR
    dialects = frozenset({"sqlite"})
    fix = "run it inside `with op.batch_alter_table(table) as batch_op:` on batch_op"

    requires = (op_facts(*_SQLITE_UNSUPPORTED, receivers=("op",)),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        bound: dict[tuple[str | None, str], set[str | None]] | None = None
        for call in migration.calls:
            if call.receiver != "op" or call.name not in _SQLITE_UNSUPPORTED:
                continue
            if (
                call.name == "alter_column"
                and call.has_keyword("new_column_name")
                and all(kw.arg in _RENAME_ONLY for kw in call.node.keywords)
            ):
                continue
            target = call.table or "a table"
            if call.name in {"alter_column", "drop_column"}:
                target = f"{call.table or '?'}.{call.column or '?'}"
            if call.name == "drop_column":
                if bound is None:
                    bound = bound_columns(migration.calls)
                column = call.column
                binders = bound.get((call.table, column)) if column is not None else None
                if not binders or binders <= _dropped_before(migration.calls, call):
                    continue
            yield Violation(
                f"op.{call.name}() on {target} outside a batch block; SQLite's ALTER TABLE "
                f"cannot {_SQLITE_UNSUPPORTED[call.name]}",
                node=call.node,
            )
