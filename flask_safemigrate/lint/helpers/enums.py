"""Enum types in operations: ``sa.Enum``/``postgresql.ENUM`` constructors, their names and
the variables that hold them.
"""

from __future__ import annotations

import ast

from flask_safemigrate.lint.calls import (
    dotted,
    keyword,
    literal,
)
from flask_safemigrate.lint.helpers.bindings import module_assignments
from flask_safemigrate.lint.model import Migration


def enum_constructor(node: ast.AST) -> bool:
    """``sa.Enum(...)`` / ``postgresql.ENUM(...)`` (not the standard library's ``enum.Enum``)."""
    if not isinstance(node, ast.Call):
        return False
    name = dotted(node.func) or ""
    return name.rsplit(".", 1)[-1] in {"Enum", "ENUM"} and not name.startswith("enum.")


def enum_name(call: ast.Call) -> str | None:
    """The database type name of an enum: ``name=``, else derived from a Python enum class."""
    name = literal(keyword(call, "name"))
    if isinstance(name, str):
        return name
    if call.args and not isinstance(call.args[0], ast.Constant | ast.Starred):
        source = dotted(call.args[0])
        if source:
            return source.rsplit(".", 1)[-1].lower()
    return None


def enum_variables(migration: Migration) -> dict[str, ast.Call]:
    """Names bound to enum constructors anywhere in the script (module level or in functions)."""
    found: dict[str, ast.Call] = {}
    for name, bindings in module_assignments(migration).items():
        for _, value in bindings:
            if enum_constructor(value):
                assert isinstance(value, ast.Call)
                found[name] = value
    return found


def enum_of(node: ast.AST, variables: dict[str, ast.Call]) -> ast.Call | None:
    if enum_constructor(node):
        assert isinstance(node, ast.Call)
        return node
    if isinstance(node, ast.Name):
        return variables.get(node.id)
    return None


def type_name(raw: str) -> str:
    """A SQL type identifier as PostgreSQL stores it: schema dropped, unquoted folded."""
    last = raw.strip().rsplit(".", 1)[-1].strip()
    if len(last) >= 2 and last[0] == last[-1] == '"':
        return last[1:-1]
    return last.lower()
