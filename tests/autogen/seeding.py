"""Half-applied databases: a seeded random half of a migration's operations, run directly.

The operations come from Alembic's own ``produce_migrations`` (plus the app's check
constraint hook), not from the generated script under test, and run through Alembic's
``Operations`` without any guard. A step runs only when what it needs from the same plan
ran too (a table before its index, a drop of a name before its re-creation, ...), so each
seed gives a database that a migration failing half-way, or someone running DDL by hand,
could have left behind.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.operations import Operations, ops
from alembic.runtime.migration import MigrationContext
from flask import Flask
from sqlalchemy.dialects import postgresql

from tests.autogen import models
from tests.support.apps import sqlalchemy_of

Key = tuple[str, ...]


@dataclass
class Step:
    """One operation of the plan, where it runs, and what it needs and provides."""

    operation: ops.MigrateOperation | sa.Enum
    table: str | None = None  # inside ``batch_alter_table(table)`` when set
    needs: set[Key] = field(default_factory=set)
    gives: set[Key] = field(default_factory=set)


def _enum(type_: object) -> sa.Enum | None:
    return type_ if isinstance(type_, sa.Enum) and type_.name else None


def _column_keys(table: str, names: Iterator[str]) -> set[Key]:
    return {("column", table, name) for name in names}


def _describe(step: Step, dialect: str, earlier: list[Step]) -> None:
    """Fill in what the step needs and gives."""
    operation, table = step.operation, step.table
    if isinstance(operation, sa.Enum):
        step.gives.add(("enum", str(operation.name)))
        return
    if isinstance(operation, ops.CreateTableOp):
        step.gives.add(("table", operation.table_name))
        for item in operation.columns:
            if isinstance(item, sa.Column):
                step.gives.add(("column", operation.table_name, item.name))
                enum = _enum(item.type)
                if enum is not None and dialect == "postgresql":
                    step.needs.add(("enum", str(enum.name)))
            elif isinstance(item, sa.ForeignKeyConstraint):
                step.needs.add(("table", item.elements[0].target_fullname.split(".")[0]))
        return
    assert table is not None
    step.needs.add(("table", table))
    if isinstance(operation, ops.AddColumnOp):
        step.gives.add(("column", table, operation.column.name))
        enum = _enum(operation.column.type)
        if enum is not None and dialect == "postgresql":
            step.needs.add(("enum", str(enum.name)))
    elif isinstance(operation, ops.DropIndexOp | ops.DropConstraintOp):
        name = operation.index_name if isinstance(operation, ops.DropIndexOp) else None
        name = name or str(getattr(operation, "constraint_name", ""))
        step.gives.add(("dropped", table, str(name)))
        if dialect == "mysql" and isinstance(operation, ops.DropIndexOp):
            # MySQL refuses to drop an index a foreign key still needs.
            step.needs |= {k for s in earlier for k in s.gives if k[0] == "dropped-fk"}
        if (
            isinstance(operation, ops.DropConstraintOp)
            and operation.constraint_type == "foreignkey"
        ):
            step.gives.add(("dropped-fk", table, str(name)))
    elif isinstance(operation, ops.DropColumnOp):
        # Whatever this block dropped before the column (its index, its foreign key).
        step.needs |= {
            k for s in earlier if s.table == table for k in s.gives if k[0].startswith("dropped")
        }
    else:
        name = getattr(operation, "index_name", None) or getattr(operation, "constraint_name", None)
        if name is not None:
            step.needs.add(("dropped", table, str(name)))
        columns = (
            getattr(operation, "columns", None) or getattr(operation, "local_cols", None) or []
        )
        step.needs |= _column_keys(table, (getattr(c, "name", str(c)) for c in columns))
        if isinstance(operation, ops.CreateForeignKeyOp):
            step.needs.add(("table", operation.referent_table))
        if isinstance(operation, ops.CreateCheckConstraintOp):
            step.needs |= {k for s in earlier for k in s.gives if k[:2] == ("column", table)}


def plan(app: Flask) -> list[Step]:
    """The operations from the database as it is to the app's models, in Alembic's order."""
    metadata = sqlalchemy_of(app).metadata
    with app.app_context(), sqlalchemy_of(app).engine.connect() as conn:
        dialect = conn.dialect.name
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "target_metadata": metadata}
        )
        script = produce_migrations(context, metadata)
        models.compare_check_constraints(context, None, [script])
    steps: list[Step] = []
    seen_enums: set[str] = set()
    assert script.upgrade_ops is not None
    for operation in script.upgrade_ops.ops:
        inner = operation.ops if isinstance(operation, ops.ModifyTableOps) else [operation]
        table = operation.table_name if isinstance(operation, ops.ModifyTableOps) else None
        if dialect == "mysql":
            inner = sorted(inner, key=lambda o: not _drops_foreign_key(o))
        for item in inner:
            if dialect == "postgresql":
                for enum in _enums_of(item):
                    if str(enum.name) not in seen_enums:
                        seen_enums.add(str(enum.name))
                        steps.append(Step(enum))
            steps.append(Step(item, table))
    for position, step in enumerate(steps):
        _describe(step, dialect, steps[:position])
    return steps


def _drops_foreign_key(operation: ops.MigrateOperation) -> bool:
    return isinstance(operation, ops.DropConstraintOp) and operation.constraint_type == "foreignkey"


def _enums_of(operation: ops.MigrateOperation) -> Iterator[sa.Enum]:
    columns: list[object] = []
    if isinstance(operation, ops.CreateTableOp):
        columns = list(operation.columns)
    elif isinstance(operation, ops.AddColumnOp):
        columns = [operation.column]
    for column in columns:
        if isinstance(column, sa.Column):
            enum = _enum(column.type)
            if enum is not None:
                yield enum


def choose(steps: list[Step], seed: int) -> list[Step]:
    """About half of the steps, at random, each only with everything it needs."""
    rng = random.Random(seed)
    planned = {key for step in steps for key in step.gives}
    done: set[Key] = set()
    chosen: list[Step] = []
    for step in steps:
        if rng.random() < 0.5 and all(k in done for k in step.needs if k in planned):
            chosen.append(step)
            done |= step.gives
    return chosen


def run(app: Flask, steps: list[Step]) -> None:
    """Run the steps as plain Alembic operations, without any guard."""
    with app.app_context(), sqlalchemy_of(app).engine.begin() as conn:
        operations = Operations(MigrationContext.configure(conn))
        for step in steps:
            operation = step.operation
            if isinstance(operation, sa.Enum):
                operation.create(conn, checkfirst=False)
            elif step.table is None:
                if isinstance(operation, ops.CreateTableOp):
                    _keep_enum_types(operation)
                operations.invoke(operation)
            else:
                if isinstance(operation, ops.AddColumnOp):
                    operation = _bare_column(operation)
                with operations.batch_alter_table(step.table) as batch:
                    batch.invoke(operation)


def _bare_column(operation: ops.AddColumnOp) -> ops.AddColumnOp:
    """The column as the script adds it: its index and foreign key are separate steps."""
    column = operation.column
    bare = sa.Column(column.name, column.type, nullable=column.nullable)
    return ops.AddColumnOp(operation.table_name, bare, schema=operation.schema)


def _keep_enum_types(operation: ops.CreateTableOp) -> None:
    """The seeding made the enum types itself: the table must not create them again."""
    items: list[sa.schema.SchemaItem] = []
    for item in operation.columns:
        enum = _enum(item.type) if isinstance(item, sa.Column) else None
        if isinstance(item, sa.Column) and enum is not None:
            # A new column: a copy would keep the old type's table-create listener, and
            # postgresql.ENUM, as sa.Enum's copy() (Alembic copies columns) drops create_type.
            enum_type = postgresql.ENUM(*enum.enums, name=enum.name, create_type=False)
            item = sa.Column(item.name, enum_type, nullable=item.nullable)
        items.append(item)
    operation.columns = items


def describe(steps: list[Step]) -> list[str]:
    """The chosen steps in one line each, for a failure message."""
    out = []
    for step in steps:
        operation = step.operation
        if isinstance(operation, sa.Enum):
            out.append(f"create enum {operation.name}")
        else:
            out.append(
                f"{type(operation).__name__} {step.table or ''} {operation.to_diff_tuple()!s:.80}"
            )
    return out
