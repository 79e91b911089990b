"""What one walk over a script found (:mod:`index` builds it): the types rules read.

:class:`ScriptIndex` holds a script's operation calls, its migration functions with every call
expression in them, and :attr:`ScriptIndex.facts`, the names the script uses; :func:`op_facts`
spells the facts a rule declares in :attr:`model.Rule.requires`. Kept apart from the walk so
that the types and the walk each stay a module a reader takes in at once.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from flask_safemigrate.lint.calls import ALL_DIALECTS, Call, guard_aliases, nodes_below

__all__ = [
    "EXECUTE",
    "FunctionIndex",
    "FunctionNode",
    "ScriptIndex",
    "op_fact",
    "op_facts",
]

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def op_fact(receiver: str, name: str, *, upgrade: bool = False) -> str:
    """The fact that the script has a ``receiver.name(...)`` operation (in ``upgrade()``)."""
    return f"upgrade:{receiver}.{name}" if upgrade else f"{receiver}.{name}"


def op_facts(
    *names: str, receivers: tuple[str, ...] = ("op", "batch_op"), upgrade: bool = False
) -> frozenset[str]:
    """:func:`op_fact` for each name and receiver: one of the operations, on any of them."""
    return frozenset(op_fact(r, n, upgrade=upgrade) for n in names for r in receivers)


EXECUTE = ("op", "batch_op", "connection")  # receivers that have execute()


@dataclass
class FunctionIndex:
    """One ``upgrade``/``downgrade`` function (or multi-db ``upgrade_<bind>``)."""

    direction: str
    node: FunctionNode
    calls: list[Call] = field(default_factory=list)
    # Every call expression in the function (decorators and defaults too); parents before
    # children, so the order of findings at one position matches ``ast.walk``.
    call_nodes: list[ast.Call] = field(default_factory=list)
    # False when an ``if`` can guard a call in a way only a full scan sees: a ``match``
    # statement, or a nested function's return annotation (see missing-existence-check).
    regular: bool = True


@dataclass
class ScriptIndex:
    """What one walk over a script found; rules read it instead of walking the tree."""

    tree: ast.Module
    calls: list[Call]
    functions: list[FunctionIndex]
    # Every identifier of the migration functions (names, attributes, keyword arguments,
    # and ``nullable=False`` for a keyword given a literal True, False or None), every
    # imported module segment and name in the script, and one fact per operation,
    # ``op.add_column`` and ``upgrade:op.add_column``.
    facts: frozenset[str]
    upgrade_calls: list[Call]
    downgrade_calls: list[Call]
    # The ``if`` statements (by ``id``) whose condition calls.py takes for an existence check.
    guard_ifs: set[int] = field(default_factory=set, repr=False, compare=False)
    # Statements only some dialects run (inside ``if bind.dialect.name == ...:`` or after an
    # early ``return`` on one): ``(first line, last line, dialects)``, outer ones first.
    dialect_ranges: list[tuple[int, int, frozenset[str]]] = field(
        default_factory=list, repr=False, compare=False
    )
    # Tables made other than by op.create_table: a project's create_table() helper,
    # metadata.create_all(bind), table.create(bind): (direction, line, table).
    creations: list[tuple[str, int, str]] = field(default_factory=list, repr=False, compare=False)
    # Per-script results that several rules share (see engine.Migration.shared).
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def guard_aliases(self) -> frozenset[str]:
        """:func:`calls.guard_aliases` of the script (computed once)."""
        aliases = self.cache.get("guard_aliases")
        if aliases is None:
            aliases = self.cache["guard_aliases"] = guard_aliases(self.tree)
        return aliases

    def dialects_at(self, line: int) -> frozenset[str]:
        """The dialects that run the statement at ``line`` (all, outside dialect branches)."""
        reach = ALL_DIALECTS
        for first, last, dialects_of in self.dialect_ranges:
            if first <= line <= last:
                reach = reach & dialects_of
        return reach

    def call_of(self, node: ast.AST | None) -> Call | None:
        """The operation call whose expression is ``node`` (one read through a helper or a
        loop knows its own dialects and direction better than its line does)."""
        by_node = self.cache.get("call_of")
        if by_node is None:
            by_node = self.cache["call_of"] = {id(call.node): call for call in self.calls}
        found: Call | None = by_node.get(id(node))
        return found

    def direction_at(self, line: int) -> str | None:
        """``upgrade``/``downgrade`` when ``line`` is inside such a function, else ``None``."""
        for function in self.functions:
            node = function.node
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first <= line <= (node.end_lineno or node.lineno):
                return function.direction
        return None

    def calls_in(self, function: ast.AST) -> list[ast.Call]:
        """Every call expression in a migration function, parents before children (what a
        walk over the function would meet, without walking it)."""
        for indexed in self.functions:
            if indexed.node is function:
                return indexed.call_nodes
        return [node for node in nodes_below(function) if isinstance(node, ast.Call)]
