"""How messages name the objects an operation acts on (``schema.table``, ``table.column``)."""

from __future__ import annotations

import ast

from flask_safemigrate.lint.calls import (
    Call,
    literal,
)


def node_label(node: ast.AST | None) -> str:
    value = literal(node)
    if isinstance(value, str):
        return value
    if node is None:
        return "?"
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


def table_label(call: Call, param: str = "table_name") -> str:
    """The table an operation acts on, as messages name it (``schema.table`` when given)."""
    batch = call.receiver == "batch_op"
    name = (call.batch_table or "?") if batch else node_label(call.param(param))
    schema = call.string("schema") if call.receiver == "op" else None
    return f"{schema}.{name}" if schema else name


def column_label(call: Call, column: str | None = None) -> str:
    """``table.column`` for an operation on a column."""
    name = column if column is not None else call.column
    if name is None:
        name = node_label(call.param("column_name"))
    return f"{table_label(call)}.{name}"


def describe(node: ast.AST, limit: int = 50) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."
