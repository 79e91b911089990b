"""What a name in a migration function is bound to before a given line (assignments in
source order): SQL built into a variable is still SQL.
"""

from __future__ import annotations

import ast

from flask_safemigrate.lint.calls import (
    nodes_below,
)
from flask_safemigrate.lint.helpers.functions import module_nodes_of
from flask_safemigrate.lint.model import Migration


def assignments(scope: ast.AST) -> dict[str, list[tuple[int, ast.expr]]]:
    """Simple ``name = value`` bindings below ``scope``, by name, in source order."""
    return _assignments_in(nodes_below(scope))


def module_assignments(migration: Migration) -> dict[str, list[tuple[int, ast.expr]]]:
    """``assignments(migration.tree)``, found once per script for the rules that read it
    (from the module's nodes, which other rules walk too). Read it, never change it."""
    return migration.shared(
        "module-assignments",
        lambda: _assignments_in(module_nodes_of(migration, ast.Assign, ast.AnnAssign)),
    )


def _assignments_in(nodes: list[ast.AST]) -> dict[str, list[tuple[int, ast.expr]]]:
    found: dict[str, list[tuple[int, ast.expr]]] = {}
    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, []).append((node.lineno, node.value))
        elif (
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
        ):
            found.setdefault(node.target.id, []).append((node.lineno, node.value))
    for bindings in found.values():
        bindings.sort(key=lambda b: b[0])
    return found


def value_before(
    bindings: dict[str, list[tuple[int, ast.expr]]], name: str, line: int
) -> ast.expr | None:
    """The value last assigned to ``name`` before ``line``."""
    value = None
    for at, node in bindings.get(name, ()):
        if at >= line:
            break
        value = node
    return value


class Bindings:
    """The simple assignments of one function, read on first use."""

    def __init__(self, scope: ast.AST) -> None:
        self.scope = scope
        self._found: dict[str, list[tuple[int, ast.expr]]] | None = None

    def before(self, name: str, line: int) -> ast.expr | None:
        """The value last assigned to ``name`` before ``line``."""
        if self._found is None:
            self._found = assignments(self.scope)
        return value_before(self._found, name, line)


def is_str_expr(
    node: ast.AST | None,
    bindings: Bindings,
    line: int,
    depth: int = 0,
) -> bool:
    """Whether ``node`` evaluates to a Python ``str`` (not a SQLAlchemy construct)."""
    if node is None or depth > 8:
        return False
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return is_str_expr(node.left, bindings, line, depth + 1) or is_str_expr(
            node.right, bindings, line, depth + 1
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return is_str_expr(node.left, bindings, line, depth + 1)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"format", "format_map", "join", "strip", "replace"}
    ):
        return is_str_expr(node.func.value, bindings, line, depth + 1)
    if isinstance(node, ast.Name):
        return is_str_expr(bindings.before(node.id, line), bindings, line, depth + 1)
    return False
