"""The migration-operation model the rules read: every ``op.*``, ``batch_op.*`` and execute call.

A rule should not have to know that ``batch_op.drop_column("email")`` and
``op.drop_column("users", "email")`` are the same operation, whether an op sits behind an
existence check, or how SQL was spelled. :func:`collect_calls` walks ``upgrade()`` and
``downgrade()`` once and answers those questions for every call (the walk itself lives in
:mod:`flask_safemigrate.lint.index`, which indexes the rest of the script in the same pass).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

_MISSING: Any = object()
ALL_DIALECTS = frozenset({"postgresql", "mysql", "sqlite"})

# Positional parameters of Alembic's operations (``op.*``), from alembic.operations.ops.
OP_PARAMS: dict[str, tuple[str, ...]] = {
    "create_table": ("table_name",),
    "drop_table": ("table_name",),
    "rename_table": ("old_table_name", "new_table_name"),
    "add_column": ("table_name", "column"),
    "drop_column": ("table_name", "column_name"),
    "alter_column": ("table_name", "column_name"),
    "create_index": ("index_name", "table_name", "columns"),
    "drop_index": ("index_name", "table_name"),
    "create_unique_constraint": ("constraint_name", "table_name", "columns"),
    "create_foreign_key": (
        "constraint_name",
        "source_table",
        "referent_table",
        "local_cols",
        "remote_cols",
    ),
    "create_check_constraint": ("constraint_name", "table_name", "condition"),
    "create_primary_key": ("constraint_name", "table_name", "columns"),
    "create_exclude_constraint": ("constraint_name", "table_name"),
    "drop_constraint": ("constraint_name", "table_name", "type_"),
    "execute": ("sqltext",),
    "bulk_insert": ("table", "rows"),
    "batch_alter_table": ("table_name", "schema"),
    "create_table_comment": ("table_name", "comment"),
    "drop_table_comment": ("table_name",),
}
# The same operations on ``batch_op``: the table comes from the enclosing batch block.
_BATCH_DROPS = {"table_name", "source_table"}
BATCH_PARAMS: dict[str, tuple[str, ...]] = {
    name: tuple(p for p in params if p not in _BATCH_DROPS) for name, params in OP_PARAMS.items()
}
TABLE_PARAMS = ("table_name", "source_table", "old_table_name")

# Inspector methods and guard helpers whose use in an ``if`` makes its body an existence check.
INSPECTOR_METHODS = frozenset(
    {
        "get_table_names",
        "has_table",
        "get_columns",
        "get_indexes",
        "has_index",
        "get_unique_constraints",
        "get_foreign_keys",
        "get_check_constraints",
        "get_pk_constraint",
        "get_enums",
        "has_sequence",
        "has_schema",
        "get_schema_names",
        "get_view_names",
    }
)


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, ``None`` for anything else."""
    cls = node.__class__
    if cls is ast.Name:  # the two common shapes first: `name` and `module.name`
        return node.id  # type: ignore[attr-defined, no-any-return]
    if cls is ast.Attribute and node.value.__class__ is ast.Name:  # type: ignore[attr-defined]
        return f"{node.value.id}.{node.attr}"  # type: ignore[attr-defined]
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


# `op.f("ix_x")` / `batch_op.f(...)` mark a final name; `text("...")` wraps SQL.
_NAME_WRAPPERS = frozenset({"op.f", "batch_op.f", "f", "sa.text", "text", "sqlalchemy.text"})


def literal(node: ast.AST | None) -> Any:
    """The value of a literal expression (``"x"``, ``None``, ``op.f("x")``), or ``_MISSING``."""
    if node is None:
        return _MISSING
    cls = node.__class__
    if cls is ast.Constant:
        return node.value  # type: ignore[attr-defined]  # what literal_eval answers, quicker
    if cls is ast.Name or cls is ast.Attribute:
        return _MISSING  # literal_eval refuses them
    if (cls is ast.List or cls is ast.Tuple) and all(
        e.__class__ is ast.Constant
        for e in node.elts  # type: ignore[attr-defined]
    ):
        values = [e.value for e in node.elts]  # type: ignore[attr-defined]
        return values if cls is ast.List else tuple(values)
    if isinstance(node, ast.Call):
        if dotted(node.func) in _NAME_WRAPPERS and len(node.args) == 1:
            return literal(node.args[0])
        if not (isinstance(node.func, ast.Name) and node.func.id == "set"):
            return _MISSING  # literal_eval only evaluates the call `set()`
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING


def bound_value(node: ast.AST, bindings: Mapping[str, Any]) -> Any:
    """The value of a name in ``bindings``, an f-string of literals and such names, or one
    wrapped in ``op.f``/``text``; else ``_MISSING``."""
    if isinstance(node, ast.Name):
        return bindings.get(node.id, _MISSING)
    if isinstance(node, ast.Attribute):  # Model.__tablename__ of a class of the script
        return bindings.get(dotted(node) or "", _MISSING)
    if isinstance(node, ast.JoinedStr):
        parts: list[str] = []
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                parts.append(part.value)
                continue
            if (
                not isinstance(part, ast.FormattedValue)
                or part.conversion != -1
                or part.format_spec is not None
            ):
                return _MISSING
            value = literal(part.value)
            if value is _MISSING:
                value = bound_value(part.value, bindings)
            if not isinstance(value, str | int) or isinstance(value, bool):
                return _MISSING
            parts.append(str(value))
        return "".join(parts)
    if isinstance(node, ast.Call) and dotted(node.func) in _NAME_WRAPPERS and len(node.args) == 1:
        return bound_value(node.args[0], bindings)
    return _MISSING


def is_missing(value: Any) -> bool:
    return value is _MISSING


_V = TypeVar("_V")


class cached(Generic[_V]):
    """``functools.cached_property`` without the lock it takes on each first use (Python
    3.11), which the lint run paid for every call it looked at."""

    def __init__(self, func: Callable[[Any], _V]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached[_V]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _V: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> _V | cached[_V]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


@dataclass(frozen=True)
class Call:
    """One operation call inside ``upgrade()``/``downgrade()``, with its surroundings."""

    name: str  # the operation: "drop_column", "execute", "create_index", ...
    receiver: str  # "op", "batch_op" or "connection"
    node: ast.Call
    direction: str  # "upgrade" or "downgrade"
    stmt_line: int  # first line of the enclosing statement (for suppressions)
    batch_table: str | None = None
    guarded: bool = False
    autocommit: bool = False
    guard_names: frozenset[str] = field(default_factory=frozenset)
    # The ``if`` statements around the call, outermost first (guards or not).
    ifs: tuple[ast.If, ...] = field(default=(), compare=False, repr=False)
    # The dialects that reach the call: all of them, unless it sits in a dialect branch
    # (``if bind.dialect.name == "mysql":``; see :mod:`flask_safemigrate.lint.dialects`).
    dialects: frozenset[str] = field(default=ALL_DIALECTS, compare=False, repr=False)
    # Names that hold a known literal where the call runs: a helper's parameters given
    # literal arguments, a loop variable over a literal collection (see lint/inline.py).
    bindings: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The expression that names the batch block's table when it is not a literal.
    batch_source: str | None = field(default=None, compare=False, repr=False)

    @classmethod
    def made(
        cls,
        name: str,
        receiver: str,
        node: ast.Call,
        direction: str,
        stmt_line: int,
        batch_table: str | None,
        guarded: bool,
        autocommit: bool,
        guard_names: frozenset[str],
        ifs: tuple[ast.If, ...],
        dialects: frozenset[str],
        bindings: Mapping[str, Any],
        batch_source: str | None,
    ) -> Call:
        """``Call(...)`` with every field given, for the index walk that makes thousands:
        the frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
        several times slower than filling the instance's dictionary at once."""
        call = object.__new__(cls)
        object.__setattr__(
            call,
            "__dict__",
            {
                "name": name,
                "receiver": receiver,
                "node": node,
                "direction": direction,
                "stmt_line": stmt_line,
                "batch_table": batch_table,
                "guarded": guarded,
                "autocommit": autocommit,
                "guard_names": guard_names,
                "ifs": ifs,
                "dialects": dialects,
                "bindings": bindings,
                "batch_source": batch_source,
            },
        )
        return call

    @property
    def line(self) -> int:
        return self.node.lineno

    @property
    def col(self) -> int:
        return self.node.col_offset + 1

    @cached
    def _positional(self) -> list[ast.expr]:
        return [a for a in self.node.args if not isinstance(a, ast.Starred)]

    @cached
    def _keywords(self) -> dict[str | None, ast.expr]:
        found: dict[str | None, ast.expr] = {}
        for kw in self.node.keywords:
            found.setdefault(kw.arg, kw.value)  # the first one, as a search would find
        return found

    def param(self, name: str) -> ast.expr | None:
        """The argument node for a parameter, given by keyword or by position."""
        value = self._keywords.get(name)
        if value is not None:
            return value
        table = BATCH_PARAMS if self.receiver == "batch_op" else OP_PARAMS
        params = table.get(self.name, ())
        if name in params:
            index = params.index(name)
            positional = self._positional
            if index < len(positional):
                return positional[index]
        return None

    def value(self, name: str) -> Any:
        """The literal value of a parameter or keyword, or ``_MISSING``."""
        return self.resolve(self.param(name))

    def resolve(self, node: ast.AST | None) -> Any:
        """:func:`literal` of ``node``, also reading the names :attr:`bindings` holds (and
        f-strings made of them)."""
        value = literal(node)
        if value is not _MISSING or not self.bindings or node is None:
            return value
        return bound_value(node, self.bindings)

    def string(self, name: str) -> str | None:
        value = self.value(name)
        return value if isinstance(value, str) else None

    def flag(self, name: str) -> bool:
        """Whether keyword ``name`` is literally ``True``."""
        return self.value(name) is True

    def has_keyword(self, name: str) -> bool:
        return any(kw.arg == name for kw in self.node.keywords)

    @cached
    def table(self) -> str | None:
        """The table the operation acts on, from its arguments or the batch block."""
        if self.receiver == "batch_op":
            return self.batch_table
        for name in TABLE_PARAMS:
            value = self.string(name)
            if value is not None:
                return value
        return None

    @cached
    def table_key(self) -> str | None:
        """:attr:`table`, or the expression that names the table when it is not a literal
        (``Webhook.__tablename__``, ``table_name``): two calls on the same expression in one
        function act on the same table."""
        table = self.table
        if table is not None:
            return table
        if self.receiver == "batch_op":
            source = self.batch_source
            return "{" + source.replace(".", ":") + "}" if source else None
        for name in TABLE_PARAMS:
            node = self.param(name)
            if node is not None:
                text = dotted(node)
                # No dot: rules split a dotted name into schema and table.
                return "{" + text.replace(".", ":") + "}" if text else None
        return None

    @cached
    def column(self) -> str | None:
        """The column an add/drop/alter acts on (``sa.Column("x", ...)`` for add_column)."""
        if self.name == "add_column":
            column = self.param("column")
            if isinstance(column, ast.Call) and column.args:
                value = self.resolve(column.args[0])
                return value if isinstance(value, str) else None
            return None
        return self.string("column_name")

    @cached
    def sql_node(self) -> ast.expr | None:
        """The SQL argument of an execute call (``text(...)`` unwrapped)."""
        if self.name != "execute":
            return None
        node = self.param("sqltext") if self.receiver == "op" else None
        if node is None and self.node.args:
            node = self.node.args[0]
        if (
            isinstance(node, ast.Call)
            and dotted(node.func) in {"sa.text", "text", "sqlalchemy.text"}
            and node.args
        ):
            return node.args[0]
        return node

    @cached
    def sql(self) -> str | None:
        """The SQL text when it is a literal string, else ``None``."""
        value = self.resolve(self.sql_node)
        return value if isinstance(value, str) else None


# Fields that never hold a node worth visiting: names, flags, and the expression contexts and
# operators (leaf singletons that no rule looks at).
_NOT_CHILDREN = frozenset(
    {
        "ctx",
        "op",
        "ops",
        "id",
        "attr",
        "arg",
        "kind",
        "type_comment",
        "level",
        "module",
        "conversion",
        "is_async",
        "simple",
    }
)
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(cls: type) -> tuple[str, ...]:
    """The fields of an AST class that may hold child nodes worth visiting."""
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        own: tuple[str, ...] = getattr(cls, "_fields", ())
        fields = () if cls is ast.Constant else tuple(f for f in own if f not in _NOT_CHILDREN)
        _CHILD_FIELDS[cls] = fields
    return fields


def nodes_below(node: ast.AST) -> list[ast.AST]:
    """``list(ast.walk(node))`` without the expression contexts and operators.

    Same nodes in the same (breadth-first) order otherwise, in about half the time: rules
    that look for calls, names or constants get exactly what ``ast.walk`` would give them.
    """
    nodes: list[Any] = [node]
    for sub in nodes:  # the list grows as it is read
        cls = sub.__class__
        if cls is ast.Name or cls is ast.Constant:
            continue
        if cls is ast.Attribute:
            nodes.append(sub.value)
        elif cls is ast.Call:
            nodes.append(sub.func)
            nodes += sub.args
            nodes += sub.keywords
        elif cls is ast.keyword:
            nodes.append(sub.value)
        else:
            for name in child_fields(cls):
                value = getattr(sub, name, None)
                if value.__class__ is list:
                    nodes.extend(v for v in value if isinstance(v, ast.AST))
                elif isinstance(value, ast.AST):
                    nodes.append(value)
    return nodes


def column_calls(node: ast.AST) -> Iterator[ast.Call]:
    """Every ``sa.Column(...)``/``Column(...)`` call below ``node``."""
    for sub in nodes_below(node):
        if isinstance(sub, ast.Call) and (dotted(sub.func) or "").split(".")[-1] == "Column":
            yield sub


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def strings_in(node: ast.AST) -> frozenset[str]:
    """Every string constant below ``node``: the names an ``if`` condition mentions."""
    return frozenset(
        sub.value
        for sub in nodes_below(node)
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
    )


def is_guard(test: ast.expr, guard_aliases: frozenset[str]) -> bool:
    """Whether an ``if`` condition asks the database whether something exists."""
    return asks_database(nodes_below(test), guard_aliases)


def asks_database(nodes: Iterable[ast.AST], guard_aliases: frozenset[str]) -> bool:
    """:func:`is_guard` over the nodes of a condition, for a caller that has walked it."""
    return any(isinstance(sub, ast.Call) and guard_call(sub, guard_aliases) for sub in nodes)


def guard_call(node: ast.Call, guard_aliases: frozenset[str]) -> bool:
    """Whether this call (not counting the calls inside it) is a ``guards`` helper or an
    inspector method."""
    name = dotted(node.func) or ""
    head, _, attr = name.rpartition(".")
    if not name and isinstance(node.func, ast.Attribute):
        attr = node.func.attr  # sa.inspect(op.get_bind()).has_table(...)
    if head.split(".")[0] in guard_aliases or name in guard_aliases:
        return True
    return attr in INSPECTOR_METHODS or name in INSPECTOR_METHODS


def guard_aliases(tree: ast.Module) -> frozenset[str]:
    """Names under which the script imported ``flask_safemigrate.guards`` (or its helpers)."""
    names = {"guards"}
    for stmt in nested_statements(tree.body):  # imports are never inside expressions
        if isinstance(stmt, ast.ImportFrom):
            if (stmt.module or "").startswith("flask_safemigrate"):
                for alias in stmt.names:
                    names.add(alias.asname or alias.name)
        elif isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if alias.name.startswith("flask_safemigrate"):
                    names.add(alias.asname or alias.name.split(".")[0])
    return frozenset(names)


#: Statements that hold no other statement.
_SIMPLE = (ast.Expr, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Pass, ast.Return)


def nested_statements(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement of ``body`` at any depth (blocks, ``except`` handlers, ``match``
    cases), in no particular order; what imports a script makes, wherever they sit."""
    stack = list(body)
    while stack:
        stmt = stack.pop()
        yield stmt
        if isinstance(stmt, _SIMPLE):
            continue  # no statements inside
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, list):
                stack.extend(s for s in inner if isinstance(s, ast.stmt))
        for name in ("handlers", "cases"):
            for item in getattr(stmt, name, None) or ():
                if isinstance(item, ast.ExceptHandler | ast.match_case):
                    stack.extend(item.body)


def direction_of(function_name: str) -> str | None:
    """``upgrade``/``downgrade`` for those functions and the multi-db ``upgrade_<bind>`` ones."""
    for direction in ("upgrade", "downgrade"):
        if function_name == direction or function_name.startswith(direction + "_"):
            return direction
    return None
