"""The column types an ``upgrade()`` gives new and changed columns, for the type-preference
rules (``prefer-bigint-key``, ``prefer-timestamptz``, ``prefer-jsonb``).

From operations: ``sa.Column(...)`` in ``op.create_table``, ``add_column`` (``op`` and
``batch_op``) and ``alter_column(type_=...)``; from literal SQL: the column definitions of
``CREATE TABLE``, ``ADD COLUMN`` and ``ALTER COLUMN ... TYPE``. Only ``upgrade()``: a
downgrade puts back the types production had, and a preference about them is no news.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from flask_safemigrate.lint.calls import Call, dotted, keyword, literal
from flask_safemigrate.lint.helpers.alter_ops import column_name
from flask_safemigrate.lint.helpers.labels import table_label
from flask_safemigrate.lint.model import Migration
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.sql import (
    CREATE_TABLE,
    IDENT,
    add_column_action,
    alter_table,
    execute_sql,
    ident,
    split_top_level,
    sql_statements,
)


@dataclass(frozen=True)
class TypedColumn:
    """A column an upgrade creates, adds or retypes, with its type."""

    call: Call
    label: str  # ``table.column`` as messages show it
    type_name: str  # the type's class name (``Integer``, ``DateTime``) or SQL type word
    type_node: ast.expr | None  # the SQLAlchemy type expression; None for SQL
    sql_type: str  # the SQL type as written (upper case), "" for SQLAlchemy types
    primary_key: bool
    new_table: bool  # created by this very call (or SQL statement)


def type_name(node: ast.expr | None) -> str:
    """The class name of a type: ``DateTime`` for ``sa.DateTime`` and
    ``sa.DateTime(timezone=True)``, ``TIMESTAMP`` for ``postgresql.TIMESTAMP()``."""
    if node is None:
        return ""
    target = node.func if isinstance(node, ast.Call) else node
    return (dotted(target) or "").rsplit(".", 1)[-1]


def type_flag(node: ast.expr | None, name: str) -> bool:
    """Whether a type expression passes ``name=True`` (``sa.DateTime(timezone=True)``)."""
    return isinstance(node, ast.Call) and literal(keyword(node, name)) is True


def _column_type(column: ast.Call) -> ast.expr | None:
    if len(column.args) > 1 and not isinstance(column.args[1], ast.Starred):
        return column.args[1]
    return keyword(column, "type_")


def _primary_key_names(call: ast.Call) -> set[str]:
    """Columns named by ``sa.PrimaryKeyConstraint("id", ...)`` among create_table's arguments."""
    names: set[str] = set()
    for arg in call.args:
        if isinstance(arg, ast.Call) and type_name(arg.func) == "PrimaryKeyConstraint":
            names.update(v for v in (literal(a) for a in arg.args) if isinstance(v, str))
    return names


def _from_ops(migration: Migration) -> Iterator[TypedColumn]:
    for call in migration.upgrade_calls:
        if call.receiver not in {"op", "batch_op"}:
            continue
        if call.name == "create_table" and call.receiver == "op":
            keys = _primary_key_names(call.node)
            for column in call.node.args[1:]:
                if not (isinstance(column, ast.Call) and type_name(column.func) == "Column"):
                    continue
                name = column_name(column, call)
                yield TypedColumn(
                    call,
                    f"{table_label(call)}.{name}",
                    type_name(_column_type(column)),
                    _column_type(column),
                    "",
                    literal(keyword(column, "primary_key")) is True or name in keys,
                    True,
                )
        elif call.name == "add_column":
            added = call.param("column")
            if isinstance(added, ast.Call) and type_name(added.func) == "Column":
                yield TypedColumn(
                    call,
                    f"{table_label(call)}.{column_name(added, call)}",
                    type_name(_column_type(added)),
                    _column_type(added),
                    "",
                    literal(keyword(added, "primary_key")) is True,
                    False,
                )
        elif call.name == "alter_column":
            new_type = call.param("type_")
            if new_type is not None:
                yield TypedColumn(
                    call,
                    f"{table_label(call)}.{call.column or '?'}",
                    type_name(new_type),
                    new_type,
                    "",
                    False,
                    False,
                )


_ALTER_TYPE = compiled_later(
    rf"^ALTER (?:COLUMN )?({IDENT}) (?:SET DATA )?TYPE\s+(.+)$", re.IGNORECASE | re.S
)
_NOT_A_COLUMN = compiled_later(
    r"^(?:CONSTRAINT|PRIMARY|UNIQUE|FOREIGN|CHECK|EXCLUDE|INDEX|KEY|LIKE|FULLTEXT|SPATIAL)\b",
    re.IGNORECASE,
)
_SQL_TYPE = compiled_later(r"^\s*([A-Za-z_][\w ]*?)(?=\s*(?:\(|\[|,|$|\b(?:NOT|NULL|DEFAULT|PRIMARY"
    r"|REFERENCES|UNIQUE|CHECK|CONSTRAINT|GENERATED|COLLATE|AUTO_INCREMENT|USING)\b))",
    re.IGNORECASE)  # fmt: skip
_TABLE_PRIMARY_KEY = compiled_later(r"^PRIMARY KEY\s*\(([^)]*)\)", re.IGNORECASE)


def _sql_type(definition: str) -> str:
    """The type words at the start of a column definition, upper case, spaces collapsed:
    ``TIMESTAMP WITHOUT TIME ZONE`` for ``timestamp without time zone not null``."""
    match = _SQL_TYPE.match(definition)
    return " ".join(match.group(1).upper().split()) if match else ""


def _sql_column(
    call: Call, table: str, name: str, definition: str, *, new_table: bool, keys: set[str]
) -> TypedColumn:
    sql_type = _sql_type(definition)
    primary = bool(re.search(r"\bPRIMARY KEY\b", definition, re.IGNORECASE)) or name in keys
    word = sql_type.split(" ", 1)[0] if sql_type else ""
    return TypedColumn(call, f"{table}.{name}", word, None, sql_type, primary, new_table)


def _from_sql(migration: Migration) -> Iterator[TypedColumn]:
    for call in migration.upgrade_calls:
        if call.name != "execute":
            continue
        for statement in sql_statements(execute_sql(call) or ""):
            created = CREATE_TABLE.match(statement)
            if created is not None:
                body = statement[created.end() :].strip()
                if not (body.startswith("(") and body.endswith(")")):
                    continue
                parts = split_top_level(body[1:-1])
                keys: set[str] = set()
                for part in parts:
                    key = _TABLE_PRIMARY_KEY.match(part)
                    if key is not None:
                        keys.update(ident(k) for k in key.group(1).split(","))
                for part in parts:
                    if _NOT_A_COLUMN.match(part):
                        continue
                    name, _, definition = part.partition(" ")
                    yield _sql_column(
                        call, ident(created.group(1)), ident(name), definition,
                        new_table=True, keys=keys,
                    )  # fmt: skip
                continue
            parsed = alter_table(statement)
            if parsed is None:
                continue
            table, actions = parsed
            for action in actions:
                added = add_column_action(action)
                retyped = _ALTER_TYPE.match(action) if added is None else None
                if added is not None:
                    name, definition = added
                elif retyped is not None:
                    name, definition = ident(retyped.group(1)), retyped.group(2)
                else:
                    continue
                yield _sql_column(call, table, name, definition, new_table=False, keys=set())


def typed_columns(migration: Migration) -> list[TypedColumn]:
    """Every column ``upgrade()`` creates, adds or retypes (found once per script)."""
    return migration.shared(
        "column_types.typed_columns", lambda: [*_from_ops(migration), *_from_sql(migration)]
    )
