"""How the added operations read in the script: one ``if`` line above the op Alembic renders.

Importing this module registers the renderers with Alembic.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.render import render_op, renderers

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


@renderers.dispatch_for(GuardedOp)
def _render_guarded(autogen_context: AutogenContext, op: GuardedOp) -> list[str | None]:
    autogen_context.imports.add(IMPORT)
    # ``None`` makes Mako's printer close the ``if`` block without writing a blank line.
    return [f"if {op.check.source()}:", *_body(render_op(autogen_context, op.operation)), None]


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
