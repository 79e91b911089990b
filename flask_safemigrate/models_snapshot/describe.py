"""The models (SQLAlchemy metadata) as plain, sorted data: what a release's code maps.

:func:`describe_metadata` gives one database's tables; :func:`describe_type` one column type,
dialect-free (a kind and its length, precision, scale or enum values), so that a type read
back from a migrated database (:mod:`flask_safemigrate.compat`) is described the same way.
Nothing here depends on set or dict iteration order of the metadata: every collection is
sorted, so the result is the same in every process and under every ``PYTHONHASHSEED``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.schema import ColumnDefault, DefaultClause, FetchedValue
from sqlalchemy.types import TypeEngine

__all__ = ["column_key", "describe_metadata", "describe_table", "describe_type", "table_key"]

#: Integer kinds, smallest first; a reflected dialect type is matched by its class name.
_INTEGER_KINDS = (
    ("TINYINT", "tinyint"),
    ("SMALLINT", "smallint"),
    ("MEDIUMINT", "mediumint"),
    ("BIGINT", "bigint"),
)


def _base(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    """A ``TypeDecorator``'s underlying type (what the database stores)."""
    seen = 0
    while isinstance(type_, sa.types.TypeDecorator) and seen < 10:
        type_ = type_.impl_instance
        seen += 1
    return type_


def _integer_kind(type_: TypeEngine[Any]) -> str:
    if isinstance(type_, sa.BigInteger):
        return "bigint"
    if isinstance(type_, sa.SmallInteger):
        return "smallint"
    names = {cls.__name__.upper() for cls in type(type_).__mro__}
    for name, kind in _INTEGER_KINDS:
        if name in names:
            return kind
    return "integer"


def _kind(type_: TypeEngine[Any]) -> str:
    if isinstance(type_, sa.Enum):
        return "enum"
    if isinstance(type_, sa.Boolean):
        return "boolean"
    if isinstance(type_, sa.Text) or type(type_).__name__.upper().endswith("TEXT"):
        return "text"
    if isinstance(type_, sa.String):
        return "string"
    if isinstance(type_, sa.Integer):
        return _integer_kind(type_)
    if isinstance(type_, sa.Float):
        return "float"
    if isinstance(type_, sa.Numeric):
        return "numeric"
    if isinstance(type_, sa.DateTime):
        return "datetime"
    for family, kind in ((sa.Date, "date"), (sa.Time, "time"), (sa.Interval, "interval")):
        if isinstance(type_, family):
            return kind
    if isinstance(type_, sa.LargeBinary | sa.BINARY | sa.VARBINARY):
        return "binary"
    if isinstance(type_, sa.JSON):
        return "json"
    if isinstance(type_, sa.Uuid):
        return "uuid"
    return str(getattr(type_, "__visit_name__", type(type_).__name__)).lower()


def describe_type(type_: TypeEngine[Any]) -> dict[str, Any]:
    """``{"type": kind, ...}`` with ``length``, ``precision``, ``scale``, ``timezone`` and
    ``enum`` (its values, in their declared order) where the type has them."""
    base = _base(type_)
    kind = _kind(base)
    out: dict[str, Any] = {"type": kind}
    if kind == "enum":
        out["enum"] = [str(value) for value in getattr(base, "enums", ())]
        return out
    length = getattr(base, "length", None)
    if isinstance(length, int) and kind in ("string", "text", "binary"):
        out["length"] = length
    for key in ("precision", "scale"):
        value = getattr(base, key, None)
        if isinstance(value, int) and kind in ("numeric", "float"):
            out[key] = value
    if kind in ("datetime", "time") and getattr(base, "timezone", False):
        out["timezone"] = True
    return out


def _text_of(value: Any) -> str:
    """A server default's or a check's SQL as text (no dialect: the default compiler)."""
    if isinstance(value, str):
        return value
    text = getattr(value, "text", None)
    if isinstance(text, str):
        return text
    return str(value)


def _server_default(column: sa.Column[Any]) -> str | None:
    default = column.server_default
    if default is None:
        return None
    if isinstance(default, sa.Computed):
        return f"computed: {_text_of(default.sqltext)}"
    if isinstance(default, sa.Identity):
        return None  # an identity column: an autoincrement key, said by "insert"
    if isinstance(default, DefaultClause):
        return _text_of(default.arg)
    if isinstance(default, FetchedValue):
        return "(set by the database)"
    return _text_of(default)


def _insert_default(column: sa.Column[Any]) -> str | None:
    """How the ORM supplies a value on insert when the code gives none: ``python`` (a
    Python-side default), ``sequence``, ``autoincrement`` (the table's autoincrement key),
    or ``None``."""
    default = column.default
    if isinstance(default, sa.Sequence):
        return "sequence"
    if isinstance(default, ColumnDefault):
        return "python"
    table = column.table
    if isinstance(column.server_default, sa.Identity) or (
        isinstance(table, sa.Table) and table.autoincrement_column is column
    ):
        return "autoincrement"
    return None


def describe_column(column: sa.Column[Any]) -> dict[str, Any]:
    out = describe_type(column.type)
    out["nullable"] = bool(column.nullable)
    server = _server_default(column)
    if server is not None:
        out["server_default"] = server
    supplied = _insert_default(column)
    if supplied is not None:
        out["insert_default"] = supplied
    if column.onupdate is not None:
        out["onupdate"] = True
    return out


def _names(columns: Any) -> list[str]:
    return [column_key(column) for column in columns]


def column_key(column: Any) -> str:
    """A column's name, or an expression's SQL (a functional unique index)."""
    name = getattr(column, "name", None)
    return name if isinstance(name, str) else str(column)


def describe_table(table: sa.Table) -> dict[str, Any]:
    """One table: ``columns`` by name, ``primary_key``, ``unique`` (constraints and unique
    indexes, as sorted lists of their column lists) and ``checks`` (their SQL, sorted;
    the ones SQLAlchemy makes for an ``Enum`` or a ``Boolean`` are the type's, not listed)."""
    unique = {
        tuple(_names(c.columns))
        for c in table.constraints
        if isinstance(c, sa.UniqueConstraint) and c.columns
    }
    unique |= {tuple(_names(ix.expressions)) for ix in table.indexes if ix.unique}
    checks = {
        _text_of(c.sqltext)
        for c in table.constraints
        if isinstance(c, sa.CheckConstraint) and not getattr(c, "_type_bound", False)
    }
    out: dict[str, Any] = {
        "columns": {column.name: describe_column(column) for column in table.columns},
        "primary_key": _names(table.primary_key.columns),
        "unique": sorted(list(names) for names in unique),
    }
    if table.schema is not None:
        out["schema"] = table.schema
    if checks:
        out["checks"] = sorted(checks)
    return out


def table_key(name: str, schema: str | None) -> str:
    """How the snapshot keys a table: ``schema.name``, or ``name`` in the default schema."""
    return name if schema is None else f"{schema}.{name}"


def describe_metadata(metadata: sa.MetaData) -> dict[str, Any]:
    """Every table of ``metadata``, keyed by :func:`table_key`."""
    return {
        table_key(table.name, table.schema): describe_table(table)
        for table in metadata.tables.values()
    }
