"""A fingerprint of what the drift check compares, so that a clean result can be remembered.

safe-upgrade ends with the drift check (:func:`.schema_diff.drift`: Alembic's comparison of
every table with the models), which on a no-op run compares a schema it compared before, and
on a fleet or a test environment compares the schema the same history built last time. The
comparison is a function of four things, each part of the fingerprint:

- **the live schema** (but this package's own tables, which the comparison hides too), read
  whole from the catalog in one query: SQLite's ``sqlite_master``
  (the text of every table, index and view); PostgreSQL's tables, views and foreign tables of
  every non-system schema, each with its columns (type, NOT NULL, default, identity,
  generation, collation, comment), the definition of each of its indexes and constraints,
  and every enum type's labels. Every part the comparison reads is in it (and more);
- **the models**: each table's DDL as the dialect compiles it (``CREATE TABLE`` and
  ``CREATE INDEX``: types, nullability, server defaults, keys, constraints), its comments,
  and the Python ``repr`` of each column's type;
- **the options**: Flask-Migrate's comparison options (``compare_type``,
  ``compare_server_default``, ``include_schemas``...) and the version table;
- **the code**: the server version, SQLAlchemy's and Alembic's versions, and this package's
  modules (size and modification time).

Where one of them cannot be read faithfully, there is no fingerprint and the comparison runs
every time: MariaDB/MySQL (no single catalog read here), SQLite with ``include_schemas`` or a
model in another schema (an attached database: only ``main`` is read), a comparison option
that is the app's own function (``include_object``, ``include_name``, a ``compare_type``
callable: what it decides is not in any text), and models a dialect cannot compile.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, CreateTable

from flask_safemigrate.code_fingerprint import code_fingerprint
from flask_safemigrate.dedicated_schema import IncludeName
from flask_safemigrate.releases import TOOL_TABLES
from flask_safemigrate.schema_diff import COMPARE_OPTIONS

__all__ = ["CLEAN_FILE", "Models", "fingerprint", "remember_clean", "remembered_clean"]

#: Where safe-upgrade keeps the fingerprints of drift checks that found nothing (in
#: ``caches.user_cache()``), the most recent first.
CLEAN_FILE: Final = "safemigrate-clean-schemas.json"
_KEPT: Final = 32

_SQLITE: Final = "SELECT type, name, tbl_name, sql FROM main.sqlite_master ORDER BY 1, 2, 3"

_SYSTEM: Final = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND left(n.nspname, 8) <> 'pg_toast' AND left(n.nspname, 7) <> 'pg_temp'"
)

_POSTGRESQL: Final = f"""
SELECT 'relation', n.nspname, c.relname, c.relkind::text,
  coalesce(obj_description(c.oid, 'pg_class'), ''),
  coalesce((SELECT string_agg(concat_ws(' | ', a.attname,
      format_type(a.atttypid, a.atttypmod), a.attnotnull::text, a.attidentity::text,
      a.attgenerated::text, a.attcollation::text,
      'default ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '(none)'),
      'comment ' || coalesce(col_description(c.oid, a.attnum), '(none)')),
      E'\\n' ORDER BY a.attnum)
    FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), ''),
  coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid) || ' ' || i.indisvalid::text,
      E'\\n' ORDER BY 1)
    FROM pg_index i WHERE i.indrelid = c.oid), ''),
  coalesce((SELECT string_agg(co.conname || ' ' || pg_get_constraintdef(co.oid),
      E'\\n' ORDER BY 1)
    FROM pg_constraint co WHERE co.conrelid = c.oid), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_SYSTEM}
UNION ALL
SELECT 'enum', n.nspname, t.typname, '',
  string_agg(e.enumlabel, E'\\n' ORDER BY e.enumsortorder), '', '', ''
FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE {_SYSTEM}
GROUP BY n.nspname, t.typname
UNION ALL
SELECT 'search', current_schema(), current_setting('search_path'), '', '', '', '', ''
ORDER BY 1, 2, 3
"""


def _options(configure_args: Mapping[str, Any]) -> list[Any] | None:
    """The comparison options as JSON, or ``None`` when one is the app's own function."""
    out: list[Any] = []
    for key in COMPARE_OPTIONS:
        if key not in configure_args:
            continue
        value = configure_args[key]
        if isinstance(value, IncludeName):
            if value.user is not None:
                return None
            value = ["IncludeName", value.schema, value.version_table, value.default_schema]
        elif callable(value) or not isinstance(value, (str, int, float, bool, type(None))):
            return None
        out.append([key, value])
    return out


def _models(metadata: sa.MetaData, dialect: sa.Dialect) -> list[str] | None:
    """Each table's DDL on ``dialect``, its comments and column types; ``None`` if it fails."""
    out: list[str] = []
    try:
        for table in sorted(metadata.tables.values(), key=lambda t: (t.schema or "", t.name)):
            out.append(str(CreateTable(table).compile(dialect=dialect)))
            out.extend(
                str(CreateIndex(index).compile(dialect=dialect))
                for index in sorted(table.indexes, key=lambda i: str(i.name))
            )
            out.append(f"comment {table.comment!r}")
            out.extend(
                f"{column.name} {column.type!r} {column.comment!r}" for column in table.columns
            )
    except (sa.exc.SQLAlchemyError, TypeError, ValueError, NotImplementedError):
        return None
    return out


def _live(connection: Connection, other_schemas: bool) -> list[list[Any]] | None:
    """The catalog rows; ``None`` where they would not cover every schema compared (SQLite
    reads ``main`` only: an attached database is left to the comparison)."""
    name = connection.dialect.name
    query = {"sqlite": _SQLITE, "postgresql": _POSTGRESQL}.get(name)
    if query is None or (name == "sqlite" and other_schemas):
        return None
    try:
        if name == "postgresql":  # a failed read must leave the transaction usable
            with connection.begin_nested():
                rows = connection.exec_driver_sql(query).all()
        else:
            rows = connection.exec_driver_sql(query).all()
    except sa.exc.SQLAlchemyError:
        return None
    # The comparison hides this package's own tables (the ledger, the release record, the
    # fleet table) wherever they are; so does the fingerprint. Else the release table that a
    # first deploy creates after its drift check made the next run's fingerprint new, and
    # every first no-op re-run compared the whole schema again.
    table_column = 2  # PostgreSQL's relname, SQLite's tbl_name
    return [
        [str(value) if value is not None else None for value in row]
        for row in rows
        if not (row[0] in ("relation", "table", "index") and row[table_column] in TOOL_TABLES)
    ]


class Models:
    """The models' part of fingerprints of one connection's dialect, compiled once.

    A drift check that is made takes two fingerprints (before and after the comparison) of
    the same models: compiling 200 tables' DDL costs more than reading the live catalog, so
    the second one reuses the first's. Only the live schema can change in between.
    """

    def __init__(self, metadata: sa.MetaData) -> None:
        self.metadata = metadata
        self._compiled: dict[sa.Dialect, list[str] | None] = {}

    def of(self, dialect: sa.Dialect) -> list[str] | None:
        """Each table's DDL on ``dialect`` (see :func:`_models`), compiled on first use."""
        if dialect not in self._compiled:
            self._compiled[dialect] = _models(self.metadata, dialect)
        return self._compiled[dialect]


def fingerprint(
    connection: Connection,
    metadata: sa.MetaData,
    configure_args: Mapping[str, Any],
    *,
    models: Models | None = None,
) -> str | None:
    """The fingerprint of a drift check of ``connection`` against ``metadata``, or ``None``
    when one cannot be made faithfully (see the module docstring).

    ``models``: the compiled models of an earlier fingerprint of the same ``metadata``.
    """
    options = _options(configure_args)
    if options is None:
        return None
    if models is None or models.metadata is not metadata:
        models = Models(metadata)
    compiled = models.of(connection.dialect)
    if compiled is None:
        return None
    other_schemas = bool(configure_args.get("include_schemas")) or any(
        table.schema is not None for table in metadata.tables.values()
    )
    live = _live(connection, other_schemas)
    if live is None:
        return None
    versions = [
        connection.dialect.name,
        list(connection.dialect.server_version_info or ()),
        sa.__version__,
        package_metadata.version("alembic"),
        code_fingerprint(),
    ]
    text = json.dumps([versions, options, compiled, live], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _clean(directory: Path) -> list[str]:
    try:
        data = json.loads((directory / CLEAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    kept = data.get("clean") if isinstance(data, dict) else None
    return [item for item in kept if isinstance(item, str)] if isinstance(kept, list) else []


def remembered_clean(directory: Path, print_: str) -> bool:
    """Whether a drift check with fingerprint ``print_`` found nothing before."""
    return print_ in _clean(directory)


def remember_clean(directory: Path, print_: str) -> None:
    """Note that a drift check with fingerprint ``print_`` found nothing (errors ignored:
    without the file the check simply runs again)."""
    kept = [print_, *(item for item in _clean(directory) if item != print_)][:_KEPT]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=directory, prefix=".safemigrate-", suffix=".tmp")
        temporary = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"clean": kept}, out)
            temporary.replace(directory / CLEAN_FILE)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError:
        return
