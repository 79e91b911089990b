"""How the added operations read in the script: one ``if`` line above the op Alembic renders.

Importing this module registers the renderers with Alembic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op, renderers
from alembic.operations import ops
from sqlalchemy.dialects import postgresql

from flask_safemigrate.autogen.operations import (
    AutocommitBlockOp,
    ConstraintSQLOp,
    CreateEnumOp,
    DropEnumOp,
    DuplicateCheckOp,
    ForeignKeyChecksOp,
    GuardedOp,
    OrphanCheckOp,
)

IMPORT = "from flask_safemigrate import guards"

# Lines Mako's PythonPrinter would take for block openers or closers (see mako.pygen).
_OPENS_OR_CLOSES = re.compile(r":[ \t]*(?:#.*)?$|^\s*(else|elif|except|finally)\b|^\s*$")


def _body(lines: list[str]) -> list[str]:
    """The op's lines, one per printer line, so continuation lines indent with the op.

    Alembic renders ``create_table`` as one string with newlines, whose continuation lines
    Mako would leave at the function's indentation: fine at top level, misleading under an
    ``if``. Split them unless a piece could look like a block opener to the printer.
    """
    pieces = [piece for line in lines for piece in line.split("\n")]
    if any(_OPENS_OR_CLOSES.search(piece) for piece in pieces):
        return lines
    return pieces


def _uncreated_enum(type_: object, autogen_context: AutogenContext) -> str | None:
    """``postgresql.ENUM(..., create_type=False)`` for a type whose table must not create it.

    SQLAlchemy 2.0's ``repr`` of an ``ENUM`` leaves ``create_type=False`` out (2.1 writes it),
    and without it the table's ``CREATE TYPE`` follows the guarded one and fails.
    """
    if not isinstance(type_, postgresql.ENUM) or type_.create_type is not False:
        return None
    autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
    rendered = repr(type_)
    if "create_type=" not in rendered:
        rendered = f"{rendered[:-1]}{'' if rendered.endswith('()') else ', '}create_type=False)"
    return f"postgresql.{rendered}"


@contextmanager
def _enum_flags_kept(autogen_context: AutogenContext) -> Iterator[None]:
    """Render types through Alembic's ``render_item`` hook with :func:`_uncreated_enum` added.

    The app's own ``render_item`` (from its ``env.py``) still goes first; ours answers only
    for what it leaves to Alembic. The hook is restored after the one op.
    """
    opts = autogen_context.opts
    had_hook = "render_item" in opts
    app_hook = opts.get("render_item")

    def render_item(kind: str, obj: Any, context: AutogenContext) -> str | bool:
        if app_hook:
            rendered = app_hook(kind, obj, context)
            if rendered is not False:
                return rendered  # type: ignore[no-any-return]
        if kind == "type":
            return _uncreated_enum(obj, context) or False
        return False

    opts["render_item"] = render_item
    try:
        yield
    finally:
        if had_hook:
            opts["render_item"] = app_hook
        else:
            del opts["render_item"]


@renderers.dispatch_for(GuardedOp)
def _render_guarded(autogen_context: AutogenContext, op: GuardedOp) -> list[str | None]:
    autogen_context.imports.add(IMPORT)
    if isinstance(op.operation, ops.CreateTableOp):
        with _enum_flags_kept(autogen_context):
            body = render_op(autogen_context, op.operation)
    else:
        body = render_op(autogen_context, op.operation)
    # ``None`` makes Mako's printer close the ``if`` block without writing a blank line.
    return [f"if {op.check.source()}:", *_body(body), None]


def _enum_source(enum: sa.Enum, *, values: bool) -> str:
    args = [repr(str(v)) for v in enum.enums] if values else []
    args.append(f"name={str(enum.name)!r}")
    if enum.schema is not None:
        args.append(f"schema={str(enum.schema)!r}")
    return f"sa.Enum({', '.join(args)})"


@renderers.dispatch_for(CreateEnumOp)
def _render_create_enum(autogen_context: AutogenContext, op: CreateEnumOp) -> str:
    # checkfirst=False: the guard above checked, and offline there is nothing to ask.
    return f"{_enum_source(op.enum, values=True)}.create(op.get_bind(), checkfirst=False)"


@renderers.dispatch_for(DropEnumOp)
def _render_drop_enum(autogen_context: AutogenContext, op: DropEnumOp) -> str:
    return f"{_enum_source(op.enum, values=False)}.drop(op.get_bind(), checkfirst=False)"


@renderers.dispatch_for(AutocommitBlockOp)
def _render_autocommit_block(
    autogen_context: AutogenContext, op: AutocommitBlockOp
) -> list[str | None]:
    body: list[str | None] = []
    for inner in op.ops:
        body.extend(render_op(autogen_context, inner))
    # ``None`` closes the ``with`` block, as it closes a guard's ``if``.
    return ["with op.get_context().autocommit_block():", *body, None]


@renderers.dispatch_for(ConstraintSQLOp)
def _render_constraint_sql(autogen_context: AutogenContext, op: ConstraintSQLOp) -> str:
    return f"op.execute({op.sql!r})"


@renderers.dispatch_for(ForeignKeyChecksOp)
def _render_foreign_key_checks(autogen_context: AutogenContext, op: ForeignKeyChecksOp) -> str:
    return f"op.execute('SET foreign_key_checks = {1 if op.on else 0}')"


@renderers.dispatch_for(OrphanCheckOp)
def _render_orphan_check(autogen_context: AutogenContext, op: OrphanCheckOp) -> str:
    autogen_context.imports.add(IMPORT)
    key = op.foreign_key
    args = [
        repr(str(key.source_table)),
        repr([str(c) for c in key.local_cols]),
        repr(str(key.referent_table)),
        repr([str(c) for c in key.remote_cols]),
    ]
    for name in ("source_schema", "referent_schema"):
        if key.kw.get(name) is not None:
            args.append(f"{name}={str(key.kw[name])!r}")
    return f"guards.require_no_orphans({', '.join(args)})"


@renderers.dispatch_for(DuplicateCheckOp)
def _render_duplicate_check(autogen_context: AutogenContext, op: DuplicateCheckOp) -> str:
    autogen_context.imports.add(IMPORT)
    schema = f", schema={op.schema!r}" if op.schema is not None else ""
    return f"guards.require_no_duplicates({op.table_name!r}, {op.columns!r}{schema})"
