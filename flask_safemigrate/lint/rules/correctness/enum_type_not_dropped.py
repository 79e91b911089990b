"""SM309 enum-type-not-dropped."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.history import is_empty_body
from flask_safemigrate.lint.calls import (
    Call,
    column_calls,
    dotted,
    keyword,
    literal,
    nodes_below,
    strings_in,
)
from flask_safemigrate.lint.helpers.enums import enum_name, enum_of, enum_variables, type_name
from flask_safemigrate.lint.helpers.functions import FunctionNode, last_name, migration_functions
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import literal_sql, sql_argument, strip_sql_comments
from flask_safemigrate.report import Severity


def enum_makes_type(call: ast.Call) -> bool:
    """Whether creating a table with this enum also creates a database type."""
    return literal(keyword(call, "create_type")) is not False and (
        literal(keyword(call, "native_enum")) is not False
    )


_CREATE_TYPE = compiled_later(
    r'\bCREATE\s+TYPE\s+((?:"[^"]+"|\w+)(?:\s*\.\s*(?:"[^"]+"|\w+))?)\s+AS\s+ENUM\b',
    re.IGNORECASE,
)
_DROP_TYPE = compiled_later(
    r"\bDROP\s+TYPE\s+(?:IF\s+EXISTS\s+)?([^;]+?)\s*(?:\bCASCADE\b|\bRESTRICT\b|;|$)",
    re.IGNORECASE,
)


def _raises(function: FunctionNode) -> bool:
    return any(isinstance(stmt, ast.Raise) for stmt in function.body)


@register
class EnumTypeNotDropped(Rule):
    """The upgrade creates a PostgreSQL enum type that the downgrade never drops.

    ## What it does
    Collects the enum types the upgrade creates: a named `sa.Enum(...)` /
    `postgresql.ENUM(...)` in the columns of `create_table`/`add_column` (unless it has
    `create_type=False` or `native_enum=False`), an explicit `.create(bind)` of one, and
    `CREATE TYPE ... AS ENUM` run through `op.execute()`. Reports each type that the
    downgrade does not drop with `.drop(bind)` or `DROP TYPE`. Scripts whose downgrade is
    missing, empty or raises are left to `missing-downgrade`.

    ## Why it matters
    `op.drop_table()` and `op.drop_column()` do not drop the type the column used. After a
    downgrade the type stays behind, so the next upgrade fails with
    `type "status" already exists`, and `verify --roundtrip` finds a leftover.

    ## Example
    ```python
    def upgrade():
        op.create_table(
            "orders",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("status", sa.Enum("new", "paid", name="order_status")),
        )


    def downgrade():
        op.drop_table("orders")
    ```

    ## Use instead
    ```python
    def downgrade():
        op.drop_table("orders")
        sa.Enum(name="order_status").drop(op.get_bind(), checkfirst=True)
    ```
    """

    code = "SM309"
    name = "enum-type-not-dropped"
    severity = Severity.WARNING
    dialects = frozenset({"postgresql"})
    fix = 'drop the type in downgrade(): sa.Enum(name="...").drop(op.get_bind(), checkfirst=True)'

    def check(self, migration: Migration) -> Iterator[Violation]:
        source = migration.source
        if (
            "Enum(" not in source
            and "ENUM(" not in source
            and not migration.mentions(_CREATE_TYPE, "enum")
        ):
            return
        functions = migration_functions(migration.tree)
        downgrades = [f for d, f in functions if d == "downgrade"]
        if not downgrades or any(is_empty_body(f.body) or _raises(f) for f in downgrades):
            return
        variables = enum_variables(migration)
        created: dict[str, ast.AST] = {}
        for call in migration.upgrade_calls:
            for name, node in self._creations(call, variables):
                if name not in created or _before(node, created[name]):
                    created[name] = node
        for direction, function in functions:
            if direction != "upgrade":
                continue
            for node in migration.index.calls_in(function):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "create"
                ):
                    enum = enum_of(node.func.value, variables)
                    explicit = enum_name(enum) if enum is not None else None
                    if explicit is not None and (
                        explicit not in created or _before(node, created[explicit])
                    ):
                        created[explicit] = node
        if not created:
            return
        dropped = self._drops(migration, downgrades, variables)
        for name, node in sorted(created.items(), key=lambda kv: _position(kv[1])):
            if name not in dropped:
                yield Violation(
                    f"creates PostgreSQL enum type {name} but downgrade() never drops it, so "
                    "the next upgrade fails with 'type already exists'",
                    node=node,
                )

    @staticmethod
    def _creations(call: Call, variables: dict[str, ast.Call]) -> Iterator[tuple[str, ast.AST]]:
        if call.name == "execute":
            sql = literal_sql(call.sql_node if call.receiver == "op" else sql_argument(call.node))
            for match in _CREATE_TYPE.finditer(strip_sql_comments(sql or "")):
                yield type_name(match.group(1)), call.node
            return
        if call.name == "create_table":
            parts: list[ast.expr] = [*call.node.args[1:], *(k.value for k in call.node.keywords)]
        elif call.name == "add_column":
            column = call.param("column")
            parts = [column] if column is not None else []
        else:
            return
        for part in parts:
            for column in column_calls(part):
                for sub in nodes_below(column):
                    enum = enum_of(sub, variables)
                    if enum is None or not enum_makes_type(enum):
                        continue
                    name = enum_name(enum)
                    if name is not None:
                        yield name, sub

    @staticmethod
    def _drops(
        migration: Migration, downgrades: list[FunctionNode], variables: dict[str, ast.Call]
    ) -> set[str]:
        dropped: set[str] = set()
        for function in downgrades:
            for node in migration.index.calls_in(function):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "drop":
                    enum = enum_of(func.value, variables)
                    name = enum_name(enum) if enum is not None else None
                    if name is not None:
                        dropped.add(name)
                        continue
                if isinstance(func, ast.Attribute) and func.attr in {"execute", "exec_driver_sql"}:
                    sql = literal_sql(sql_argument(node))
                    for match in _DROP_TYPE.finditer(strip_sql_comments(sql or "")):
                        dropped.update(type_name(n) for n in match.group(1).split(","))
                    continue
                # A project helper such as drop_enum("status") or guards.drop_enum(...).
                callee = dotted(func) or ""
                owner = callee.split(".")[0]
                if "drop" in last_name(func).lower() and owner not in {"op", "batch_op"}:
                    dropped.update(strings_in(node))
        return dropped


def _position(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _before(node: ast.AST, other: ast.AST) -> bool:
    return _position(node) < _position(other)
