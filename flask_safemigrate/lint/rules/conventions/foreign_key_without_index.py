"""SM404 foreign-key-without-index: A foreign key is created without an index on its columns."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call, column_calls, keyword, literal
from flask_safemigrate.lint.dialects import ALL
from flask_safemigrate.lint.helpers.functions import calls_by_function, last_name
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.registry import register
from flask_safemigrate.report import Severity


def _strings(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


class _Keys:
    """The indexed column lists per table, and the foreign keys to check, of one function."""

    def __init__(self) -> None:
        self.indexed: dict[str | None, list[tuple[str, ...]]] = {}
        self.foreign: list[tuple[str | None, tuple[str, ...], ast.AST]] = []

    def index(self, table: str | None, columns: tuple[str, ...] | None) -> None:
        if columns:
            self.indexed.setdefault(table, []).append(columns)

    def covered(self, table: str | None, columns: tuple[str, ...]) -> bool:
        wanted = set(columns)
        return any(
            len(index) >= len(columns) and set(index[: len(columns)]) == wanted
            for index in self.indexed.get(table, ())
        )

    def column(self, table: str | None, column: ast.Call) -> str | None:
        """Record what one ``sa.Column`` indexes and references; returns its name."""
        name = literal(column.args[0]) if column.args else literal(keyword(column, "name"))
        if not isinstance(name, str):
            return None
        if any(literal(keyword(column, flag)) is True for flag in ("index", "unique")):
            self.index(table, (name,))
        for arg in column.args:
            if isinstance(arg, ast.Call) and last_name(arg.func) == "ForeignKey":
                self.foreign.append((table, (name,), arg))
        return name

    def table_items(self, call: Call) -> None:
        table = call.table
        primary: list[str] = []
        items = [*call.node.args[1:], *(k.value for k in call.node.keywords)]
        for item in items:
            if not isinstance(item, ast.Call):
                continue
            kind = last_name(item.func)
            if kind == "Column":
                name = self.column(table, item)
                if name is not None and literal(keyword(item, "primary_key")) is True:
                    primary.append(name)
            elif kind in {"PrimaryKeyConstraint", "UniqueConstraint"}:
                self.index(table, _strings([literal(a) for a in item.args]))
            elif kind == "Index":
                self.index(table, _strings([literal(a) for a in item.args[1:]]))
            elif kind == "ForeignKeyConstraint" and item.args:
                columns = _strings(literal(item.args[0]))
                if columns:
                    self.foreign.append((table, columns, item))
        self.index(table, tuple(primary))


_NOT_MYSQL = ALL - {"mysql"}


@register
class ForeignKeyWithoutIndex(Rule):
    """A foreign key is created without an index on its columns.

    ## What it does
    In each `upgrade()`, finds foreign keys: `sa.ForeignKey(...)` in a column of
    `create_table`/`add_column`, `sa.ForeignKeyConstraint([...], ...)` in `create_table`, and
    `create_foreign_key(...)` (`op` and `batch_op`). Reports those whose local columns are not
    the leading columns of an index created in the same function: `create_index`, `sa.Index`
    in the table, `index=True` or `unique=True` on the column, the primary key, or a unique
    constraint. Downgrades are not checked: they restore keys whose indexes usually still
    exist.

    ## Why it matters
    PostgreSQL (and SQLite) do not index foreign keys. Every delete or key update on the
    parent table then scans the whole child table to check references, under lock, and
    joins from parent to children scan as well: fine in development, an outage at
    scale. MySQL creates such an index implicitly, so with `dialect = "mysql"` nothing is
    reported (an explicit index still keeps the schema the same on every database).

    ## Example
    ```python
    op.add_column("orders", sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id")))
    ```

    ## Use instead
    ```python
    op.add_column(
        "orders",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", name="fk_orders_user_id")),
    )
    op.create_index("ix_orders_user_id", "orders", ["user_id"])
    ```
    """

    code = "SM404"
    name = "foreign-key-without-index"
    severity = Severity.WARNING
    fix = "create an index on the foreign key's columns (op.create_index or index=True)"

    requires = (
        op_facts("create_foreign_key", upgrade=True) | {"ForeignKey", "ForeignKeyConstraint"},
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        for direction, _, calls in calls_by_function(migration):
            if direction != "upgrade":
                continue
            keys = _Keys()
            for call in calls:
                if call.receiver == "connection":
                    continue
                if call.name == "create_table" and call.receiver == "op":
                    keys.table_items(call)
                elif call.name == "add_column":
                    node = call.param("column")
                    for column in column_calls(node) if node is not None else ():
                        keys.column(call.table, column)
                elif call.name in {
                    "create_index",
                    "create_unique_constraint",
                    "create_primary_key",
                }:
                    keys.index(call.table, _strings(call.value("columns")))
                elif call.name == "create_foreign_key":
                    columns = _strings(call.value("local_cols"))
                    if columns:
                        keys.foreign.append((call.table, columns, call.node))
            for table, columns, key in keys.foreign:
                if not keys.covered(table, columns):
                    yield Violation(
                        f"foreign key on {table or '?'}({', '.join(columns)}) has no index on "
                        "those columns; deletes on the referenced table scan the whole table",
                        node=key,
                        # InnoDB indexes a foreign key's columns itself when none does.
                        dialects=_NOT_MYSQL,
                    )
