"""The idempotent rewrite: every create and drop autogenerate emits goes behind a guard.

Same ops, same order: each create or drop becomes a :class:`GuardedOp` that renders as one
``if guards.<object>_missing(...)`` / ``_exists(...)`` line above the op. The departures,
each needed for the script to run, or to run again:

- Batch blocks collect their ops and run them when the block ends, so every guard inside a
  block is asked before any of its DDL. When an op touches an object that an earlier op of
  the same block touched (autogenerate drops and re-creates a changed index under one name),
  the block is split in two so the second guard sees the first op's result.
- On PostgreSQL, enum types get their own guarded create and drop (see :mod:`.enums`).
- Tables are ordered by their foreign keys, and MySQL gets its foreign key drops before its
  index drops (see :mod:`.ordering`).
- Unnamed constraints get a deterministic name, and names longer than the database allows
  are shortened the way SQLAlchemy does (see :mod:`.naming`).
- On PostgreSQL, indexes and constraints on a table that exists take their online form:
  concurrent builds and validation in autocommit blocks (see :mod:`.online`).

Outside batch blocks, ops also get ``if_not_exists``/``if_exists`` where the generating
database accepts them: in ``--sql`` output, where guards cannot ask, that is what is left.
Inside a batch block the index ops get them too when Alembic runs the block as plain ALTERs
on every database, SQLite included: a batch block is there so that the script also runs on
SQLite (a test suite's scratch database, a developer's laptop), whose table rebuild refuses
the flags and cannot run in ``--sql`` mode at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops

from flask_safemigrate.autogen.enums import EnumPlan, split_enums
from flask_safemigrate.autogen.naming import name_operations
from flask_safemigrate.autogen.online import duplicate_checks, mysql_online_forms, online_forms
from flask_safemigrate.autogen.operations import (
    AutocommitBlockOp,
    Check,
    ConstraintSQLOp,
    CreateEnumOp,
    DropEnumOp,
    GuardedOp,
)
from flask_safemigrate.autogen.ordering import (
    MYSQL,
    mysql_order,
    table_order,
    without_redundant_index_drops,
)

DONE = "flask_safemigrate.guarded"
# Where ``IF [NOT] EXISTS`` is accepted by every server version of the dialect (MySQL 8 has
# it for tables only; MariaDB has more, but a script made on one may run on the other).
_TABLE_FLAGS = frozenset({"sqlite", "postgresql", *MYSQL})
_INDEX_FLAGS = frozenset({"sqlite", "postgresql"})
_COLUMN_FLAGS = frozenset({"postgresql"})
_CONSTRAINT_FLAGS = frozenset({"postgresql"})


@dataclass(frozen=True)
class Target:
    """What the script is generated for: the database dialect and Flask-Migrate's batch mode."""

    dialect: str
    batch: bool
    enums: EnumPlan | None = None  # PostgreSQL only
    downgrade: bool = False


def _table_check(operation: ops.MigrateOperation) -> Check | None:
    if isinstance(operation, ops.CreateTableOp):
        return Check("table_missing", (operation.table_name,), operation.schema)
    if isinstance(operation, ops.DropTableOp):
        return Check("table_exists", (operation.table_name,), operation.schema)
    if isinstance(operation, ops.AddColumnOp):
        args = (operation.table_name, operation.column.name)
        return Check("column_missing", args, operation.schema)
    if isinstance(operation, ops.DropColumnOp):
        args = (operation.table_name, operation.column_name)
        return Check("column_exists", args, operation.schema)
    return None


def _index_check(operation: ops.MigrateOperation) -> Check | None:
    if isinstance(operation, ops.CreateIndexOp) and operation.index_name is not None:
        args = (operation.table_name, operation.index_name)
        return Check("index_missing", args, operation.schema)
    if (
        isinstance(operation, ops.DropIndexOp)
        and operation.index_name is not None
        and operation.table_name is not None
    ):
        args = (operation.table_name, operation.index_name)
        return Check("index_exists", args, operation.schema)
    return None


_DROP_HELPERS = {
    "unique": "unique_exists",
    "foreignkey": "foreign_key_exists",
    "check": "check_exists",
}


def _name(value: object) -> str | None:
    """A constraint's name, or ``None`` when it has none yet (``None``, SQLAlchemy's marker)."""
    return str(value) if isinstance(value, str) else None


def _constraint_check(operation: ops.MigrateOperation) -> Check | None:
    if isinstance(operation, ops.CreateUniqueConstraintOp):
        name = _name(operation.constraint_name)
        columns = None if name is not None else tuple(operation.columns)
        args = (operation.table_name, name)
        return Check("unique_missing", args, operation.schema, columns)
    if isinstance(operation, ops.CreateForeignKeyOp):
        name = _name(operation.constraint_name)
        columns = None if name is not None else tuple(operation.local_cols)
        schema = operation.kw.get("source_schema")
        return Check("foreign_key_missing", (operation.source_table, name), schema, columns)
    if isinstance(operation, ops.CreateCheckConstraintOp):
        name = _name(operation.constraint_name)
        if name is not None:
            return Check("check_missing", (operation.table_name, name), operation.schema)
    if isinstance(operation, ops.DropConstraintOp):
        name = _name(operation.constraint_name)
        if name is not None:
            helper = _DROP_HELPERS.get(operation.constraint_type or "", "constraint_exists")
            return Check(helper, (operation.table_name, name), operation.schema)
    return None


def _enum_check(operation: ops.MigrateOperation) -> Check | None:
    if isinstance(operation, CreateEnumOp | DropEnumOp):
        helper = "enum_missing" if isinstance(operation, CreateEnumOp) else "enum_exists"
        return Check(helper, (operation.enum.name,), operation.enum.schema)
    if isinstance(operation, ConstraintSQLOp) and operation.kind == "attach_unique":
        args = (operation.table_name, operation.constraint_name)
        return Check("constraint_missing", args, operation.schema)
    return None


_CHECKS: tuple[Callable[[ops.MigrateOperation], Check | None], ...] = (
    _table_check,
    _index_check,
    _constraint_check,
    _enum_check,
)


def check_for(operation: ops.MigrateOperation) -> Check | None:
    """The guard an op needs, or ``None`` when it creates and drops nothing we can name."""
    for find in _CHECKS:
        check = find(operation)
        if check is not None:
            return check
    return None


def _add_flag(operation: ops.MigrateOperation, dialect: str) -> None:
    """``if_not_exists``/``if_exists`` where Alembic and every server of the dialect take it."""
    flags: tuple[tuple[type[ops.MigrateOperation], str, frozenset[str]], ...] = (
        (ops.CreateTableOp, "if_not_exists", _TABLE_FLAGS),
        (ops.DropTableOp, "if_exists", _TABLE_FLAGS),
        (ops.CreateIndexOp, "if_not_exists", _INDEX_FLAGS),
        (ops.DropIndexOp, "if_exists", _INDEX_FLAGS),
        (ops.AddColumnOp, "if_not_exists", _COLUMN_FLAGS),
        (ops.DropColumnOp, "if_exists", _COLUMN_FLAGS),
        (ops.DropConstraintOp, "if_exists", _CONSTRAINT_FLAGS),
    )
    for kind, flag, dialects in flags:
        if isinstance(operation, kind) and dialect in dialects:
            setattr(operation, flag, True)
            return


def _guard(
    operation: ops.MigrateOperation, target: Target, *, in_batch: bool
) -> ops.MigrateOperation:
    check = check_for(operation)
    if check is None:
        return operation
    # Alembic's batch mode cannot pass the flags through a SQLite table rebuild.
    if not in_batch:
        _add_flag(operation, target.dialect)
    return GuardedOp(check, operation)


def _object_key(operation: ops.MigrateOperation) -> tuple[str, str] | None:
    """What an op in a batch block acts on: a column, or a named index or constraint."""
    check = check_for(operation)
    if check is None or len(check.args) < 2 or check.args[1] is None:
        return None
    kind = "column" if check.helper.startswith("column") else "named"
    return (kind, str(check.args[1]).lower())


def _batch_blocks(block: ops.ModifyTableOps, target: Target) -> list[ops.MigrateOperation]:
    """The block's ops guarded, split where a guard must see an earlier op of the block."""
    if not target.batch:
        return [
            ops.ModifyTableOps(
                block.table_name,
                [_guard(o, target, in_batch=False) for o in block.ops],
                schema=block.schema,
            )
        ]
    groups: list[list[ops.MigrateOperation]] = [[]]
    touched: set[tuple[str, str]] = set()
    for operation in block.ops:
        key = _object_key(operation)
        if key is not None and key in touched:
            groups.append([])
            touched = set()
        groups[-1].append(_guard(operation, target, in_batch=True))
        if key is not None:
            touched.add(key)
    for group in groups:
        if _runs_in_place(group):
            for guarded in group:
                inner = guarded.operation if isinstance(guarded, GuardedOp) else guarded
                if isinstance(inner, ops.CreateIndexOp | ops.DropIndexOp):
                    _add_flag(inner, target.dialect)
    return [
        ops.ModifyTableOps(block.table_name, group, schema=block.schema)
        for group in groups
        if group
    ]


def _runs_in_place(group: list[ops.MigrateOperation]) -> bool:
    """Whether Alembic runs this batch block's ops as plain ALTERs on every database, where
    an index op takes ``if_not_exists``/``if_exists`` (a table rebuild refuses them with a
    TypeError). Only SQLite rebuilds, and only for an op its ALTER cannot do
    (``SQLiteImpl.requires_recreate_in_batch``): anything but index create/drop and an added
    column without a constraint, a SQL-expression server default or a stored generated value.
    SQLite's rule holds whatever database the script was generated on: a script made against
    PostgreSQL still runs on the SQLite scratch database of the pytest plugin. Then ``--sql``
    prints ``CREATE INDEX IF NOT EXISTS`` where the online guard makes the op idempotent, as
    outside batch blocks; in a block that rebuilds on SQLite the guard alone does it."""
    for guarded in group:
        inner = guarded.operation if isinstance(guarded, GuardedOp) else guarded
        if isinstance(inner, ops.CreateIndexOp | ops.DropIndexOp):
            continue
        if not isinstance(inner, ops.AddColumnOp) or not _plain_column(inner.column):
            return False
    return True


def _plain_column(column: sa.Column[Any]) -> bool:
    """A column SQLite's ``ALTER TABLE ADD COLUMN`` adds as it is, with no batch rebuild."""
    default = column.server_default
    if isinstance(default, sa.DefaultClause) and isinstance(default.arg, sa.ClauseElement):
        return False
    if isinstance(default, sa.Computed) and default.persisted:
        return False
    return not (column.foreign_keys or column.unique or column.primary_key)


def guard_container(container: ops.OpContainer, target: Target) -> None:
    """Rewrite an ``upgrade()``/``downgrade()`` body in place (once: the hook may run again)."""
    if container.info.get(DONE):
        return
    name_operations(container.ops, target.dialect, downgrade=target.downgrade)
    operations = without_redundant_index_drops(table_order(list(container.ops)))
    if target.dialect in MYSQL:
        operations = mysql_order(operations)
    if target.enums is not None:
        operations = split_enums(operations, target.enums)
    operations = duplicate_checks(operations)
    if target.dialect == "postgresql":
        operations = online_forms(operations)
    elif target.dialect in MYSQL:
        operations = mysql_online_forms(operations)
    guarded: list[ops.MigrateOperation] = []
    for operation in operations:
        if isinstance(operation, ops.ModifyTableOps):
            guarded.extend(_batch_blocks(operation, target))
        elif isinstance(operation, AutocommitBlockOp):
            inner = [_guard(o, target, in_batch=False) for o in operation.ops]
            guarded.append(AutocommitBlockOp(inner))
        else:
            guarded.append(_guard(operation, target, in_batch=False))
    container.ops = guarded
    container.info[DONE] = True
