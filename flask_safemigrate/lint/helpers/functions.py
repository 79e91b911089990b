"""The migration functions of a script (``upgrade``/``downgrade`` and the multi-database
``upgrade_<bind>`` ones), their calls and their statements.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import (
    Call,
    dotted,
    nodes_below,
)
from flask_safemigrate.lint.inline import migration_direction, multidb_shape
from flask_safemigrate.lint.model import Migration


def direction_functions(migration: Migration) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """The module's ``upgrade``/``downgrade`` functions (and multi-db ``upgrade_<bind>``):
    the index's, which :func:`migration_functions` of the same tree would list again."""
    for function in migration.index.functions:
        yield function.node


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def module_nodes(migration: Migration) -> list[ast.AST]:
    """Every node of the script, as ``ast.walk(migration.tree)`` gives them (without the
    expression contexts and operators): walked once per script for every rule that reads the
    whole module, not once per rule."""
    return migration.shared("module-nodes", lambda: nodes_below(migration.tree))


def module_nodes_of(migration: Migration, *kinds: type[ast.AST]) -> list[ast.AST]:
    """The nodes of :func:`module_nodes` whose class is one of ``kinds``, in the same order.

    Sorted by class once per script, so a rule that wants the ``try`` statements or the
    calls reads those alone, not every node of the module with an ``isinstance`` test each.
    ``ast.parse`` makes nodes of the exact classes (no subclasses), so the class is the test.
    """
    by_kind = migration.shared("module-nodes-by-kind", lambda: _by_kind(module_nodes(migration)))
    found = [by_kind[kind] for kind in kinds if kind in by_kind]
    if not found:
        return []
    if len(found) == 1:
        return found[0]
    position = migration.shared(
        "module-node-positions",
        lambda: {id(node): index for index, node in enumerate(module_nodes(migration))},
    )
    return sorted((node for nodes in found for node in nodes), key=lambda n: position[id(n)])


def _by_kind(nodes: list[ast.AST]) -> dict[type[ast.AST], list[ast.AST]]:
    found: dict[type[ast.AST], list[ast.AST]] = {}
    for node in nodes:
        bucket = found.get(node.__class__)
        if bucket is None:
            found[node.__class__] = [node]
        else:
            bucket.append(node)
    return found


def migration_functions(tree: ast.Module) -> list[tuple[str, FunctionNode]]:
    """Module-level ``upgrade``/``downgrade`` (and multi-db ``upgrade_<bind>``) with direction.

    ``upgrade_<x>`` counts only in the multi-database template's shape; elsewhere it is a
    helper that ``upgrade()`` calls (the index reads it there)."""
    found = []
    multidb = multidb_shape(tree)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            direction = migration_direction(node.name, multidb)
            if direction is not None:
                found.append((direction, node))
    return found


def calls_by_function(migration: Migration) -> list[tuple[str, FunctionNode, list[Call]]]:
    """The collected calls grouped by the function that holds them, in source order."""
    if migration.own_index:  # the walk grouped them already
        return [(f.direction, f.node, f.calls) for f in migration.index.functions]
    grouped = []
    for direction, function in migration_functions(migration.tree):
        start, end = function.lineno, function.end_lineno or function.lineno
        calls = [c for c in migration.calls if start <= c.line <= end]
        grouped.append((direction, function, calls))
    return grouped


def last_name(node: ast.AST) -> str:
    """The last segment of a dotted callee (``sa.Column`` -> ``Column``), else ``""``."""
    name = dotted(node)
    return name.rsplit(".", 1)[-1] if name else ""


def statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement below ``body`` (nested blocks and functions too), no expressions.

    Depth first, each statement before the ones inside it (``body``, ``orelse``,
    ``finalbody``, then those of ``except`` and ``case`` clauses).
    """
    found: list[ast.stmt] = []
    pending = list(reversed(body))
    while pending:
        stmt = pending.pop()
        found.append(stmt)
        inside: list[ast.stmt] = []
        for field_name in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(stmt, field_name, None)
            if not isinstance(inner, list):
                continue
            for item in inner:
                if isinstance(item, ast.stmt):
                    inside.append(item)
                elif isinstance(item, ast.ExceptHandler | ast.match_case):
                    inside.extend(item.body)
        pending.extend(reversed(inside))
    return iter(found)
