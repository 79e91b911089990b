"""The migration-operation model the rules read: every ``op.*``, ``batch_op.*`` and execute call.

A rule should not have to know that ``batch_op.drop_column("email")`` and
``op.drop_column("users", "email")`` are the same operation, whether an op sits behind an
existence check, or how SQL was spelled. :func:`collect_calls` walks ``upgrade()`` and
``downgrade()`` once and answers those questions for every call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_MISSING: Any = object()

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
_CONNECTION_NAMES = frozenset({"conn", "connection", "bind", "connectable"})


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, ``None`` for anything else."""
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
    if isinstance(node, ast.Call) and dotted(node.func) in _NAME_WRAPPERS and len(node.args) == 1:
        return literal(node.args[0])
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING


def is_missing(value: Any) -> bool:
    return value is _MISSING


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

    @property
    def line(self) -> int:
        return self.node.lineno

    @property
    def col(self) -> int:
        return self.node.col_offset + 1

    def param(self, name: str) -> ast.expr | None:
        """The argument node for a parameter, given by keyword or by position."""
        for kw in self.node.keywords:
            if kw.arg == name:
                return kw.value
        table = BATCH_PARAMS if self.receiver == "batch_op" else OP_PARAMS
        params = table.get(self.name, ())
        if name in params:
            index = params.index(name)
            positional = [a for a in self.node.args if not isinstance(a, ast.Starred)]
            if index < len(positional):
                return positional[index]
        return None

    def value(self, name: str) -> Any:
        """The literal value of a parameter or keyword, or ``_MISSING``."""
        return literal(self.param(name))

    def string(self, name: str) -> str | None:
        value = self.value(name)
        return value if isinstance(value, str) else None

    def flag(self, name: str) -> bool:
        """Whether keyword ``name`` is literally ``True``."""
        return self.value(name) is True

    def has_keyword(self, name: str) -> bool:
        return any(kw.arg == name for kw in self.node.keywords)

    @property
    def table(self) -> str | None:
        """The table the operation acts on, from its arguments or the batch block."""
        if self.receiver == "batch_op":
            return self.batch_table
        for name in TABLE_PARAMS:
            value = self.string(name)
            if value is not None:
                return value
        return None

    @property
    def column(self) -> str | None:
        """The column an add/drop/alter acts on (``sa.Column("x", ...)`` for add_column)."""
        if self.name == "add_column":
            column = self.param("column")
            if isinstance(column, ast.Call) and column.args:
                value = literal(column.args[0])
                return value if isinstance(value, str) else None
            return None
        return self.string("column_name")

    @property
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

    @property
    def sql(self) -> str | None:
        """The SQL text when it is a literal string, else ``None``."""
        value = literal(self.sql_node)
        return value if isinstance(value, str) else None

    @property
    def is_ddl(self) -> bool:
        return self.name not in {"execute", "bulk_insert"}


def column_calls(node: ast.AST) -> Iterator[ast.Call]:
    """Every ``sa.Column(...)``/``Column(...)`` call below ``node``."""
    for sub in ast.walk(node):
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
        for sub in ast.walk(node)
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
    )


def is_guard(test: ast.expr, guard_aliases: frozenset[str]) -> bool:
    """Whether an ``if`` condition asks the database whether something exists."""
    for sub in ast.walk(test):
        if isinstance(sub, ast.Call):
            name = dotted(sub.func) or ""
            head, _, attr = name.rpartition(".")
            if not name and isinstance(sub.func, ast.Attribute):
                attr = sub.func.attr  # sa.inspect(op.get_bind()).has_table(...)
            if head.split(".")[0] in guard_aliases or name in guard_aliases:
                return True
            if attr in INSPECTOR_METHODS or name in INSPECTOR_METHODS:
                return True
    return False


class _Walker:
    """Walks one upgrade/downgrade function, tracking batch blocks, guards and autocommit."""

    def __init__(self, direction: str, guard_aliases: frozenset[str]) -> None:
        self.direction = direction
        self.guard_aliases = guard_aliases
        self.connections = set(_CONNECTION_NAMES)
        self.calls: list[Call] = []

    def walk(
        self,
        body: list[ast.stmt],
        *,
        batch: dict[str, str | None],
        guards: frozenset[str] | None,
        autocommit: bool,
    ) -> None:
        for stmt in body:
            self._statement(stmt, batch=batch, guards=guards, autocommit=autocommit)

    def _statement(
        self,
        stmt: ast.stmt,
        *,
        batch: dict[str, str | None],
        guards: frozenset[str] | None,
        autocommit: bool,
    ) -> None:
        if isinstance(stmt, ast.With | ast.AsyncWith):
            inner_batch, inner_autocommit = dict(batch), autocommit
            for item in stmt.items:
                expr = item.context_expr
                if isinstance(expr, ast.Call):
                    name = dotted(expr.func) or ""
                    if not name and isinstance(expr.func, ast.Attribute):
                        # op.get_context().autocommit_block(): the owner is a call
                        name = expr.func.attr
                    if name.endswith("batch_alter_table"):
                        table = (
                            literal(expr.args[0])
                            if expr.args
                            else literal(keyword(expr, "table_name"))
                        )
                        if isinstance(item.optional_vars, ast.Name):
                            inner_batch[item.optional_vars.id] = (
                                table if isinstance(table, str) else None
                            )
                        self._expression(expr, stmt, batch=batch, guards=guards, auto=autocommit)
                        continue
                    if name.endswith("autocommit_block"):
                        inner_autocommit = True
                        continue
                self._expression(expr, stmt, batch=batch, guards=guards, auto=autocommit)
            self.walk(stmt.body, batch=inner_batch, guards=guards, autocommit=inner_autocommit)
            return
        if isinstance(stmt, ast.If):
            self._expression(stmt.test, stmt, batch=batch, guards=guards, auto=autocommit)
            inner = guards
            if is_guard(stmt.test, self.guard_aliases):
                inner = (guards or frozenset()) | strings_in(stmt.test)
            self.walk(stmt.body, batch=batch, guards=inner, autocommit=autocommit)
            self.walk(stmt.orelse, batch=batch, guards=inner, autocommit=autocommit)
            return
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            source = dotted(stmt.value.func) or ""
            if source.endswith(("get_bind", "connection")):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        self.connections.add(target.id)
        for field_name, value in ast.iter_fields(stmt):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                self.walk(value, batch=batch, guards=guards, autocommit=autocommit)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.ExceptHandler):
                        self.walk(item.body, batch=batch, guards=guards, autocommit=autocommit)
                    elif isinstance(item, ast.AST):
                        self._expression(item, stmt, batch=batch, guards=guards, auto=autocommit)
            elif isinstance(value, ast.expr) and field_name != "annotation":
                self._expression(value, stmt, batch=batch, guards=guards, auto=autocommit)

    def _expression(
        self,
        node: ast.AST,
        stmt: ast.stmt,
        *,
        batch: dict[str, str | None],
        guards: frozenset[str] | None,
        auto: bool,
    ) -> None:
        for sub in ast.walk(node):
            if not isinstance(sub, ast.Call) or not isinstance(sub.func, ast.Attribute):
                continue
            owner = sub.func.value
            attr = sub.func.attr
            owner_name = dotted(owner)
            if owner_name == "op":
                receiver, batch_table = "op", None
            elif owner_name in batch:
                receiver, batch_table = "batch_op", batch[owner_name]
            elif attr == "execute" and (
                owner_name in self.connections
                or (isinstance(owner, ast.Call) and (dotted(owner.func) or "").endswith("get_bind"))
            ):
                receiver, batch_table = "connection", None
            else:
                continue
            if receiver == "op" and attr in {"f", "get_bind", "get_context", "batch_alter_table"}:
                continue
            self.calls.append(
                Call(
                    name=attr,
                    receiver=receiver,
                    node=sub,
                    direction=self.direction,
                    stmt_line=stmt.lineno,
                    batch_table=batch_table,
                    guarded=guards is not None,
                    autocommit=auto,
                    guard_names=guards or frozenset(),
                )
            )


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement at any depth: where imports live, without walking the expressions."""
    stack = list(body)
    while stack:
        stmt = stack.pop()
        yield stmt
        for name in stmt._fields:
            value = getattr(stmt, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.stmt):
                        stack.append(item)
                    elif isinstance(item, ast.ExceptHandler | ast.match_case):
                        stack.extend(item.body)


def guard_aliases(tree: ast.Module) -> frozenset[str]:
    """Names under which the script imported ``flask_safemigrate.guards`` (or its helpers)."""
    names = {"guards"}
    for node in _statements(tree.body):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flask_safemigrate"):
            for alias in node.names:
                names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("flask_safemigrate"):
                    names.add(alias.asname or alias.name.split(".")[0])
    return frozenset(names)


def direction_of(function_name: str) -> str | None:
    """``upgrade``/``downgrade`` for those functions and the multi-db ``upgrade_<bind>`` ones."""
    for direction in ("upgrade", "downgrade"):
        if function_name == direction or function_name.startswith(direction + "_"):
            return direction
    return None


def collect_calls(tree: ast.Module) -> list[Call]:
    """All operation calls of the module's upgrade and downgrade functions, in source order."""
    aliases = guard_aliases(tree)
    calls: list[Call] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            direction = direction_of(node.name)
            if direction is None:
                continue
            walker = _Walker(direction, aliases)
            walker.walk(node.body, batch={}, guards=None, autocommit=False)
            calls.extend(walker.calls)
    return calls
