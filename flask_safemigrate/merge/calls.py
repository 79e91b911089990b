"""What one ``op.*``/``batch_op.*`` call names, read from the lint engine's call model."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call, dotted, literal
from flask_safemigrate.merge.mentions import (
    Mention,
    column_mentions,
    named_mentions,
    normalize,
    table_mentions,
)

__all__ = ["call_mentions"]


_CONSTRAINT_OPS = frozenset(
    {
        "create_unique_constraint",
        "create_check_constraint",
        "create_primary_key",
        "create_exclude_constraint",
        "create_foreign_key",
        "drop_constraint",
    }
)
_EMBEDDED_CONSTRAINTS = frozenset(
    {"UniqueConstraint", "CheckConstraint", "PrimaryKeyConstraint", "ForeignKeyConstraint"}
)


def _strings(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def _reference(target: object) -> Iterator[Mention]:
    """``"users.id"`` in a foreign key: a use of the table and of the column."""
    if not isinstance(target, str) or "." not in target:
        return
    table, _, column = target.rpartition(".")
    yield from table_mentions("use", table)
    yield from column_mentions(normalize(table), [column], "use")


def _embedded(node: ast.AST) -> Iterator[Mention]:
    """Constraints, indexes and foreign keys declared inside ``create_table``/``add_column``."""
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Call):
            continue
        kind = (dotted(sub.func) or "").rpartition(".")[2]
        name = next((literal(kw.value) for kw in sub.keywords if kw.arg == "name"), None)
        if kind == "ForeignKey" and sub.args:
            yield from _reference(literal(sub.args[0]))
            yield from named_mentions("constraint", name)
        elif kind in _EMBEDDED_CONSTRAINTS:
            yield from named_mentions("constraint", name)
            if kind == "ForeignKeyConstraint" and len(sub.args) > 1:
                for target in _strings(literal(sub.args[1])):
                    yield from _reference(target)
        elif kind == "Index" and sub.args:
            yield from named_mentions("index", literal(sub.args[0]))


def call_mentions(call: Call) -> Iterator[Mention]:
    """What one ``op.*``/``batch_op.*`` call names (execute calls: see :func:`sql_mentions`)."""
    name = call.name
    table = normalize(call.table)
    if name == "create_table":
        yield from table_mentions("create", table)
        for arg in [*call.node.args[1:], *(kw.value for kw in call.node.keywords)]:
            yield from _embedded(arg)
        return
    if name == "drop_table":
        yield from table_mentions("drop", table)
        return
    if name == "rename_table":
        yield from table_mentions("drop", table)
        yield from table_mentions("create", call.string("new_table_name"))
        return
    if name == "bulk_insert":
        target = call.param("table")
        if isinstance(target, ast.Call) and target.args:
            yield from table_mentions("use", literal(target.args[0]))
        return
    yield from table_mentions("use", table)
    if name in {"add_column", "drop_column", "alter_column"}:
        yield from column_mentions(table, [call.column], "change")
        if name == "alter_column":
            yield from column_mentions(table, [call.string("new_column_name")], "change")
        column = call.param("column") if name == "add_column" else None
        if column is not None:
            yield from _embedded(column)
    elif name in {"create_index", "drop_index"}:
        yield from named_mentions("index", call.value("index_name"), name.partition("_")[0])
        yield from column_mentions(table, _strings(call.value("columns")), "use")
    elif name in _CONSTRAINT_OPS:
        yield from named_mentions(
            "constraint", call.value("constraint_name"), name.partition("_")[0]
        )
        if name == "create_foreign_key":
            referent = normalize(call.value("referent_table"))
            yield from table_mentions("use", referent)
            yield from column_mentions(table, _strings(call.value("local_cols")), "use")
            yield from column_mentions(referent, _strings(call.value("remote_cols")), "use")
        else:
            yield from column_mentions(table, _strings(call.value("columns")), "use")
