"""Reading the arguments of an operation call: names, ``**kwargs``, a column's name."""

from __future__ import annotations

import ast
from typing import Any

from flask_safemigrate.lint.calls import (
    keyword,
    literal,
)


def name_value(node: ast.expr | None) -> Any:
    """The literal value of a name argument; also unwraps ``batch_op.f("...")``."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "f"
        and len(node.args) == 1
    ):
        node = node.args[0]
    return literal(node)


def has_kwargs(node: ast.Call) -> bool:
    """Whether the call passes ``**kwargs``, which may hold any keyword."""
    return any(kw.arg is None for kw in node.keywords)


def column_name(column: ast.Call) -> str:
    name = literal(column.args[0]) if column.args else literal(keyword(column, "name"))
    return name if isinstance(name, str) else "?"
