"""Names for what autogenerate leaves unnamed, and names that fit the database's limit.

A model without a naming convention gives Alembic unique constraints and foreign keys with
no name: ``op.create_unique_constraint(None, ...)`` lets each database invent one (a later
``drop_constraint`` cannot name it portably), and the generated downgrade's
``op.drop_constraint(None, ...)`` always fails. The hook gives each one the name the usual
convention would (``uq_<table>_<columns>``, ``fk_<table>_<column>_<referred table>``,
``ck_<table>_<hash of the condition>``), derived from the constraint alone, so that the
upgrade's create and the downgrade's drop agree without looking at each other.

PostgreSQL truncates identifiers to 63 bytes and MySQL refuses more than 64, so a longer
name (an app's convention on long table names) is shortened the way SQLAlchemy shortens it
when it emits DDL: a prefix, ``_`` and four hex digits of the full name's md5. The script
then names what the database really holds, so the guards find it and the next autogenerate
matches it (Alembic compares long names after the same truncation).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic.operations import ops
from sqlalchemy.sql.elements import conv

# Bytes; SQLite has no limit (SQLAlchemy does not truncate there either).
LIMITS = {"postgresql": 63, "mysql": 64, "mariadb": 64}


def fit(name: str, dialect: str) -> str:
    """``name``, or its hash-truncated form when it is longer than the dialect allows."""
    limit = LIMITS.get(dialect)
    if limit is None or len(name.encode("utf-8")) <= limit:
        return name
    digest = hashlib.md5(name.encode("utf-8"), usedforsecurity=False).hexdigest()[-4:]
    head = name.encode("utf-8")[: limit - 8].decode("utf-8", errors="ignore")
    return f"{head}_{digest}"


def _join(parts: Iterable[object]) -> str:
    return "_".join(str(part) for part in parts)


def unique_name(table: str, columns: Sequence[object]) -> str:
    """``uq_<table>_<columns>``: what most naming conventions produce."""
    return f"uq_{table}_{_join(columns)}"


def foreign_key_name(table: str, columns: Sequence[object], referred: str) -> str:
    """``fk_<table>_<columns>_<referred table>``."""
    return f"fk_{table}_{_join(columns)}_{referred}"


def check_name(table: str, condition: str) -> str:
    """``ck_<table>_<8 hex digits of the condition>``: a condition has no short name."""
    digest = hashlib.sha1(condition.encode("utf-8"), usedforsecurity=False).hexdigest()[:8]
    return f"ck_{table}_{digest}"


def _named(value: object) -> str | None:
    """A name that is set (a ``conv`` or plain string), else ``None``."""
    return str(value) if isinstance(value, str) else None


def _constraint_name(constraint: sa.Constraint, table: str) -> str | None:
    """The deterministic name for an unnamed constraint of a table being created."""
    if isinstance(constraint, sa.UniqueConstraint):
        return unique_name(table, [c.name for c in constraint.columns])
    if isinstance(constraint, sa.ForeignKeyConstraint) and constraint.elements:
        referred = constraint.elements[0].target_fullname.rsplit(".", 2)[-2]
        return foreign_key_name(table, [c.name for c in constraint.columns], referred)
    if isinstance(constraint, sa.CheckConstraint):
        return check_name(table, str(constraint.sqltext))
    return None


def _name_table(operation: ops.CreateTableOp, dialect: str) -> None:
    """Name the unnamed constraints of a ``create_table`` (primary keys stay as they are)."""
    unnamed = [
        item
        for item in operation.columns
        if isinstance(item, sa.Constraint)
        and not isinstance(item, sa.PrimaryKeyConstraint)
        and _named(item.name) is None
    ]
    long_names = [
        item
        for item in operation.columns
        if isinstance(item, sa.Constraint)
        and _named(item.name) is not None
        and fit(str(item.name), dialect) != str(item.name)
    ]
    if not unnamed and not long_names:
        return
    # A copy: the op's columns and constraints are the models' own objects.
    table = operation.to_table()
    for constraint in table.constraints:
        if isinstance(constraint, sa.PrimaryKeyConstraint):
            continue
        current = _named(constraint.name)
        name = current if current is not None else _constraint_name(constraint, table.name)
        if name is not None:
            constraint.name = conv(fit(name, dialect))
    operation.columns = [*table.columns, *table.constraints]


def _name_for(operation: ops.MigrateOperation) -> str | None:
    """The deterministic name of the constraint an unnamed create (or its drop) is about."""
    if isinstance(operation, ops.CreateUniqueConstraintOp):
        return unique_name(operation.table_name, list(operation.columns))
    if isinstance(operation, ops.CreateForeignKeyOp):
        return foreign_key_name(
            operation.source_table, list(operation.local_cols), operation.referent_table
        )
    if isinstance(operation, ops.CreateCheckConstraintOp):
        return check_name(operation.table_name, str(operation.condition))
    return None


def _fit_op(operation: ops.MigrateOperation, dialect: str) -> None:
    for attribute in ("index_name", "constraint_name"):
        value = getattr(operation, attribute, None)
        if isinstance(value, str) and fit(value, dialect) != value:
            setattr(operation, attribute, conv(fit(value, dialect)))


def name_operation(operation: ops.MigrateOperation, dialect: str, *, downgrade: bool) -> None:
    """Name an unnamed constraint op, and shorten a name the database would truncate.

    An unnamed drop is named only in ``downgrade()``: there it drops what the upgrade
    created (and named); in ``upgrade()`` it drops what the database already has, under the
    name the database gave it, which the hook cannot know.
    """
    if isinstance(operation, ops.CreateTableOp):
        _name_table(operation, dialect)
        return
    creates = (ops.CreateUniqueConstraintOp, ops.CreateForeignKeyOp, ops.CreateCheckConstraintOp)
    if isinstance(operation, creates) and _named(operation.constraint_name) is None:
        name = _name_for(operation)
        if name is not None:
            operation.constraint_name = conv(name)
    elif (
        isinstance(operation, ops.DropConstraintOp)
        and downgrade
        and _named(operation.constraint_name) is None
    ):
        reverse = getattr(operation, "_reverse", None)
        name = _name_for(reverse) if isinstance(reverse, creates) else None
        if name is not None and isinstance(reverse, creates):
            operation.constraint_name = conv(name)
            reverse.constraint_name = conv(name)
    _fit_op(operation, dialect)


def name_operations(
    operations: Iterable[ops.MigrateOperation], dialect: str, *, downgrade: bool
) -> None:
    """:func:`name_operation` over a body and the ops of its ``ModifyTableOps`` blocks."""
    for operation in operations:
        if isinstance(operation, ops.ModifyTableOps):
            name_operations(operation.ops, dialect, downgrade=downgrade)
        else:
            name_operation(operation, dialect, downgrade=downgrade)
