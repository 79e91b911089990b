"""Whether a ``batch_alter_table`` block copies its table on SQLite, as Alembic decides it.

Batch mode does not always copy. With ``recreate="auto"`` (the default) Alembic's SQLite
implementation (``SQLiteImpl.requires_recreate_in_batch``) recreates the table only when an
operation of the block is one SQLite's ``ALTER TABLE`` cannot do: anything but
``create_index``, ``drop_index`` and an ``add_column`` that ``ALTER TABLE ADD COLUMN`` can
run (not one whose server default is a SQL expression, not a stored generated column, and
not one that brings a foreign key or unique constraint, which batch mode adds as a
constraint). Otherwise every operation of the block runs in place, as outside batch mode.
``recreate="always"`` copies, ``recreate="never"`` never does. The block is judged as a
whole: one ``alter_column`` makes the index built in the same block part of the copy.

``--dry-run`` words a SQLite statement's impact from this (:mod:`.lock_levels`); checked
against Alembic on a real SQLite database by ``tests/upgrade/test_sqlite_impact.py``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from flask_safemigrate.lint.calls import Call, dotted, keyword, literal

__all__ = ["BatchCopy", "Block", "batch_blocks", "block_of", "copies"]

#: Operations SQLite's ALTER runs in a batch block that is not recreated.
_IN_PLACE = frozenset({"create_index", "drop_index", "add_column"})
#: ``batch_op`` calls that are not operations of the block: ``batch_op.f("ix_users_email")``
#: (the name ``flask db migrate`` writes for every index) changes nothing, and
#: ``batch_op.execute(sql)`` runs its SQL at once on the migration's connection (Alembic's
#: ``execute_sql`` goes to the context's own impl, never into the block's list of operations
#: that ``requires_recreate_in_batch`` reads), so neither makes a copy.
_HELPERS = frozenset({"f", "get_bind", "get_context", "inline_literal", "execute"})


@dataclass(frozen=True)
class Block:
    """One ``with op.batch_alter_table(...)`` block: its lines and its ``recreate`` (``None``
    when the argument is not a literal)."""

    first: int
    last: int
    recreate: str | None


@dataclass(frozen=True)
class BatchCopy:
    """A block's verdict: ``copies`` (``None``: cannot tell) and why, in a few words."""

    copies: bool | None
    why: str


def _statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement in ``body`` and the blocks below it (expressions are not walked: a
    ``with`` is a statement, and this is cheaper than ``ast.walk`` of the whole module)."""
    for stmt in body:
        yield stmt
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list):
                yield from _statements(inner)
        for handler in getattr(stmt, "handlers", ()):
            yield from _statements(handler.body)
        for case in getattr(stmt, "cases", ()):
            yield from _statements(case.body)


def batch_blocks(tree: ast.Module) -> list[Block]:
    """Every ``batch_alter_table`` block of the module, outermost first."""
    found = []
    for node in _statements(tree.body):
        if not isinstance(node, ast.With | ast.AsyncWith):
            continue
        for item in node.items:
            expr = item.context_expr
            if isinstance(expr, ast.Call) and (dotted(expr.func) or "").endswith(
                "batch_alter_table"
            ):
                given = keyword(expr, "recreate")
                value = "auto" if given is None else literal(given)
                found.append(
                    Block(
                        node.lineno,
                        node.end_lineno or node.lineno,
                        value if isinstance(value, str) else None,
                    )
                )
    return found


def block_of(blocks: Sequence[Block], line: int) -> Block | None:
    """The innermost block around ``line``."""
    around = [block for block in blocks if block.first <= line <= block.last]
    return max(around, key=lambda block: block.first, default=None)


def copies(block: Block, calls: Sequence[Call]) -> BatchCopy:
    """Whether ``block`` copies its table; ``calls``: the ``batch_op`` calls the dialect
    reaches inside it (those of nested blocks excluded)."""
    if block.recreate == "always":
        return BatchCopy(True, 'recreate="always"')
    if block.recreate == "never":
        return BatchCopy(False, 'recreate="never"')
    if block.recreate is None:
        return BatchCopy(None, "recreate= is not a literal")
    unknown = ""
    for call in calls:
        if call.name in _HELPERS:
            continue
        if call.name not in _IN_PLACE:
            return BatchCopy(True, f"{call.name} needs it")
        if call.name == "add_column":
            verdict = _add_column(call)
            if verdict.copies:
                return verdict
            if verdict.copies is None:
                unknown = verdict.why
    if unknown:
        return BatchCopy(None, unknown)
    return BatchCopy(False, "ALTER TABLE does it in place")


def _add_column(call: Call) -> BatchCopy:
    """Whether batch mode must recreate the table for this ``add_column``."""
    column = call.param("column")
    if not isinstance(column, ast.Call):
        return BatchCopy(None, "the added column is not written out")
    for arg in column.args:
        if not isinstance(arg, ast.Call):
            continue
        name = dotted(arg.func) or ""
        if name.endswith("ForeignKey"):
            return BatchCopy(True, "the column brings a foreign key constraint")
        if name.endswith("Computed") and literal(keyword(arg, "persisted")) is True:
            return BatchCopy(True, "a stored generated column")
    if literal(keyword(column, "unique")) is True:
        return BatchCopy(True, "the column brings a unique constraint")
    default = keyword(column, "server_default")
    if default is None or isinstance(default, ast.Constant):  # a string, or None
        return BatchCopy(False, "ALTER TABLE ADD COLUMN")
    if isinstance(default, ast.Call):  # sa.text(...), sa.func.now(): a SQL expression
        return BatchCopy(True, "its server default is a SQL expression")
    if isinstance(call.resolve(default), str):
        return BatchCopy(False, "ALTER TABLE ADD COLUMN")
    return BatchCopy(None, "its server default is not a literal")
