"""What the unbounded-delete and unbounded-update rules read alike.

Both look for a statement that touches every row of a table: in SQL text (a verb without a
real ``WHERE``) and in SQLAlchemy constructs (``sa.delete(t)``, ``t.update()``,
``session.query(M).delete()``) with no ``.where(...)``/``.filter(...)`` in the chain. Only the
verb and the wording differ, so the chain reading and the call walk live here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import NamedTuple

from flask_safemigrate.lint.calls import Call, dotted, literal
from flask_safemigrate.lint.helpers.functions import direction_functions
from flask_safemigrate.lint.helpers.timeline import Timeline
from flask_safemigrate.lint.model import Migration, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.sql import ident

#: A ``WHERE`` that bounds nothing (``WHERE true``, ``WHERE 1=1``), optionally ``RETURNING``.
TRIVIAL_WHERE = compiled_later(
    r"\bWHERE (?:TRUE|1 ?= ?1|'' ?= ?'')(?: RETURNING\b.*)?$", re.IGNORECASE
)
_FILTERS = frozenset({"where", "filter", "filter_by"})


def construct_target(
    node: ast.AST, verb: str, sa_modules: frozenset[str]
) -> tuple[bool, ast.expr | None, bool] | None:
    """For a SQLAlchemy ``verb`` construct: ``(bounded, table node, is_orm_query)``, else ``None``.

    Recognises ``sa.<verb>(t)``, ``<verb>(t)``, ``t.<verb>()`` and
    ``session.query(M)...<verb>(...)``, with any chain of method calls around them;
    ``sa_modules`` are the module names the function form may be called on.
    """
    chain: list[tuple[str, ast.Call]] = []
    current: ast.AST = node
    while isinstance(current, ast.Call):
        func = current.func
        if isinstance(func, ast.Attribute):
            chain.append((func.attr, current))
            current = func.value
        elif isinstance(func, ast.Name):
            chain.append((func.id, current))
            current = func
            break
        else:
            break
    names = [name for name, _ in chain]
    if verb not in names:
        return None
    index = names.index(verb)
    construct = chain[index][1]
    bounded = any(name in _FILTERS for name in names) or any(
        kw.arg == "whereclause" for kw in construct.keywords
    )
    root = dotted(current) if isinstance(current, ast.Name | ast.Attribute) else None
    if index == len(chain) - 1 and (isinstance(construct.func, ast.Name) or root in sa_modules):
        table = construct.args[0] if construct.args else None
        return bounded or len(construct.args) > 1, table, False
    if "query" in names[index + 1 :]:
        return bounded, None, True
    owner = construct.func.value if isinstance(construct.func, ast.Attribute) else None
    return bounded or bool(construct.args), owner, False


def table_of(node: ast.expr | None) -> str | None:
    """``users`` for ``users``, ``self.users``, ``sa.table("users", ...)``."""
    if isinstance(node, ast.Call) and node.args:
        value = literal(node.args[0])
        return value if isinstance(value, str) else None
    if isinstance(node, ast.Name | ast.Attribute):
        name = dotted(node)
        return name.rsplit(".", 1)[-1] if name else None
    return None


def method_calls(migration: Migration) -> Iterator[tuple[ast.Call, str, Call | None]]:
    """Every ``x.method(...)`` call in the direction functions, parents first: the node, the
    method's name, and the call's record (``None`` for a call the index does not record)."""
    by_node = {id(call.node): call for call in migration.calls}
    for function in direction_functions(migration):
        for node in migration.index.calls_in(function):
            if isinstance(node.func, ast.Attribute):
                yield node, node.func.attr, by_node.get(id(node))


def executed(
    node: ast.Call, call: Call | None, line: Timeline
) -> tuple[ast.expr, frozenset[str]] | None:
    """What an ``execute`` call runs and the tables the function created before it
    (``None`` when it runs nothing that can be read)."""
    created = line.before(call).tables if call is not None else frozenset()
    argument = call.sql_node if call is not None else (node.args[0] if node.args else None)
    return None if argument is None else (argument, created)


class Construct(NamedTuple):
    """A SQLAlchemy ``verb`` construct that is executed: whether it touches every row of a
    table the function did not create, and the table's name where it shows."""

    unbounded: bool
    table: str | None


def executed_construct(
    argument: ast.expr, verb: str, sa_modules: frozenset[str], created: frozenset[str]
) -> Construct | None:
    """:func:`construct_target` for an executed statement; ``None`` when it is no ``verb``
    construct (the statement may still be SQL text)."""
    target = construct_target(argument, verb, sa_modules)
    if target is None:
        return None
    bounded, table_node, _ = target
    table = table_of(table_node)
    return Construct(not bounded and (table is None or ident(table) not in created), table)


#: What :func:`verb_uses` found: a filterless ORM query, an executed construct without
#: ``.where()``, or an executed statement the rule reads as SQL.
QUERY, CONSTRUCT, SQL = "query", "construct", "sql"


class VerbUse(NamedTuple):
    """One place that may touch every row: its kind (``QUERY``, ``CONSTRUCT``, ``SQL``), the
    call, the index's record of it, the construct's table (``CONSTRUCT``), the executed
    argument and the tables the function created before it (``SQL``)."""

    kind: str
    node: ast.Call
    call: Call | None
    table: str | None
    argument: ast.expr | None
    created: frozenset[str]

    def violation(self, query: str, construct: str) -> Violation:
        """The finding of a ``QUERY`` or ``CONSTRUCT`` use, worded by the rule: ``construct``
        names the table as ``{table}``."""
        table = self.table or "the table"
        message = query if self.kind == QUERY else construct.format(table=table)
        return Violation(message, node=self.node)


def verb_uses(
    migration: Migration, verb: str, sa_modules: frozenset[str], line: Timeline
) -> Iterator[VerbUse]:
    """The ``verb`` (``delete``, ``update``) uses of the direction functions that may touch
    every row, in call order: ``query.<verb>()`` without a filter, an executed ``<verb>``
    construct without ``.where()`` on a table the function did not create, and every other
    executed statement, for the rule to read its SQL."""
    for node, method, call in method_calls(migration):
        if method == "execute":
            executes = executed(node, call, line)
            if executes is None:
                continue
            argument, created = executes
            construct = executed_construct(argument, verb, sa_modules, created)
            if construct is None:
                yield VerbUse(SQL, node, call, None, argument, created)
            elif construct.unbounded:
                yield VerbUse(CONSTRUCT, node, call, construct.table, argument, created)
        elif method == verb:
            target = construct_target(node, verb, sa_modules)
            if target is not None and target[2] and not target[0]:
                yield VerbUse(QUERY, node, call, None, None, frozenset())
