"""PostgreSQL: what autogenerate emits for a table that exists, in the form that keeps it online.

Alembic renders the plain statements, and on a live table each one stops the application
for as long as it scans or builds (see the lint rules ``create-index-not-concurrently``,
``add-unique-constraint``, ``add-foreign-key-validating`` and
``add-check-constraint-validating``). On a table the same body does not create, the hook
renders instead:

- an index: ``postgresql_concurrently=True`` inside ``op.get_context().autocommit_block()``,
  for the drop too unless the body drops the table or one of its columns anyway;
- a unique constraint: a unique index built concurrently (autocommit block), then
  ``ALTER TABLE ... ADD CONSTRAINT ... UNIQUE USING INDEX ...``, a catalog-only change;
- a foreign key or check constraint: ``postgresql_not_valid=True`` (new rows are checked at
  once), then ``VALIDATE CONSTRAINT`` in an autocommit block after the table's block, so the
  validating scan runs in its own transaction under a lock that lets reads and writes go on
  instead of inside the one that took the ``ADD CONSTRAINT``'s lock.

Committing part-way is safe because every op stays behind its guard: a run that stops
between two blocks converges when it runs again.

MySQL and MariaDB build indexes online already, but add a foreign key to an existing table
by copying it unless ``foreign_key_checks`` is off (see the lint rule
``mysql-add-foreign-key``). There the hook first makes sure no existing row breaks the key
(``guards.require_no_orphans`` stops the migration, naming the count, if one does), then
adds the key in place with the checks off for that one statement.
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic.operations import ops
from sqlalchemy.dialects import postgresql

from flask_safemigrate.autogen.operations import (
    AutocommitBlockOp,
    ConstraintSQLOp,
    DuplicateCheckOp,
    ForeignKeyChecksOp,
    OrphanCheckOp,
)

Table = tuple[str | None, str]

_PREPARER = postgresql.dialect().identifier_preparer  # type: ignore[no-untyped-call]


def _table_sql(table: str, schema: str | None) -> str:
    quoted = _PREPARER.quote(table)
    return f"{_PREPARER.quote_schema(schema)}.{quoted}" if schema else quoted


def attach_unique(table: str, name: str, schema: str | None) -> ConstraintSQLOp:
    """``ADD CONSTRAINT <name> UNIQUE USING INDEX <name>``: the index becomes the constraint."""
    quoted = _PREPARER.quote(name)
    sql = (
        f"ALTER TABLE {_table_sql(table, schema)} ADD CONSTRAINT {quoted}"
        f" UNIQUE USING INDEX {quoted}"
    )
    return ConstraintSQLOp("attach_unique", table, name, sql, schema)


def validate(table: str, name: str, schema: str | None) -> ConstraintSQLOp:
    """``VALIDATE CONSTRAINT``: scans the rows under SHARE UPDATE EXCLUSIVE only."""
    sql = f"ALTER TABLE {_table_sql(table, schema)} VALIDATE CONSTRAINT {_PREPARER.quote(name)}"
    return ConstraintSQLOp("validate", table, name, sql, schema)


def _created(operations: Iterable[ops.MigrateOperation]) -> set[Table]:
    return {(o.schema, o.table_name) for o in operations if isinstance(o, ops.CreateTableOp)}


def _dropping(operations: Iterable[ops.MigrateOperation]) -> set[Table]:
    """Tables the body drops, or drops a column of: their index drops take that lock anyway."""
    return {
        (o.schema, o.table_name)
        for o in operations
        if isinstance(o, ops.DropTableOp)
        or (
            isinstance(o, ops.ModifyTableOps)
            and any(isinstance(each, ops.DropColumnOp) for each in o.ops)
        )
    }


def _unique_index(operation: ops.CreateUniqueConstraintOp) -> ops.CreateIndexOp:
    # The name as it is (a ``conv``): rendered as ``op.f()``, no naming convention applies.
    name = operation.constraint_name
    assert isinstance(name, str)
    return ops.CreateIndexOp(
        name,
        operation.table_name,
        list(operation.columns),
        schema=operation.schema,
        unique=True,
        postgresql_concurrently=True,
    )


def _online_block(block: ops.ModifyTableOps, dropping: bool) -> list[ops.MigrateOperation]:
    """The block's ops, the ones that would lock the table taken out into their safe form."""
    out: list[ops.MigrateOperation] = []
    segment: list[ops.MigrateOperation] = []
    validations: list[ops.MigrateOperation] = []

    def close(*hoisted: ops.MigrateOperation) -> None:
        nonlocal segment
        if segment:
            out.append(ops.ModifyTableOps(block.table_name, segment, schema=block.schema))
            segment = []
        out.extend(hoisted)

    for operation in block.ops:
        if isinstance(operation, ops.CreateIndexOp) or (
            isinstance(operation, ops.DropIndexOp) and not dropping
        ):
            operation.kw["postgresql_concurrently"] = True
            close(AutocommitBlockOp([operation]))
        elif (
            isinstance(operation, ops.CreateUniqueConstraintOp)
            and operation.constraint_name is not None
        ):
            name = str(operation.constraint_name)
            close(
                AutocommitBlockOp([_unique_index(operation)]),
                attach_unique(operation.table_name, name, operation.schema),
            )
        elif (
            isinstance(operation, ops.CreateForeignKeyOp | ops.CreateCheckConstraintOp)
            and operation.constraint_name is not None
        ):
            operation.kw["postgresql_not_valid"] = True
            segment.append(operation)
            table = (
                operation.source_table
                if isinstance(operation, ops.CreateForeignKeyOp)
                else operation.table_name
            )
            schema = (
                operation.kw.get("source_schema")
                if isinstance(operation, ops.CreateForeignKeyOp)
                else operation.schema
            )
            validations.append(validate(table, str(operation.constraint_name), schema))
        else:
            segment.append(operation)
    close()
    if validations:
        out.append(AutocommitBlockOp(validations))
    return out


def online_forms(operations: list[ops.MigrateOperation]) -> list[ops.MigrateOperation]:
    """``operations`` (an ``upgrade()`` or ``downgrade()`` body) with the PostgreSQL safe forms
    for every table it does not create."""
    created = _created(operations)
    dropping = _dropping(operations)
    out: list[ops.MigrateOperation] = []
    for operation in operations:
        key = (getattr(operation, "schema", None), getattr(operation, "table_name", ""))
        if isinstance(operation, ops.ModifyTableOps) and key not in created:
            out.extend(_online_block(operation, key in dropping))
        else:
            out.append(operation)
    return _merge_blocks(out)


def _merge_blocks(operations: list[ops.MigrateOperation]) -> list[ops.MigrateOperation]:
    """Adjacent autocommit blocks as one: nothing runs between them anyway."""
    out: list[ops.MigrateOperation] = []
    for operation in operations:
        if (
            isinstance(operation, AutocommitBlockOp)
            and out
            and isinstance(out[-1], AutocommitBlockOp)
        ):
            out[-1] = AutocommitBlockOp([*out[-1].ops, *operation.ops])
        else:
            out.append(operation)
    return out


def _mysql_block(block: ops.ModifyTableOps) -> list[ops.MigrateOperation]:
    out: list[ops.MigrateOperation] = []
    segment: list[ops.MigrateOperation] = []
    for operation in block.ops:
        if isinstance(operation, ops.CreateForeignKeyOp):
            if segment:
                out.append(ops.ModifyTableOps(block.table_name, segment, schema=block.schema))
                segment = []
            out += [
                OrphanCheckOp(operation),
                ForeignKeyChecksOp(on=False),
                ops.ModifyTableOps(block.table_name, [operation], schema=block.schema),
                ForeignKeyChecksOp(on=True),
            ]
        else:
            segment.append(operation)
    if segment:
        out.append(ops.ModifyTableOps(block.table_name, segment, schema=block.schema))
    return out


def mysql_online_forms(operations: list[ops.MigrateOperation]) -> list[ops.MigrateOperation]:
    """``operations`` with MySQL's in-place form of each foreign key added to an existing
    table."""
    created = _created(operations)
    out: list[ops.MigrateOperation] = []
    for operation in operations:
        key = (getattr(operation, "schema", None), getattr(operation, "table_name", ""))
        if isinstance(operation, ops.ModifyTableOps) and key not in created:
            out.extend(_mysql_block(operation))
        else:
            out.append(operation)
    return out


def _unique_columns(operation: ops.MigrateOperation) -> list[str] | None:
    if isinstance(operation, ops.CreateUniqueConstraintOp):
        return [str(c) for c in operation.columns]
    if isinstance(operation, ops.CreateIndexOp) and operation.unique:
        columns = [getattr(c, "name", c) for c in operation.columns]
        return [str(c) for c in columns] if all(isinstance(c, str) for c in columns) else None
    return None


def duplicate_checks(operations: list[ops.MigrateOperation]) -> list[ops.MigrateOperation]:
    """``operations`` with ``guards.require_no_duplicates`` before each table block that makes
    existing columns of an existing table unique (on every dialect: duplicates fail them
    all). Columns the block adds hold only NULLs, which repeat freely: no check."""
    created = _created(operations)
    out: list[ops.MigrateOperation] = []
    for operation in operations:
        key = (getattr(operation, "schema", None), getattr(operation, "table_name", ""))
        if isinstance(operation, ops.ModifyTableOps) and key not in created:
            added = {o.column.name for o in operation.ops if isinstance(o, ops.AddColumnOp)}
            for inner in operation.ops:
                columns = _unique_columns(inner)
                if columns and not set(columns) <= added:
                    out.append(DuplicateCheckOp(operation.table_name, columns, operation.schema))
        out.append(operation)
    return out
