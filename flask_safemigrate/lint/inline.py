"""Reading through a script's own indirections: helper functions and loops over literals.

Real migrations wrap operations: ``def add_columns(table): op.add_column(table, ...)`` called
from ``upgrade()``, or ``for name in ("a", "b"): op.drop_column("t", name)``. Left unread, the
wrapped operations are either missed or misread (a table called ``table``, a column ``?``).
The index walks a helper's body where ``upgrade()`` calls it, and a loop's body once per item,
and each operation call it finds there carries the literals its parameters (or the loop
variable) hold (:attr:`calls.Call.bindings`), which :meth:`calls.Call.resolve` reads. Only
literals are bound; anything else keeps its name, so nothing is invented.
"""

from __future__ import annotations

import ast
from typing import Any

from flask_safemigrate.lint.calls import direction_of, dotted, is_missing, literal

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

#: How deep helpers calling helpers are followed, and how many items a loop is unrolled for.
MAX_DEPTH = 3
MAX_ITEMS = 32
#: How many (helper, arguments) readings one script gets: a generated script may call one
#: helper hundreds of times.
MAX_FOLLOWED = 64


def multidb_shape(tree: ast.Module) -> bool:
    """Whether the script is Flask-Migrate's multi-database template: ``upgrade(engine_name)``
    dispatching to ``upgrade_<bind>()``. Only then is ``upgrade_<x>`` a migration function."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in {
            "upgrade",
            "downgrade",
        }:
            return bool(node.args.args or node.args.posonlyargs)
    return True  # no plain upgrade(): the bind functions are the migration (older templates)


def migration_direction(name: str, multidb: bool) -> str | None:
    """The direction of a module-level function: ``upgrade``/``downgrade``, and with the
    multi-database shape ``upgrade_<bind>``/``downgrade_<bind>``; ``None`` for a helper."""
    if name in {"upgrade", "downgrade"}:
        return name
    return direction_of(name) if multidb else None


def helpers(tree: ast.Module, multidb: bool) -> dict[str, FunctionNode]:
    """The module-level functions that are not migration functions, by name."""
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and migration_direction(node.name, multidb) is None
    }


def _value(node: ast.expr) -> Any:
    """The literal ``node`` holds (a string, number, or a tuple/list of them), or missing."""
    value = literal(node)
    if isinstance(value, str | int | float | bool | tuple | list):
        return value
    return _MISSING_VALUE


_MISSING_VALUE = literal(None)


def bound_parameters(helper: FunctionNode, call: ast.Call) -> dict[str, ast.expr]:
    """Each parameter of ``helper`` and the expression ``call`` binds it to: its argument,
    else its default; none past a ``*args`` in the call (which argument lands where is
    unknown) and none for ``**kwargs``."""
    spec = helper.args
    params = [*spec.posonlyargs, *spec.args]
    given: dict[str, ast.expr] = {}
    defaults = spec.defaults
    for param, default in zip(params[len(params) - len(defaults) :], defaults, strict=True):
        given[param.arg] = default
    for param, kw_default in zip(spec.kwonlyargs, spec.kw_defaults, strict=True):
        if kw_default is not None:
            given[param.arg] = kw_default
    for param, arg in zip(params, call.args, strict=False):
        if isinstance(arg, ast.Starred):
            break
        given[param.arg] = arg
    for kw in call.keywords:
        if kw.arg is not None:
            given[kw.arg] = kw.value
    return given


def arguments(helper: FunctionNode, call: ast.Call) -> dict[str, Any]:
    """Each parameter of ``helper`` bound to the literal ``call`` gives it (or its literal
    default); parameters given anything else are left out."""
    out: dict[str, Any] = {}
    for name, node in bound_parameters(helper, call).items():
        value = _value(node)
        if not is_missing(value):
            out[name] = value
    return out


def aliases(helper: FunctionNode, call: ast.Call) -> dict[str, str]:
    """Parameters given a plain name (``add_columns(batch_op)``): parameter -> that name."""
    params = [*helper.args.posonlyargs, *helper.args.args]
    out = {
        param.arg: arg.id
        for param, arg in zip(params, call.args, strict=False)
        if isinstance(arg, ast.Name)
    }
    out.update(
        {kw.arg: kw.value.id for kw in call.keywords if kw.arg and isinstance(kw.value, ast.Name)}
    )
    return out


def loop_items(stmt: ast.For | ast.AsyncFor) -> list[dict[str, Any]] | None:
    """For ``for x in ("a", "b"):`` (or ``for x, y in [("a", 1), ...]``): the loop variable's
    literal on each turn; ``None`` when the loop is not over a short literal collection."""
    iterable = stmt.iter
    if not isinstance(iterable, ast.Tuple | ast.List | ast.Set):
        return None
    items = iterable.elts
    if not items or len(items) > MAX_ITEMS:
        return None
    target = stmt.target
    turns: list[dict[str, Any]] = []
    for item in items:
        if isinstance(target, ast.Name):
            value = _value(item)
            if is_missing(value):
                return None
            turns.append({target.id: value})
        elif (
            isinstance(target, ast.Tuple | ast.List)
            and all(isinstance(t, ast.Name) for t in target.elts)
            and isinstance(item, ast.Tuple | ast.List)
            and len(item.elts) == len(target.elts)
        ):
            turn: dict[str, Any] = {}
            for name, element in zip(target.elts, item.elts, strict=True):
                value = _value(element)
                if is_missing(value):
                    return None
                turn[name.id] = value  # type: ignore[attr-defined]
            turns.append(turn)
        else:
            return None
    return turns


def module_constants(tree: ast.Module) -> dict[str, Any]:
    """Names the script binds once, at module level, to a literal (``TABLE = "users"``), and
    ``Model.__tablename__`` of the classes it defines: constants wherever they are read.

    A name bound anywhere else as well (a function's local of the same name, a loop) is left
    out, so a constant is never read where another value may hide it."""
    candidates = {
        stmt.targets[0].id
        for stmt in tree.body
        if isinstance(stmt, ast.Assign)
        and len(stmt.targets) == 1
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.Constant | ast.Tuple | ast.List | ast.UnaryOp)
    } | {
        stmt.target.id
        for stmt in tree.body
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
    }
    candidates -= {"revision", "down_revision", "branch_labels", "depends_on"}
    if not candidates and not any(isinstance(stmt, ast.ClassDef) for stmt in tree.body):
        return {}  # nothing literal at module level: skip the walk
    stores = _stores(tree)
    found: dict[str, Any] = {}
    for stmt in tree.body:
        target: ast.expr | None = None
        value_node: ast.expr | None = None
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target, value_node = stmt.targets[0], stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            target, value_node = stmt.target, stmt.value
        elif isinstance(stmt, ast.ClassDef):
            for item in stmt.body:
                if (
                    isinstance(item, ast.Assign)
                    and len(item.targets) == 1
                    and isinstance(item.targets[0], ast.Name)
                    and item.targets[0].id == "__tablename__"
                ):
                    value = _value(item.value)
                    if isinstance(value, str):
                        found[f"{stmt.name}.__tablename__"] = value
            continue
        if isinstance(target, ast.Name) and value_node is not None and stores.get(target.id) == 1:
            value = _value(value_node)
            if not is_missing(value):
                found[target.id] = value
    return found


def table_definitions(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """``name = sa.Table("accounts", metadata, ...)`` anywhere in the script: the variable,
    the table's name and the metadata expression it is defined on."""
    found: dict[str, tuple[str, str]] = {}
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Call)
            and (dotted(node.value.func) or "").rsplit(".", 1)[-1] == "Table"
            and len(node.value.args) >= 2
        ):
            continue
        name = literal(node.value.args[0])
        metadata = dotted(node.value.args[1])
        if isinstance(name, str) and metadata:
            found[node.targets[0].id] = (name, metadata)
    found.update(_declarative_tables(tree))
    return found


def _declarative_tables(tree: ast.Module) -> dict[str, tuple[str, str]]:
    """``class Report(Base): __tablename__ = "reports"`` at module level: the class, its
    table and ``Base.metadata`` (the base made by ``declarative_base()`` or subclassing
    ``DeclarativeBase`` when the script has one, else the last base class)."""
    bases: set[str] = set()
    classes: list[ast.ClassDef] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef):
            classes.append(stmt)
            if any((dotted(b) or "").endswith("DeclarativeBase") for b in stmt.bases):
                bases.add(stmt.name)
        elif (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Call)
            and (dotted(stmt.value.func) or "").endswith("declarative_base")
        ):
            bases.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    found: dict[str, tuple[str, str]] = {}
    for cls in classes:
        table = next(
            (
                literal(stmt.value)
                for stmt in cls.body
                if isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__tablename__" for t in stmt.targets)
            ),
            None,
        )
        names = [n for n in (dotted(b) for b in cls.bases) if n]
        base = next((n for n in names if n in bases), names[-1] if names else None)
        if isinstance(table, str) and base:
            found[cls.name] = (table, f"{base}.metadata")
    return found


def listed_tables(node: ast.expr, tree: ast.Module) -> set[str] | None:
    """The variables and classes a ``create_all(tables=...)`` argument lists (``[t, C.__table__]``,
    or a module-level name bound to such a list); ``None`` when it cannot be read."""
    if isinstance(node, ast.Name):
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign):
                targets, value = stmt.targets, stmt.value
            elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                targets, value = [stmt.target], stmt.value
            else:
                continue
            if any(isinstance(t, ast.Name) and t.id == node.id for t in targets):
                return listed_tables(value, tree)
        return None
    if not isinstance(node, ast.List | ast.Tuple):
        return None
    names: set[str] = set()
    for element in node.elts:
        if isinstance(element, ast.Name):
            names.add(element.id)
        elif isinstance(element, ast.Attribute) and element.attr == "__table__":
            owner = dotted(element.value)
            if owner is None:
                return None
            names.add(owner)
        else:
            return None
    return names


def _stores(tree: ast.Module) -> dict[str, int]:
    """How often each name is bound in the module: assignment targets, loop and ``with``
    variables, function parameters. Statements only (a walrus inside an expression is not
    counted), which keeps this far cheaper than walking every expression."""
    stores: dict[str, int] = {}

    def bind(target: ast.AST, weight: int = 1) -> None:
        if isinstance(target, ast.Name):
            stores[target.id] = stores.get(target.id, 0) + weight
        elif isinstance(target, ast.Tuple | ast.List | ast.Starred):
            for element in ast.iter_child_nodes(target):
                bind(element, weight)

    stack: list[ast.stmt] = list(tree.body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                bind(target)
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
            bind(stmt.target)
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            for item in stmt.items:
                if item.optional_vars is not None:
                    bind(item.optional_vars)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            spec = stmt.args
            for arg in [*spec.posonlyargs, *spec.args, *spec.kwonlyargs]:
                stores[arg.arg] = stores.get(arg.arg, 0) + 2
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, list):
                stack.extend(s for s in inner if isinstance(s, ast.stmt))
        for handler in getattr(stmt, "handlers", None) or ():
            stack.extend(handler.body)
    return stores
