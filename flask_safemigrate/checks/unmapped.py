"""``unmapped-required-column``: a column the models do not map that every insert needs.

The expand/contract way to retire a column keeps it in the database for a release after the
models stop mapping it (``include_object`` hides it from autogenerate and the drift check).
If it is NOT NULL without a server default, that release's inserts into its table fail (the
ORM never names the column, the database has no value for it), and nothing else says so:
the drift check was told to look away, the release-compatibility check compares the release
before. This check reads the database itself, whatever the comparison hooks hide: for each
table the models map, a column the database has and the models do not, NOT NULL, without a
server default, and not filled by the database itself (autoincrement, identity, generated,
SQLite's ``INTEGER PRIMARY KEY``), is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from flask_safemigrate.report import Finding, Severity

__all__ = ["UNMAPPED_HINT", "UNMAPPED_RULE", "Unmapped", "unmapped_findings", "unmapped_required"]

UNMAPPED_RULE = "unmapped-required-column"


@dataclass(frozen=True)
class Unmapped:
    """A column of ``table`` (schema-qualified when the model names a schema) the models'
    inserts leave out though the database requires a value."""

    table: str
    column: str


def _fills_itself(
    column: Mapping[str, Any], columns: Sequence[Mapping[str, Any]], dialect: str
) -> bool:
    """Whether the database gives ``column`` a value of its own on insert."""
    if column.get("default") is not None or column.get("computed") or column.get("identity"):
        return True
    if column.get("autoincrement") is True:  # MariaDB/MySQL AUTO_INCREMENT, PostgreSQL serial
        return True
    if dialect == "sqlite" and column.get("primary_key"):
        # A single column declared exactly INTEGER PRIMARY KEY is the rowid: SQLite numbers it
        # (BIGINT PRIMARY KEY is not).
        keys = [c for c in columns if c.get("primary_key")]
        return len(keys) == 1 and str(column.get("type")).upper() == "INTEGER"
    return False


#: MariaDB/MySQL: every column of the schema's tables in one query (SQLAlchemy's reflection
#: asks ``SHOW CREATE TABLE`` once per table: 300 round trips for 300 tables). ``EXTRA`` says
#: ``auto_increment`` and ``VIRTUAL``/``STORED``/``PERSISTENT GENERATED``.
_MYSQL_COLUMNS = sa.text(
    "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.IS_NULLABLE, c.COLUMN_DEFAULT, c.EXTRA"
    " FROM information_schema.COLUMNS c JOIN information_schema.TABLES t"
    " ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME"
    " WHERE c.TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND t.TABLE_TYPE = 'BASE TABLE'"
    " ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION"
)


def _mysql_columns(
    connection: Connection, schema: str | None, names: set[str]
) -> dict[str, list[dict[str, Any]]]:
    """The columns of the tables ``names`` of ``schema``, as reflection describes them (the
    keys :func:`_fills_itself` reads)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table, column, nullable, default, extra in connection.execute(
        _MYSQL_COLUMNS, {"schema": schema}
    ):
        if table not in names:
            continue
        extra = str(extra or "").lower()
        out.setdefault(table, []).append(
            {
                "name": column,
                "nullable": nullable == "YES",
                "default": default,
                "autoincrement": "auto_increment" in extra,
                "computed": "generated" in extra,
            }
        )
    return out


def _sqlite_columns(
    connection: Connection, schema: str | None, names: set[str]
) -> dict[str, list[dict[str, Any]]]:
    """SQLite: every column of the schema's tables in one query (``pragma_table_xinfo``, which
    shows generated columns as ``hidden`` 2 or 3), not a ``PRAGMA`` per table."""
    quoted = connection.dialect.identifier_preparer.quote(schema or "main")
    query = sa.text(
        'SELECT m.name, p.name, p."notnull", p.dflt_value, p.pk, p.hidden, p.type'
        f" FROM {quoted}.sqlite_master AS m JOIN pragma_table_xinfo(m.name, :schema) AS p"
        " WHERE m.type = 'table'"
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for table, column, notnull, default, key, hidden, type_ in connection.execute(
        query, {"schema": schema or "main"}
    ):
        if table in names:
            out.setdefault(table, []).append(
                {
                    "name": column,
                    "nullable": not notnull,
                    "default": default,
                    "primary_key": key,
                    "computed": hidden in (2, 3),
                    "type": type_,
                }
            )
    return out


def _same_name(dialect: str) -> Callable[[str], str]:
    """How column names compare: PostgreSQL tells case apart, SQLite and MariaDB/MySQL do not."""
    if dialect == "postgresql":
        return str
    return str.casefold


def unmapped_required(connection: Connection, metadata: sa.MetaData) -> list[Unmapped]:
    """The columns of the tables ``metadata`` maps, in the database ``connection`` reads,
    that the models leave out of their inserts and the database cannot fill.

    One read of columns per schema the models use (tables only: a model on a view is not
    read); a table missing from the database is the drift check's to report.
    """
    dialect = connection.dialect.name
    key = _same_name(dialect)
    by_schema: dict[str | None, dict[str, sa.Table]] = {}
    for mapped_table in metadata.tables.values():
        by_schema.setdefault(mapped_table.schema, {})[mapped_table.name] = mapped_table
    inspector = sa.inspect(connection)
    named = [schema for schema in by_schema if schema is not None]
    present = set(inspector.get_schema_names()) if named else set()
    found: list[Unmapped] = []
    for schema in sorted(by_schema, key=lambda s: s or ""):
        if schema is not None and schema not in present:
            continue
        tables = by_schema[schema]
        reflected: Mapping[str, Sequence[Mapping[str, Any]]]
        if dialect in ("mysql", "mariadb"):
            reflected = _mysql_columns(connection, schema, set(tables))
        elif dialect == "sqlite":
            reflected = _sqlite_columns(connection, schema, set(tables))
        else:  # PostgreSQL: one query per schema
            reflected = {
                name: columns
                for (_s, name), columns in inspector.get_multi_columns(
                    schema=schema, filter_names=list(tables)
                ).items()
            }
        for name, columns in sorted(reflected.items()):
            table = tables.get(name)
            if table is None:
                continue
            mapped = {key(column.name) for column in table.columns}
            for column in columns:
                if key(column["name"]) in mapped or column.get("nullable", True):
                    continue
                if _fills_itself(column, columns, dialect):
                    continue
                qualified = f"{schema}.{name}" if schema else name
                found.append(Unmapped(qualified, column["name"]))
    return found


UNMAPPED_HINT = (
    "make it nullable or give it a server default in a revision before the release that stops"
    " mapping it (`op.alter_column({table!r}, {column!r}, existing_type=<its type>,"
    " nullable=True)`, or `server_default=...`); or map it again"
)


def unmapped_findings(
    connection: Connection, metadata: sa.MetaData, where: str, extra: Mapping[str, Any]
) -> list[Finding]:
    """One error per :func:`unmapped_required` column; ``where`` names the database in the
    message (``database sqlite:///app.db``), ``extra`` goes into each finding's JSON."""
    return [
        Finding(
            rule=UNMAPPED_RULE,
            severity=Severity.ERROR,
            message=f"{item.table}.{item.column}: NOT NULL without a server default, and the"
            f" models do not map it: every insert of theirs into {item.table} fails ({where})",
            help=UNMAPPED_HINT.format(table=item.table.rsplit(".", 1)[-1], column=item.column),
            extra={**extra, "table": item.table, "column": item.column},
        )
        for item in unmapped_required(connection, metadata)
    ]
