"""Operations that alter an existing table, as the locking rules (2xx) read them: the
columns ``add_column`` adds, the actions of literal ``ALTER TABLE`` SQL, flags set on a call.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from typing import Any

from flask_safemigrate.lint.calls import Call, dotted, literal
from flask_safemigrate.lint.helpers.timeline import Timeline
from flask_safemigrate.lint.model import Migration
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.sql import alter_table

_RECEIVERS = frozenset({"op", "batch_op"})


def ops(migration: Migration, *names: str) -> Iterator[Call]:
    """The ``op.<name>``/``batch_op.<name>`` calls of both directions."""
    for call in migration.calls:
        if call.name in names and call.receiver in _RECEIVERS:
            yield call


def added_columns(migration: Migration) -> list[tuple[Call, ast.Call]]:
    """``add_column`` calls with the ``sa.Column(...)`` they add (found once per script)."""

    def build() -> list[tuple[Call, ast.Call]]:
        found = []
        for call in ops(migration, "add_column"):
            column = call.param("column")
            if isinstance(column, ast.Call) and (dotted(column.func) or "").endswith("Column"):
                found.append((call, column))
        return found

    return migration.shared("locking.added_columns", build)


def alter_actions(migration: Migration, line: Timeline) -> list[tuple[Call, str, str]]:
    """``(call, table, action)`` for each ALTER TABLE action in literal SQL, on tables that
    were not created earlier in the function (found once per script)."""

    def build() -> tuple[Timeline, list[tuple[Call, str, str]]]:
        found = []
        for call in migration.calls:
            if call.name != "execute":
                continue
            for statement, created in line.statements(call):
                parsed = alter_table(statement)
                if parsed is not None and parsed[0] not in created:
                    for action in parsed[1]:
                        found.append((call, parsed[0], action))
        return line, found

    cached = migration.shared("locking.alter_actions", build)
    return cached[1] if cached[0] is line else build()[1]


def keyword_is_set(call: Call, name: str) -> bool:
    """Whether ``name=True`` is passed, or passed as an expression we cannot read (in which
    case the author chose it deliberately and rules stay quiet)."""
    node = call.param(name)
    if node is None:
        return False
    value = literal(node)
    return value is True or not isinstance(value, bool | type(None))


def column_arg(column: ast.Call, *names: str) -> ast.Call | None:
    """The first positional ``sa.ForeignKey(...)``/``sa.Identity(...)``-style argument."""
    for arg in column.args:
        if isinstance(arg, ast.Call) and (dotted(arg.func) or "").rsplit(".", 1)[-1] in names:
            return arg
    return None


def column_name(
    column: ast.Call,
    call: Call | None = None,
    resolve: Callable[[ast.expr | None], Any] | None = None,
) -> str:
    """The name of an ``sa.Column(...)``: its literal (or the value ``call``, or ``resolve``,
    binds to the name it is given), else the expression in backticks, ``?`` when there is
    none."""
    node = column.args[0] if column.args else None
    if resolve is None:
        resolve = literal if call is None else call.resolve
    value = resolve(node)
    if isinstance(value, str):
        return value
    if node is None or isinstance(node, ast.Constant):
        return "?"
    text = ast.unparse(node)
    return f"`{text if len(text) <= 40 else text[:37] + '...'}`"


def constraint_name(call: Call) -> str:
    value = literal(call.param("constraint_name"))
    return f" {value}" if isinstance(value, str) else ""


NOT_VALID = compiled_later(r"\bNOT VALID\b", re.IGNORECASE)
