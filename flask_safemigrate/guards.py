"""Existence checks that generated migrations put in front of each create and drop.

``flask db migrate`` writes ``if guards.table_missing('users'):`` before ``op.create_table``
and ``if guards.table_exists('users'):`` before ``op.drop_table``, so a migration that died
half-way (MySQL and MariaDB cannot roll DDL back) or meets objects made by ``create_all()``
converges when it runs again instead of failing on "already exists".

Each answer comes from the migration's own connection (``op.get_bind()``) through a fresh
inspector (for PostgreSQL indexes, one catalog query): inside a transaction it sees the DDL
the migration already ran, and nothing is cached between two questions. Names are compared
or bound as parameters, never spliced into SQL.

The truth of every helper means "go ahead": ``*_missing`` goes before a create and
``*_exists`` before a drop. In offline mode (``flask db upgrade --sql``) there is no database
to ask, so every helper answers True and every statement is written out. Do not negate a
helper (``not guards.table_exists(...)``): offline that would skip the create.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql.base import PGInspector
from sqlalchemy.engine import Connection, Inspector

__all__ = [
    "check_exists",
    "check_missing",
    "column_exists",
    "column_missing",
    "constraint_exists",
    "constraint_missing",
    "enum_exists",
    "enum_missing",
    "foreign_key_exists",
    "foreign_key_missing",
    "index_exists",
    "index_missing",
    "require_no_duplicates",
    "require_no_orphans",
    "table_exists",
    "table_missing",
    "unique_exists",
    "unique_missing",
]

Names = Callable[[Inspector, str, str | None], Iterable[dict[str, Any]]]


def _bind() -> Connection | None:
    """The migration's connection, or ``None`` in offline (``--sql``) mode."""
    if op.get_context().as_sql:
        return None
    bind = op.get_bind()
    assert isinstance(bind, Connection)
    return bind


def _same(bind: Connection, found: str | None, wanted: str) -> bool:
    """PostgreSQL keeps the case of a quoted name; SQLite and MySQL compare names without it."""
    if found is None:
        return False
    if found == wanted:
        return True
    return bind.dialect.name != "postgresql" and found.lower() == wanted.lower()


def _has_table(bind: Connection, table: str, schema: str | None) -> bool:
    return sa.inspect(bind).has_table(table, schema=schema)


def _has(
    table: str, name: str | None, schema: str | None, lists: Sequence[Names], columns: Any
) -> bool | None:
    """Whether ``table`` has an object called ``name`` (or, unnamed, on exactly ``columns``).

    ``None`` offline. A table that does not exist has nothing.
    """
    bind = _bind()
    if bind is None:
        return None
    if name is not None and lists in _NAMED_INDEXES and bind.dialect.name == "postgresql":
        return _pg_has_index(bind, table, name, schema)
    inspector = sa.inspect(bind)
    wanted_columns = None if columns is None else sorted(columns)
    try:
        for listing in lists:
            for item in listing(inspector, table, schema):
                if name is not None:
                    if _same(bind, item.get("name"), name):
                        return True
                elif sorted(_columns_of(item)) == wanted_columns:
                    return True
    except sa.exc.NoSuchTableError:
        return False
    return False


# PostgreSQL: one indexed catalog lookup where the inspector makes three queries (index
# guards are most of a large initial migration's guards). Every unique constraint there is
# backed by an index of the same name. Bound parameters only; visibility as has_table()'s.
_PG_CLASS = sa.table(
    "pg_class",
    sa.column("oid"),
    sa.column("relname"),
    sa.column("relnamespace"),
    schema="pg_catalog",
)
_PG_INDEX = sa.table(
    "pg_index",
    sa.column("indexrelid"),
    sa.column("indrelid"),
    sa.column("indisvalid"),
    schema="pg_catalog",
)
_PG_NAMESPACE = sa.table(
    "pg_namespace", sa.column("oid"), sa.column("nspname"), schema="pg_catalog"
)


def _pg_has_index(bind: Connection, table: str, name: str, schema: str | None) -> bool:
    valid = _pg_index_validity(bind, table, name, schema)
    return valid is not None


def _pg_index_query(*, in_schema: bool) -> sa.Select[tuple[Any]]:
    """Built once: a large migration asks hundreds of times; only the values change."""
    index, owner = _PG_CLASS.alias("index"), _PG_CLASS.alias("owner")
    joined = index.join(_PG_INDEX, _PG_INDEX.c.indexrelid == index.c.oid).join(
        owner, owner.c.oid == _PG_INDEX.c.indrelid
    )
    visible: sa.ColumnElement[Any]
    if in_schema:
        joined = joined.join(_PG_NAMESPACE, _PG_NAMESPACE.c.oid == owner.c.relnamespace)
        visible = _PG_NAMESPACE.c.nspname == sa.bindparam("schema")
    else:
        visible = sa.func.pg_catalog.pg_table_is_visible(owner.c.oid)
    return (
        sa.select(_PG_INDEX.c.indisvalid)
        .select_from(joined)
        .where(index.c.relname == sa.bindparam("name"), owner.c.relname == sa.bindparam("table"))
        .where(visible)
        .limit(1)
    )


_PG_INDEX_QUERIES = {False: _pg_index_query(in_schema=False), True: _pg_index_query(in_schema=True)}


def _pg_index_validity(bind: Connection, table: str, name: str, schema: str | None) -> bool | None:
    """``None`` when there is no such index, else whether PostgreSQL marks it valid."""
    values = {"name": name, "table": table, "schema": schema}
    row = bind.execute(_PG_INDEX_QUERIES[schema is not None], values).first()
    return None if row is None else bool(row[0])


def _drop_invalid_pg_index(bind: Connection, table: str, index: str, schema: str | None) -> None:
    """Drop an index an interrupted ``CREATE INDEX CONCURRENTLY`` left INVALID.

    PostgreSQL keeps such an index in the catalog but never uses it, so "it exists" would be
    the wrong answer before a create: the run that resumes after a kill or a lock timeout
    would skip the build and leave the table without its index. The recovery PostgreSQL
    documents is to drop it and build again, concurrently when in an autocommit block.
    """
    autocommit = bind.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    op.drop_index(index, table_name=table, schema=schema, postgresql_concurrently=autocommit)


def _columns_of(item: dict[str, Any]) -> list[str]:
    return list(item.get("column_names") or item.get("constrained_columns") or [])


def _indexes(inspector: Inspector, table: str, schema: str | None) -> Iterable[dict[str, Any]]:
    return [dict(i) for i in inspector.get_indexes(table, schema=schema)]


def _uniques(inspector: Inspector, table: str, schema: str | None) -> Iterable[dict[str, Any]]:
    return [dict(u) for u in inspector.get_unique_constraints(table, schema=schema)]


def _unique_indexes(
    inspector: Inspector, table: str, schema: str | None
) -> Iterable[dict[str, Any]]:
    """MySQL keeps a unique constraint as a unique index; other databases may too."""
    return [i for i in _indexes(inspector, table, schema) if i.get("unique")]


def _foreign_keys(inspector: Inspector, table: str, schema: str | None) -> Iterable[dict[str, Any]]:
    return [dict(f) for f in inspector.get_foreign_keys(table, schema=schema)]


def _checks(inspector: Inspector, table: str, schema: str | None) -> Iterable[dict[str, Any]]:
    return [dict(c) for c in inspector.get_check_constraints(table, schema=schema)]


def _primary_key(inspector: Inspector, table: str, schema: str | None) -> Iterable[dict[str, Any]]:
    return [dict(inspector.get_pk_constraint(table, schema=schema))]


_INDEXES: tuple[Names, ...] = (_indexes,)
_UNIQUE: tuple[Names, ...] = (_uniques, _unique_indexes)
_NAMED_INDEXES = (_INDEXES, _UNIQUE)
_ANY_CONSTRAINT = (_uniques, _unique_indexes, _foreign_keys, _checks, _primary_key)


def _go(present: bool | None, *, creating: bool) -> bool:
    """Offline (``None``) always goes ahead; online a create needs absence, a drop presence."""
    if present is None:
        return True
    return not present if creating else present


# --------------------------------------------------------------------------- tables


def table_missing(table: str, *, schema: str | None = None) -> bool:
    """True when ``table`` does not exist: go ahead and create it."""
    bind = _bind()
    return _go(None if bind is None else _has_table(bind, table, schema), creating=True)


def table_exists(table: str, *, schema: str | None = None) -> bool:
    """True when ``table`` exists: go ahead and drop it."""
    bind = _bind()
    return _go(None if bind is None else _has_table(bind, table, schema), creating=False)


# --------------------------------------------------------------------------- columns


def _has_column(table: str, column: str, schema: str | None) -> bool | None:
    bind = _bind()
    if bind is None:
        return None
    try:
        found = sa.inspect(bind).get_columns(table, schema=schema)
    except sa.exc.NoSuchTableError:
        return False
    return any(_same(bind, c["name"], column) for c in found)


def column_missing(table: str, column: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has no column ``column``: go ahead and add it."""
    return _go(_has_column(table, column, schema), creating=True)


def column_exists(table: str, column: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has the column ``column``: go ahead and drop it."""
    return _go(_has_column(table, column, schema), creating=False)


# --------------------------------------------------------------------------- indexes


def index_missing(table: str, index: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has no usable index ``index``: go ahead and create it.

    On PostgreSQL an INVALID index of that name (left by an interrupted concurrent build)
    is dropped first and counts as missing.
    """
    bind = _bind()
    if bind is not None and bind.dialect.name == "postgresql":
        valid = _pg_index_validity(bind, table, index, schema)  # one query answers both
        if valid is False:
            _drop_invalid_pg_index(bind, table, index, schema)
        return not valid
    return _go(_has(table, index, schema, _INDEXES, None), creating=True)


def index_exists(table: str, index: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has the index ``index``: go ahead and drop it."""
    return _go(_has(table, index, schema, _INDEXES, None), creating=False)


# --------------------------------------------------------------------------- constraints


def unique_missing(
    table: str,
    name: str | None,
    *,
    schema: str | None = None,
    columns: Sequence[str] | None = None,
) -> bool:
    """True when ``table`` has no unique constraint ``name``: go ahead and create it.

    An unnamed constraint (``name=None``) is looked for by its ``columns``.
    """
    return _go(_has(table, name, schema, _UNIQUE, columns), creating=True)


def unique_exists(table: str, name: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has the unique constraint ``name``: go ahead and drop it."""
    return _go(_has(table, name, schema, _UNIQUE, None), creating=False)


def foreign_key_missing(
    table: str,
    name: str | None,
    *,
    schema: str | None = None,
    columns: Sequence[str] | None = None,
) -> bool:
    """True when ``table`` has no foreign key ``name``: go ahead and create it.

    An unnamed foreign key (``name=None``) is looked for by its local ``columns``.
    """
    return _go(_has(table, name, schema, (_foreign_keys,), columns), creating=True)


def foreign_key_exists(table: str, name: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has the foreign key ``name``: go ahead and drop it."""
    return _go(_has(table, name, schema, (_foreign_keys,), None), creating=False)


def check_missing(table: str, name: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has no check constraint ``name``: go ahead and create it."""
    return _go(_has(table, name, schema, (_checks,), None), creating=True)


def check_exists(table: str, name: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has the check constraint ``name``: go ahead and drop it."""
    return _go(_has(table, name, schema, (_checks,), None), creating=False)


def constraint_exists(table: str, name: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has a constraint ``name`` of any kind: go ahead and drop it."""
    return _go(_has(table, name, schema, _ANY_CONSTRAINT, None), creating=False)


_PG_CONSTRAINT = sa.table(
    "pg_constraint",
    sa.column("conname"),
    sa.column("conrelid"),
    schema="pg_catalog",
)


def _pg_has_constraint(bind: Connection, table: str, name: str, schema: str | None) -> bool:
    """Whether ``table`` has a constraint ``name`` (PostgreSQL's catalog, not its indexes)."""
    owner = _PG_CLASS.alias("owner")
    joined = _PG_CONSTRAINT.join(owner, owner.c.oid == _PG_CONSTRAINT.c.conrelid)
    query = sa.select(sa.literal(1)).where(
        _PG_CONSTRAINT.c.conname == name, owner.c.relname == table
    )
    if schema is None:
        query = query.select_from(joined).where(sa.func.pg_catalog.pg_table_is_visible(owner.c.oid))
    else:
        joined = joined.join(_PG_NAMESPACE, _PG_NAMESPACE.c.oid == owner.c.relnamespace)
        query = query.select_from(joined).where(_PG_NAMESPACE.c.nspname == schema)
    return bind.execute(query.limit(1)).first() is not None


def constraint_missing(table: str, name: str, *, schema: str | None = None) -> bool:
    """True when ``table`` has no constraint ``name`` of any kind: go ahead and add it.

    Unlike :func:`unique_missing` on PostgreSQL, an index of that name does not count: it
    goes before ``ADD CONSTRAINT ... UNIQUE USING INDEX``, which turns the index just built
    concurrently into the constraint.
    """
    bind = _bind()
    if bind is not None and bind.dialect.name == "postgresql":
        return not _pg_has_constraint(bind, table, name, schema)
    return _go(_has(table, name, schema, _ANY_CONSTRAINT, None), creating=True)


# --------------------------------------------------------------------------- foreign keys


class OrphanRowsError(RuntimeError):
    """Existing rows would break a foreign key added with the checks off."""


def require_no_orphans(
    table: str,
    columns: Sequence[str],
    referent: str,
    referent_columns: Sequence[str],
    *,
    source_schema: str | None = None,
    referent_schema: str | None = None,
) -> None:
    """Stop the migration if a row of ``table`` references no row of ``referent``.

    Goes before a foreign key added with ``foreign_key_checks = 0`` (MySQL adds it in place
    then, instead of copying the table): with the checks off nothing else would notice such
    a row. Rows with a NULL in the key reference nothing and are fine. Offline: no check.
    """
    bind = _bind()
    if bind is None:
        return
    child = sa.table(table, *(sa.column(c) for c in columns), schema=source_schema)
    parent = sa.table(referent, *(sa.column(c) for c in referent_columns), schema=referent_schema)
    pairs = list(zip(columns, referent_columns, strict=True))
    joined = child.outerjoin(parent, sa.and_(*(child.c[a] == parent.c[b] for a, b in pairs)))
    query = (
        sa.select(sa.func.count())
        .select_from(joined)
        .where(*(child.c[a].isnot(None) for a, _ in pairs))
        .where(parent.c[pairs[0][1]].is_(None))
    )
    orphans = bind.execute(query).scalar() or 0
    if orphans:
        raise OrphanRowsError(
            f"{orphans} row(s) of {table} ({', '.join(columns)}) reference no row of"
            f" {referent}: delete or fix them, then run the migration again (the foreign key"
            " would be added without checking them)"
        )


class DuplicateRowsError(RuntimeError):
    """Existing rows would make a unique constraint or index fail half-way through a deploy."""


def require_no_duplicates(table: str, columns: Sequence[str], *, schema: str | None = None) -> None:
    """Stop the migration, before anything runs on ``table``, if rows repeat ``columns``.

    Goes before a unique constraint or index on a table with rows: building it would fail
    anyway, but later, after the steps before it (which MySQL and SQLite cannot roll back).
    The message gives the count and the query that lists them. Offline: no check.
    """
    bind = _bind()
    if bind is None:
        return
    rows = sa.table(table, *(sa.column(c) for c in columns), schema=schema)
    keys = [rows.c[c] for c in columns]
    repeated = (
        sa.select(*keys)
        .where(*(k.isnot(None) for k in keys))
        .group_by(*keys)
        .having(sa.func.count() > 1)
        .subquery()
    )
    count = bind.execute(sa.select(sa.func.count()).select_from(repeated)).scalar() or 0
    if count:
        listed = ", ".join(columns)
        raise DuplicateRowsError(
            f"{count} value(s) of {table} ({listed}) occur more than once, so the unique"
            f" constraint cannot be built: find them with SELECT {listed}, COUNT(*) FROM {table}"
            f" GROUP BY {listed} HAVING COUNT(*) > 1, clean them up, then run the migration again"
        )


# --------------------------------------------------------------------------- enum types


def _has_enum(bind: Connection, name: str, schema: str | None) -> bool:
    inspector = sa.inspect(bind)
    return isinstance(inspector, PGInspector) and inspector.has_type(name, schema=schema)


def enum_missing(name: str, *, schema: str | None = None) -> bool:
    """True when the PostgreSQL enum type ``name`` does not exist: go ahead and create it.

    False on databases without named enum types (an enum is a column there): nothing to create.
    """
    bind = _bind()
    if bind is None:
        return True
    return bind.dialect.name == "postgresql" and not _has_enum(bind, name, schema)


def enum_exists(name: str, *, schema: str | None = None) -> bool:
    """True when the PostgreSQL enum type ``name`` exists: go ahead and drop it."""
    bind = _bind()
    return bind is None or _has_enum(bind, name, schema)
