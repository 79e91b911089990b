"""Where the rewrite changes the order autogenerate wrote, so the script can run at all.

- Tables are created after, and dropped before, the tables their foreign keys reference.
  Alembic finds removed tables in the order of a Python set, and a downgrade re-creates them
  in reverse, so on PostgreSQL and MySQL a foreign key would otherwise fail, at random.
- MySQL and MariaDB refuse to drop an index that a foreign key needs: a block's foreign key
  drops go first, and an index drop followed by the drop of its table is left out (dropping
  the table removes the index anyway).
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from alembic.operations import ops

Table = tuple[str | None, str]

MYSQL = frozenset({"mysql", "mariadb"})


def _redundant_index_drop(operation: ops.MigrateOperation, dropped_later: set[Table]) -> bool:
    return (
        isinstance(operation, ops.DropIndexOp)
        and operation.table_name is not None
        and (operation.schema, operation.table_name) in dropped_later
    )


def _is_foreign_key_drop(operation: ops.MigrateOperation) -> bool:
    return isinstance(operation, ops.DropConstraintOp) and operation.constraint_type == "foreignkey"


def mysql_order(operations: list[ops.MigrateOperation]) -> list[ops.MigrateOperation]:
    """What MySQL/MariaDB need beyond autogenerate's order.

    Both refuse to drop an index that a foreign key needs: the foreign key drops of a block
    move to its front, and an index drop followed by the drop of its table is left out
    (dropping the table removes the index anyway).
    """
    out: list[ops.MigrateOperation] = []
    dropped_later: set[Table] = set()
    for operation in reversed(operations):
        if isinstance(operation, ops.ModifyTableOps):
            inner = [o for o in operation.ops if not _redundant_index_drop(o, dropped_later)]
            inner.sort(key=lambda o: not _is_foreign_key_drop(o))  # stable: the rest keeps order
            if inner:
                out.append(ops.ModifyTableOps(operation.table_name, inner, schema=operation.schema))
        elif not _redundant_index_drop(operation, dropped_later):
            out.append(operation)
        if isinstance(operation, ops.DropTableOp):
            dropped_later.add((operation.schema, operation.table_name))
    return out[::-1]


def _references(operation: ops.CreateTableOp | ops.DropTableOp) -> set[Table]:
    """The tables a created or dropped table's foreign keys point at."""
    source = operation if isinstance(operation, ops.CreateTableOp) else operation._reverse
    found: set[Table] = set()
    for item in getattr(source, "columns", ()):
        if isinstance(item, sa.ForeignKeyConstraint) and item.elements:
            *schema, table, _column = item.elements[0].target_fullname.split(".")
            found.add((schema[0] if schema else operation.schema, table))
    return found


def _units(operations: list[ops.MigrateOperation]) -> list[list[ops.MigrateOperation]]:
    """Each table creation with the block that follows it (its indexes), each table drop with
    the block before it (its index drops), every other op alone."""
    units: list[list[ops.MigrateOperation]] = []
    for operation in operations:
        last = units[-1] if units else []
        if len(last) == 1 and (
            (isinstance(operation, ops.DropTableOp) and isinstance(last[0], ops.ModifyTableOps))
            or (
                isinstance(operation, ops.ModifyTableOps) and isinstance(last[0], ops.CreateTableOp)
            )
        ):
            first: Any = last[0]
            if (first.schema, first.table_name) == (operation.schema, operation.table_name):
                last.append(operation)
                continue
        units.append([operation])
    return units


def table_order(operations: list[ops.MigrateOperation]) -> list[ops.MigrateOperation]:
    """Created tables after the tables they reference, dropped tables before them.

    Alembic finds removed tables in the order of a Python set, and a downgrade re-creates them
    in the reverse of that order: on PostgreSQL and MySQL a foreign key then fails, at random.
    """
    units = _units(operations)
    for kind in (ops.CreateTableOp, ops.DropTableOp):
        keyed: dict[Table, int] = {}
        for position, unit in enumerate(units):
            key: Any = next((o for o in unit if isinstance(o, kind)), None)
            if key is not None:
                keyed[(key.schema, key.table_name)] = position
        refs = {table: _references(_key_op(units[at], kind)) for table, at in keyed.items()}
        before = {  # what must come first: a created table's targets, a dropped one's dependents
            table: {
                other
                for other in keyed
                if other != table
                and (other in refs[table] if kind is ops.CreateTableOp else table in refs[other])
            }
            for table in keyed
        }
        if all(keyed[o] < keyed[t] for t, others in before.items() for o in others):
            continue
        order: list[Table] = []
        while len(order) < len(keyed):
            left = [t for t in keyed if t not in order]
            ready = [t for t in left if before[t] <= set(order)] or left  # a cycle: keep order
            order.append(min(ready, key=keyed.__getitem__))
        slots, positions = iter(order), set(keyed.values())
        units = [
            units[keyed[next(slots)]] if position in positions else unit
            for position, unit in enumerate(units)
        ]
    return [operation for unit in units for operation in unit]


def _key_op(
    unit: list[ops.MigrateOperation], kind: type[ops.MigrateOperation]
) -> ops.CreateTableOp | ops.DropTableOp:
    return cast(ops.CreateTableOp | ops.DropTableOp, next(o for o in unit if isinstance(o, kind)))
