"""PostgreSQL enum types: created before their first column, dropped after their last.

Alembic leaves the type to the table: ``op.create_table`` creates it unconditionally (so a
re-run fails on "type already exists" even when the table is guarded), ``op.add_column``
never creates it (so adding an enum column fails), and nothing ever drops it. On PostgreSQL
the rewrite therefore gives each type its own guarded ``.create()`` in front of the first op
that needs it, marks the type ``create_type=False`` inside ``create_table``, and drops the
type at the end when the direction leaves no column using it.

The marked type is a ``postgresql.ENUM``, not an ``sa.Enum``: SQLAlchemy 2.0's generic
``Enum`` has no ``create_type`` (it takes the keyword and ignores it), so a script that says
``sa.Enum(..., create_type=False)`` creates the type a second time there and fails on
"type ... already exists". ``postgresql.ENUM`` honours the flag on 2.0 and 2.1 alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from flask_safemigrate.autogen.operations import CreateEnumOp, DropEnumOp

EnumKey = tuple[str | None, str]


def _native_enum(type_: object) -> sa.Enum | None:
    """The type when it is a named native enum that creating its table would create."""
    if (
        isinstance(type_, sa.Enum)
        and type_.native_enum
        and type_.name
        and getattr(type_, "create_type", True)
    ):
        return type_
    return None


def _key(enum: sa.Enum) -> EnumKey:
    assert enum.name is not None
    return (enum.schema, str(enum.name))


def _columns(operation: ops.MigrateOperation, *, created: bool) -> Iterator[sa.Column[object]]:
    """Columns the op brings into being (``created``) or removes."""
    if created:
        if isinstance(operation, ops.CreateTableOp):
            yield from (c for c in operation.columns if isinstance(c, sa.Column))
        elif isinstance(operation, ops.AddColumnOp):
            yield operation.column
        return
    reverse = getattr(operation, "_reverse", None)
    if isinstance(operation, ops.DropTableOp) and isinstance(reverse, ops.CreateTableOp):
        yield from (c for c in reverse.columns if isinstance(c, sa.Column))
    elif isinstance(operation, ops.DropColumnOp) and isinstance(reverse, ops.AddColumnOp):
        yield reverse.column


def _enums(operation: ops.MigrateOperation, *, created: bool) -> Iterator[sa.Enum]:
    for column in _columns(operation, created=created):
        enum = _native_enum(column.type)
        if enum is not None:
            yield enum


def _leaves(operation: ops.MigrateOperation) -> Iterator[ops.MigrateOperation]:
    if isinstance(operation, ops.ModifyTableOps):
        yield from operation.ops
    else:
        yield operation


def metadata_enums(metadata: object) -> set[EnumKey]:
    """The enum types the models use: what must exist after an upgrade."""
    found: set[EnumKey] = set()
    metadatas = metadata if isinstance(metadata, list | tuple) else [metadata]
    for meta in metadatas:
        if not isinstance(meta, sa.MetaData):
            continue
        for table in meta.tables.values():
            for column in table.columns:
                enum = _native_enum(column.type)
                if enum is not None:
                    found.add(_key(enum))
    return found


def existing_enums(bind: Connection, keys: Iterable[EnumKey]) -> set[EnumKey]:
    """Which of ``keys`` the database has now (autogenerate's database: before the upgrade)."""
    inspector = sa.inspect(bind)
    has_type = getattr(inspector, "has_type", None)
    if has_type is None:
        return set()
    return {key for key in keys if has_type(key[1], schema=key[0])}


def used_enums(operations: Iterable[ops.MigrateOperation]) -> set[EnumKey]:
    """Every enum type a create or drop in ``operations`` touches."""
    keys: set[EnumKey] = set()
    for operation in operations:
        for leaf in _leaves(operation):
            for created in (True, False):
                keys.update(_key(e) for e in _enums(leaf, created=created))
    return keys


@dataclass(frozen=True)
class EnumPlan:
    """Which types exist before this direction runs and which must exist after it."""

    before: set[EnumKey]
    after: set[EnumKey]


def _without_type_creation(operation: ops.CreateTableOp) -> None:
    """Mark the table's enum columns ``create_type=False``; the models' columns stay as they are."""
    items: list[sa.schema.SchemaItem] = []
    for item in operation.columns:
        if isinstance(item, sa.Column) and _native_enum(item.type) is not None:
            # metadata=None: a copy bound to the models' MetaData would add listeners to it.
            # postgresql.ENUM: the one enum class whose create_type SQLAlchemy 2.0 obeys.
            enum = item.type.adapt(
                postgresql.ENUM, metadata=None, create_type=False, _create_events=True
            )
            item = item._copy()
            item.type = enum
        items.append(item)
    operation.columns = items


def split_enums(
    operations: list[ops.MigrateOperation], plan: EnumPlan
) -> list[ops.MigrateOperation]:
    """``operations`` with each type's create before its first user and its drop at the end."""
    out: list[ops.MigrateOperation] = []
    created: set[EnumKey] = set()
    dropped: dict[EnumKey, sa.Enum] = {}
    for operation in operations:
        for leaf in _leaves(operation):
            for enum in _enums(leaf, created=True):
                key = _key(enum)
                if key not in plan.before and key not in created:
                    created.add(key)
                    out.append(CreateEnumOp(enum))
            for enum in _enums(leaf, created=False):
                key = _key(enum)
                if key not in plan.after:
                    dropped.setdefault(key, enum)
            if isinstance(leaf, ops.CreateTableOp):
                _without_type_creation(leaf)
        out.append(operation)
    out.extend(DropEnumOp(enum) for enum in dropped.values())
    return out
