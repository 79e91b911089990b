"""How messages name the objects an operation acts on (``schema.table``, ``table.column``)."""

from __future__ import annotations

import ast

from flask_safemigrate.lint.calls import (
    Call,
    literal,
)


def node_label(node: ast.AST | None, call: Call | None = None) -> str:
    """A name as messages show it: its value when the script gives it (a literal, a script
    constant, a helper's literal argument), else the expression that holds it, in backticks
    (``drops table `table_name```), so the reader knows which variable to look at."""
    value = literal(node) if call is None else call.resolve(node)
    if isinstance(value, str):
        return value
    if node is None:
        return "?"
    text = ast.unparse(node)
    text = text if len(text) <= 40 else text[:37] + "..."
    return text if isinstance(node, ast.Call | ast.Constant) else f"`{text}`"


def object_label(call: Call, kind: str, param: str) -> str:
    """``index ix_users_email``, ``index `name```, or ``an index`` when none is given."""
    node = call.param(param)
    value = call.resolve(node)
    if isinstance(value, str):
        return f"{kind} {value}"
    if node is None or value is None:
        return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"
    return f"{kind} {node_label(node, call)}"


def table_label(call: Call, param: str = "table_name") -> str:
    """The table an operation acts on, as messages name it (``schema.table`` when given)."""
    batch = call.receiver == "batch_op"
    if batch:
        name = call.batch_table or (f"`{call.batch_source}`" if call.batch_source else "?")
    else:
        name = node_label(call.param(param), call)
    schema = call.string("schema") if call.receiver == "op" else None
    return f"{schema}.{name}" if schema else name


def column_label(call: Call, column: str | None = None) -> str:
    """``table.column`` for an operation on a column."""
    name = column if column is not None else call.column
    if name is None:
        name = node_label(call.param("column_name"), call)
    return f"{table_label(call)}.{name}"


def describe(node: ast.AST, limit: int = 50) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."
