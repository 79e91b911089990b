"""The ``sa.Column(...)`` an ``add_column`` adds, wherever the script builds it.

:func:`alter_ops.added_columns` reads a column written inside the call. Scripts also build
it elsewhere: in a variable (``column = sa.Column(...)``, then the same column handed to
``batch_op`` on SQLite and ``op`` elsewhere), in a helper that returns it
(``def _workspace_column(): return sa.Column(...)``), in a list the upgrade loops over, and
with keywords given as ``**{"nullable": False}``. :func:`added_column_defs` reads those
too, and :meth:`AddedColumn.value` a keyword's literal through them. A name is read only
where its function (or, failing that, the module) binds it exactly once, so a value that
may differ where the call runs is never taken for the one it has.
"""

from __future__ import annotations

import ast
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

from flask_safemigrate.lint.calls import Call, cached, dotted, is_missing, literal
from flask_safemigrate.lint.helpers.alter_ops import column_name, ops
from flask_safemigrate.lint.helpers.functions import module_nodes_of
from flask_safemigrate.lint.inline import bound_parameters
from flask_safemigrate.lint.model import Migration

_MISSING = literal(None)
_DEPTH = 3
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef
#: What a name is bound to in a scope: the assigned expression, ``("for", iterable)`` for a
#: loop variable, or ``None`` for a binding whose value is not read (a parameter, a ``with``
#: target, an import, a tuple unpacked).
Binding = ast.expr | tuple[str, ast.expr] | None
Scopes = tuple[dict[str, list[Binding]], ...]


class AddedColumn:
    """One column an ``add_column`` call adds."""

    def __init__(
        self,
        migration: Migration,
        call: Call,
        column: ast.Call,
        helper: Mapping[str, Any] | None = None,
        scopes: Scopes | None = None,
    ) -> None:
        # Weakly: these live in the script's shared cache (see helpers/timeline.py).
        self._migration = weakref.ref(migration)
        self.call = call
        self.column = column
        #: For a column a helper returns: its parameters given literals where it is called
        #: (``None``: the column is built where the call is, whose bindings name its values).
        self.helper = helper
        self._scopes = scopes

    @cached
    def scopes(self) -> Scopes:
        """Where names of the column's expressions are looked up, innermost first."""
        migration = self._migration()
        if self._scopes is not None or migration is None:
            return self._scopes or ()
        return scopes_at(migration, self.column)

    def keyword(self, name: str) -> ast.expr | None:
        """The expression given for keyword ``name``: written out, or in a ``**{...}`` dict
        (literal, or a name bound once to one); ``None`` when the column does not give it."""
        for kw in self.column.keywords:
            if kw.arg == name:
                return kw.value
        for kw in self.column.keywords:
            if kw.arg is None:
                mapping = self._dict_of(kw.value)
                if mapping is not None and name in mapping:
                    return mapping[name]
        return None

    def value(self, name: str) -> Any:
        """The literal of keyword ``name`` (read through names bound once to a literal), or
        ``_MISSING`` (see :func:`calls.is_missing`) when it is absent or not a literal."""
        return self.resolve(self.keyword(name))

    def resolve(self, node: ast.expr | None) -> Any:
        """:func:`calls.literal` of ``node``, reading a name through the helper's arguments,
        the literals the call's place binds, or a single assignment of a literal."""
        if self.helper is None:
            value = self.call.resolve(node)
        else:
            value = literal(node)
            if is_missing(value) and isinstance(node, ast.Name) and node.id in self.helper:
                return self.helper[node.id]
        if not is_missing(value) or not isinstance(node, ast.Name):
            return value
        bound = single(self.scopes, node.id)
        if isinstance(bound, ast.expr) and not isinstance(bound, ast.Name):
            return literal(bound)
        return _MISSING

    @cached
    def name(self) -> str:
        """The column's name: its literal, else its expression in backticks, ``?`` if none."""
        return column_name(self.column, resolve=self.resolve)

    def _dict_of(self, node: ast.expr) -> dict[str, ast.expr] | None:
        if isinstance(node, ast.Name):
            bound = single(self.scopes, node.id)
            node = bound if isinstance(bound, ast.Dict) else node
        if not isinstance(node, ast.Dict):
            return None
        found: dict[str, ast.expr] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            text = literal(key) if key is not None else None
            if isinstance(text, str):
                found[text] = value
        return found


def is_column(node: ast.AST | None) -> bool:
    """Whether ``node`` is a ``Column(...)`` call (``sa.Column``, ``db.Column``, ...)."""
    return isinstance(node, ast.Call) and (dotted(node.func) or "").endswith("Column")


def added_column_defs(migration: Migration) -> list[AddedColumn]:
    """Every column an ``op``/``batch_op`` ``add_column`` adds, as far as the script says
    what it is (found once per script)."""

    def build() -> list[AddedColumn]:
        found: list[AddedColumn] = []
        for call in ops(migration, "add_column"):
            node = call.param("column")
            if isinstance(node, ast.Call) and is_column(node):
                found.append(AddedColumn(migration, call, node))
            elif node is not None:
                scopes = scopes_at(migration, node)
                found.extend(_columns_of(migration, call, node, scopes, None, _DEPTH))
        return found

    return migration.shared("locking.added_column_defs", build)


def _columns_of(
    migration: Migration,
    call: Call,
    node: ast.expr,
    scopes: Scopes,
    helper: Mapping[str, Any] | None,
    depth: int,
) -> Iterator[AddedColumn]:
    """The columns an expression stands for: ``Column(...)``; a name bound once to one, to
    a helper's column or as the variable of a loop over a list of them; a call of a helper
    of the script that returns one."""
    if depth <= 0:
        return
    if isinstance(node, ast.Call) and is_column(node):
        yield AddedColumn(migration, call, node, helper, scopes)
    elif isinstance(node, ast.Name):
        bound = single(scopes, node.id)
        if isinstance(bound, tuple):  # for name in <columns>:
            items = bound[1]
            if isinstance(items, ast.Name):
                listed = single(scopes, items.id)
                items = listed if isinstance(listed, ast.List | ast.Tuple) else items
            if isinstance(items, ast.List | ast.Tuple):
                for item in items.elts:
                    yield from _columns_of(migration, call, item, scopes, helper, depth - 1)
        elif bound is not None:
            yield from _columns_of(migration, call, bound, scopes, helper, depth - 1)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        function = _function(migration, node.func.id)
        returned = None if function is None else _returned(function)
        if function is None or returned is None:
            return
        given = _arguments(function, node, call, helper)
        inner = (function_scope(migration, function), scopes[-1])  # its names, the module's
        yield from _columns_of(migration, call, returned, inner, given, depth - 1)


def _function(migration: Migration, name: str) -> FunctionNode | None:
    """The module-level function ``name`` of the script, when it is defined once."""
    found = [
        node
        for node in migration.tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
    ]
    return found[0] if len(found) == 1 else None


def _returned(function: FunctionNode) -> ast.expr | None:
    """What a function returns when it has one ``return`` with a value (nested functions
    aside)."""
    returns = [
        stmt
        for stmt in own_statements(function.body)
        if isinstance(stmt, ast.Return) and stmt.value is not None
    ]
    return returns[0].value if len(returns) == 1 else None


def _arguments(
    function: FunctionNode, node: ast.Call, call: Call, outer: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The function's parameters bound to the literals the call gives them (or their
    literal defaults), the call's names read where it is (``outer``: inside a helper)."""
    out: dict[str, Any] = {}
    for name, value_node in bound_parameters(function, node).items():
        if outer is None:
            value = call.resolve(value_node)
        else:
            value = literal(value_node)
            if is_missing(value) and isinstance(value_node, ast.Name):
                value = outer.get(value_node.id, _MISSING)
        if not is_missing(value):
            out[name] = value
    return out


def scopes_at(migration: Migration, node: ast.AST) -> Scopes:
    """The scopes a name at ``node`` is looked up in: the functions that hold it, innermost
    first, then the module."""
    holders = [
        function
        for function in module_nodes_of(migration, ast.FunctionDef, ast.AsyncFunctionDef)
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) and _holds(function, node)
    ]
    holders.sort(key=lambda f: (f.lineno, f.col_offset), reverse=True)
    module = migration.shared("locking.module_scope", lambda: _bindings(migration.tree.body))
    return (*(function_scope(migration, f) for f in holders), module)


def _holds(function: ast.AST, node: ast.AST) -> bool:
    where = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
    start = (getattr(function, "lineno", 0), getattr(function, "col_offset", 0))
    end = (getattr(function, "end_lineno", 0) or 0, getattr(function, "end_col_offset", 0) or 0)
    return start <= where <= end


def function_scope(migration: Migration, function: FunctionNode) -> dict[str, list[Binding]]:
    """The names ``function`` binds (its parameters included), each with its bindings
    (found once per function and script)."""
    known: dict[int, dict[str, list[Binding]]] = migration.shared("locking.scopes", dict)
    found = known.get(id(function))
    if found is None:
        found = known[id(function)] = _bindings(function.body)
        spec = function.args
        for arg in [*spec.posonlyargs, *spec.args, *spec.kwonlyargs, spec.vararg, spec.kwarg]:
            if arg is not None:
                found.setdefault(arg.arg, []).append(None)
    return found


def single(scopes: Scopes, name: str) -> Binding:
    """What the innermost scope that binds ``name`` binds it to, when it does so once."""
    for scope in scopes:
        found = scope.get(name)
        if found is not None:
            return found[0] if len(found) == 1 else None
    return None


def _bindings(body: list[ast.stmt]) -> dict[str, list[Binding]]:
    """Every name the statements bind (nested functions' and classes' bodies aside)."""
    found: dict[str, list[Binding]] = {}

    def bind(target: ast.AST, value: Binding) -> None:
        if isinstance(target, ast.Name):
            found.setdefault(target.id, []).append(value)
        elif isinstance(target, ast.Tuple | ast.List | ast.Starred):
            for element in ast.iter_child_nodes(target):
                bind(element, None)

    for stmt in own_statements(body):
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                bind(target, stmt.value if len(stmt.targets) == 1 else None)
        elif isinstance(stmt, ast.AnnAssign):
            bind(stmt.target, stmt.value)
        elif isinstance(stmt, ast.AugAssign):
            bind(stmt.target, None)
        elif isinstance(stmt, ast.For | ast.AsyncFor):
            bind(stmt.target, ("for", stmt.iter) if isinstance(stmt.target, ast.Name) else None)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                if item.optional_vars is not None:
                    bind(item.optional_vars, None)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                found.setdefault((alias.asname or alias.name).split(".")[0], []).append(None)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.setdefault(stmt.name, []).append(None)
    return found


def own_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of ``body`` and of the blocks inside it, not those of nested
    functions and classes."""
    pending = list(reversed(body))
    while pending:
        stmt = pending.pop()
        yield stmt
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        inside: list[ast.stmt] = []
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, list):
                inside.extend(s for s in inner if isinstance(s, ast.stmt))
        for handler in getattr(stmt, "handlers", None) or ():
            inside.extend(handler.body)
        for case in getattr(stmt, "cases", None) or ():
            inside.extend(case.body)
        pending.extend(reversed(inside))
