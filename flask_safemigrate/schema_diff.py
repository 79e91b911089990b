"""Schema comparisons for ``verify``: the live schema against the models, and snapshots.

- :func:`drift` runs Alembic's ``compare_metadata`` with the options the app gave
  Flask-Migrate and turns each difference into one readable line
  (``users.email: column missing in database``).
- :func:`take_snapshot` records every object of a database (tables, columns, primary keys,
  indexes, unique, foreign-key and check constraints, views, PostgreSQL enum types and
  sequences) so the roundtrip can tell what a downgrade left behind.

The version table and the ledger are never part of either.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects.postgresql import BIGINT, INTEGER
from sqlalchemy.engine import Connection, Dialect

from flask_safemigrate.dedicated_schema import IncludeName
from flask_safemigrate.releases import TOOL_TABLES

__all__ = [
    "COMPARE_OPTIONS",
    "Snapshot",
    "describe_difference",
    "drift",
    "mysql_defaults_equal",
    "take_snapshot",
]

#: The ``configure_args`` of Flask-Migrate that decide what autogenerate compares.
COMPARE_OPTIONS = (
    "include_object",
    "include_name",
    "include_schemas",
    "compare_type",
    "compare_server_default",
    "version_table",
    "version_table_schema",
)


# --------------------------------------------------------------------------- drift


def _qualified(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def _table_of(obj: Any) -> str:
    table = getattr(obj, "table", None)
    if table is None:
        return "?"
    return _qualified(table.schema, table.name)


def _columns(names: Iterable[Any]) -> str:
    return ", ".join(str(getattr(c, "name", c)) for c in names)


def _model_type(type_: Any) -> str:
    """``String(length=100)`` -> ``String(100)``: the type as the models spell it."""
    return re.sub(r"\b(length|precision|scale)=", "", repr(type_))


def _db_type(type_: Any, dialect: Dialect) -> str:
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # a reflected type the dialect cannot render (NullType, ...)
        return repr(type_)


def _default_text(default: Any, dialect: Dialect) -> str:
    """A server default as SQL text (``none`` when there is none)."""
    if default is None or default is False:
        return "none"
    arg = getattr(default, "arg", default)
    if isinstance(arg, str):
        return repr(arg)
    text = getattr(arg, "text", None)
    if isinstance(text, str):
        return text
    try:
        return str(arg.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    except Exception:  # an expression that cannot render on its own
        return repr(arg)


def _describe_fk(fk: Any) -> str:
    """``foreign key NAME on items(user_id) -> users(id)`` (the target need not be loaded)."""
    targets = [str(element.target_fullname) for element in fk.elements]
    table = targets[0].rsplit(".", 1)[0] if targets else "?"
    remote = ", ".join(target.rsplit(".", 1)[-1] for target in targets)
    name = f" {fk.name}" if fk.name else ""
    return f"foreign key{name} on {_table_of(fk)}({_columns(fk.column_keys)}) -> {table}({remote})"


def _describe_index(index: Any) -> str:
    kind = "unique index" if index.unique else "index"
    columns = ", ".join(str(getattr(expr, "name", None) or expr) for expr in index.expressions)
    return f"{kind} {index.name} on {_table_of(index)}({columns})"


def _describe_constraint(constraint: Any) -> str:
    name = f" {constraint.name}" if constraint.name else ""
    if isinstance(constraint, sa.ForeignKeyConstraint):
        return _describe_fk(constraint)
    if isinstance(constraint, sa.UniqueConstraint):
        kind = "unique constraint"
    elif isinstance(constraint, sa.CheckConstraint):
        kind = "check constraint"
    elif isinstance(constraint, sa.PrimaryKeyConstraint):
        kind = "primary key"
    else:
        kind = "constraint"
    return f"{kind}{name} on {_table_of(constraint)}({_columns(constraint.columns)})"


_MISSING = "missing in database"
_EXTRA = "in database, not in models"


def _describe_modify(item: Sequence[Any], dialect: Dialect) -> str:
    kind, schema, table, column = item[0], item[1], item[2], item[3]
    where = f"{_qualified(schema, table)}.{column}"
    db_value, model_value = item[5], item[6]
    if kind == "modify_type":
        return (
            f"{where}: type {_db_type(db_value, dialect)} in database, "
            f"{_model_type(model_value)} in models"
        )
    if kind == "modify_nullable":

        def word(nullable: Any) -> str:
            return "nullable" if nullable else "NOT NULL"

        return f"{where}: {word(db_value)} in database, {word(model_value)} in models"
    if kind == "modify_default":
        return (
            f"{where}: server default {_default_text(db_value, dialect)} in database, "
            f"{_default_text(model_value, dialect)} in models"
        )
    if kind == "modify_comment":
        return f"{where}: comment {db_value!r} in database, {model_value!r} in models"
    return f"{where}: {kind} ({db_value!r} in database, {model_value!r} in models)"


def describe_difference(diff: Any, dialect: Dialect) -> list[str]:
    """One line per difference of an Alembic diff (a modify group yields several)."""
    if isinstance(diff, list):
        return [_describe_modify(item, dialect) for item in diff]
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        table = diff[1]
        state = _MISSING if kind == "add_table" else _EXTRA
        return [f"table {_qualified(table.schema, table.name)}: {state}"]
    if kind in ("add_column", "remove_column"):
        schema, table, column = diff[1], diff[2], diff[3]
        state = "column missing in database" if kind == "add_column" else "column " + _EXTRA
        return [f"{_qualified(schema, table)}.{column.name}: {state}"]
    if kind in ("add_index", "remove_index"):
        state = _MISSING if kind == "add_index" else _EXTRA
        return [f"{_describe_index(diff[1])}: {state}"]
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        state = _MISSING if kind.startswith("add_") else _EXTRA
        return [f"{_describe_constraint(diff[1])}: {state}"]
    if kind in ("add_table_comment", "remove_table_comment"):
        table = diff[1]
        name = _qualified(table.schema, table.name)
        if kind == "add_table_comment":
            return [f"table {name}: comment {table.comment!r} in models, not in database"]
        return [f"table {name}: comment in database, not in models"]
    return [f"{kind}: {', '.join(repr(part) for part in diff[1:])}"]


# MariaDB/MySQL read server defaults back in their own spelling: ``false`` as ``'0'``,
# ``now()`` as ``current_timestamp()``. These spellings mean the same default.
_NOW = {
    "now()",
    "current_timestamp",
    "current_timestamp()",
    "localtimestamp",
    "localtimestamp()",
    "localtime",
    "localtime()",
}
_BOOLEAN = {"false": "0", "true": "1"}


def _canonical_mysql_default(text: str | None) -> str | None:
    if text is None:
        return None
    value = text.strip()
    while len(value) >= 2 and value[0] == "(" and value[-1] == ")":
        value = value[1:-1].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    value = value.lower()
    if value in _NOW:
        return "current_timestamp"
    return _BOOLEAN.get(value, value)


def mysql_defaults_equal(inspected: str | None, rendered_metadata: str | None) -> bool:
    """Whether two server defaults are the same on MariaDB/MySQL once spelled alike.

    The server rewrites defaults: ``false``/``true`` come back as ``'0'``/``'1'``, ``now()``
    and ``CURRENT_TIMESTAMP`` as ``current_timestamp()``, numbers quoted. Comparing the raw
    texts (as Alembic does) reports a difference for every such column.
    """
    if inspected is None or rendered_metadata is None:
        return inspected is None and rendered_metadata is None
    return _canonical_mysql_default(inspected) == _canonical_mysql_default(rendered_metadata)


def _server_default_comparator(user: Any) -> Callable[..., bool | None]:
    """A ``compare_server_default`` callable: the app's own first, then MySQL spellings."""

    def compare(
        context: MigrationContext,
        inspected_column: Any,
        metadata_column: Any,
        inspected_default: str | None,
        metadata_default: Any,
        rendered_metadata_default: str | None,
    ) -> bool | None:
        if callable(user):
            verdict = user(
                context,
                inspected_column,
                metadata_column,
                inspected_default,
                metadata_default,
                rendered_metadata_default,
            )
            if verdict is not None:
                return bool(verdict)
        if context.dialect.name in ("mysql", "mariadb") and mysql_defaults_equal(
            inspected_default, rendered_metadata_default
        ):
            return False
        return None  # Alembic's own comparison decides

    return compare


def _without_ledger(user: Any) -> Callable[[Any, str, Mapping[str, Any]], bool]:
    """An ``include_name`` hook that hides the ledger and the release record, then asks the
    app's hook."""

    def include_name(name: Any, type_: str, parent_names: Mapping[str, Any]) -> bool:
        if type_ == "table" and name in TOOL_TABLES:
            return False
        if callable(user):
            return bool(user(name, type_, parent_names))
        return True

    return include_name


def comparison_options(configure_args: Mapping[str, Any]) -> dict[str, Any]:
    """The ``MigrationContext`` options for a drift check from Flask-Migrate's configure_args.

    ``include_object``, ``include_name``, ``include_schemas``, ``compare_type``,
    ``compare_server_default`` and the version table's name and schema are honoured; the
    ledger is always excluded. When ``compare_server_default`` is on, MariaDB/MySQL
    defaults are compared after normalising the server's spelling (:func:`mysql_defaults_equal`):
    without it ``false`` (read back as ``'0'``) and ``now()`` (read back as
    ``current_timestamp()``) would be reported as drift on every such column.
    """
    opts: dict[str, Any] = {
        key: configure_args[key] for key in COMPARE_OPTIONS if key in configure_args
    }
    opts["include_name"] = _without_ledger(configure_args.get("include_name"))
    user_default = configure_args.get("compare_server_default", False)
    if user_default:
        opts["compare_server_default"] = _server_default_comparator(user_default)
    return opts


def drift(
    connection: Connection, metadata: sa.MetaData, configure_args: Mapping[str, Any]
) -> list[str]:
    """What differs between the live schema and ``metadata``, one readable line each."""
    hook = configure_args.get("include_name")
    if isinstance(hook, IncludeName):  # SAFEMIGRATE_SCHEMA: "None" is this connection's default
        default = connection.dialect.default_schema_name
        configure_args = {**configure_args, "include_name": hook.bound(default)}
    opts = comparison_options(configure_args)
    context = MigrationContext.configure(connection, opts={**opts, "target_metadata": metadata})
    if connection.dialect.name == "postgresql":
        _serial_owners_read_once(context.impl, connection)
    lines: list[str] = []
    for diff in compare_metadata(context, metadata):
        lines.extend(describe_difference(diff, connection.dialect))
    return lines


#: Alembic's own pattern for a sequence's default (``alembic.ddl.postgresql``).
_NEXTVAL_DEFAULT = re.compile(r"nextval\('(.+?)'::regclass\)")

#: Alembic's query of the column that owns a sequence, for every sequence at once, keyed by
#: the sequence as a default spells it (``regclass`` output: qualified when not on the path).
_SEQUENCE_OWNERS = (
    "SELECT c.oid::regclass::text, c.relname, a.attname"
    " FROM pg_class AS c JOIN pg_depend d ON d.objid = c.oid"
    " AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
    " JOIN pg_class t ON t.oid = d.refobjid"
    " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
    " WHERE c.relkind = 'S'"
)


def _serial_owners_read_once(impl: Any, connection: Connection) -> None:
    """PostgreSQL: the owners of every sequence in one query, not one query per column.

    Alembic asks, for each reflected integer column whose default is a sequence's
    ``nextval``, which column owns that sequence: the owner's own default is a SERIAL's, not
    a server default to compare (Alembic drops it from the reflected column). That is one
    round trip per table with a serial key (200 for 200 tables). This hook, set on this
    comparison's ``impl`` only, reads the owners of all sequences with the first such column
    and answers from them as Alembic would; a sequence not found there once (no owner, or
    more than one row) is asked Alembic's way.
    """
    ask_alembic = impl.autogen_column_reflect
    owners: dict[str, tuple[str, str] | None] | None = None
    log = logging.getLogger("alembic.ddl.postgresql")

    def column_reflect(inspector: Any, table: Any, column_info: dict[str, Any]) -> None:
        nonlocal owners
        default = column_info.get("default")
        if not default or not isinstance(column_info["type"], (INTEGER, BIGINT)):
            return
        found = _NEXTVAL_DEFAULT.match(default)
        if found is None:
            return
        if owners is None:
            owners = {}
            for sequence, relname, attname in connection.exec_driver_sql(_SEQUENCE_OWNERS):
                owners[sequence] = None if sequence in owners else (relname, attname)
        owner = owners.get(found.group(1))
        if owner is None:
            ask_alembic(inspector, table, column_info)
            return
        sequence, column = owner
        if column == column_info["name"]:
            log.info(
                "Detected sequence named '%s' as owned by integer column '%s(%s)', "
                "assuming SERIAL and omitting",
                sequence,
                table.name,
                column,
            )
            del column_info["default"]

    impl.autogen_column_reflect = column_reflect


# --------------------------------------------------------------------------- snapshots


Key = tuple[str, str]

_NEXTVAL = re.compile(r"nextval\('([^']+)'")


@dataclass(frozen=True)
class Snapshot:
    """Every object of a database: ``(kind, name) -> details`` (details compared as text).

    ``owners`` maps an object to the table it belongs to (columns, keys, indexes, a
    PostgreSQL sequence behind a serial column), so a table that is left over or missing is
    reported once, not with each of its parts.
    """

    objects: Mapping[Key, str] = field(default_factory=dict)
    owners: Mapping[Key, str] = field(default_factory=dict)
    #: MariaDB/MySQL: the indexes the server made for a foreign key (see
    #: :func:`_server_made_index`), as ``("index", "NAME on TABLE")``. Such an index is keyed
    #: in ``objects`` by its columns and foreign key, not by the name the server chose.
    server_indexes: frozenset[Key] = frozenset()

    def _outside(self, keys: set[Key], tables: set[str]) -> list[str]:
        return sorted(
            f"{kind} {name}" for (kind, name) in keys if self.owners.get((kind, name)) not in tables
        )

    def difference(
        self, other: Snapshot, *, server_made: Collection[Key] = ()
    ) -> tuple[list[str], list[str], list[str]]:
        """Against an earlier snapshot ``other``: (added, removed, changed), each readable.

        ``server_made`` are keys of objects the server made on its own (the index MariaDB
        adds for a foreign key, which stays when the key is dropped): not counted as added.
        """
        added_keys = set(self.objects.keys() - other.objects.keys() - set(server_made))
        removed_keys = set(other.objects.keys() - self.objects.keys())
        added = self._outside(added_keys, {n for k, n in added_keys if k == "table"})
        removed = other._outside(removed_keys, {n for k, n in removed_keys if k == "table"})
        changed = sorted(
            f"{kind} {name} ({other.objects[(kind, name)]} before, {details} after)"
            for (kind, name), details in self.objects.items()
            if (kind, name) in other.objects and other.objects[(kind, name)] != details
        )
        return added, removed, changed


def _column_details(column: Mapping[str, Any], dialect: Dialect) -> str:
    parts = [_db_type(column["type"], dialect), "NULL" if column.get("nullable") else "NOT NULL"]
    default = column.get("default")
    if default is not None:
        parts.append(f"DEFAULT {_normalise_default(str(default))}")
    return " ".join(parts)


def _normalise_default(text: str) -> str:
    value = text.strip()
    while len(value) >= 2 and value[0] == "(" and value[-1] == ")":
        value = value[1:-1].strip()
    return value


def _names(values: Iterable[Any]) -> str:
    return ", ".join(str(v) for v in values)


class _Collector:
    """Builds a :class:`Snapshot` from the reflection of one schema after another."""

    def __init__(self, skip: set[str]) -> None:
        self.skip = skip
        self.objects: dict[Key, str] = {}
        self.owners: dict[Key, str] = {}
        self.server_indexes: set[Key] = set()

    def keeps(self, table: str) -> bool:
        return table not in self.skip

    def add(self, kind: str, name: str, details: str, owner: str | None = None) -> None:
        self.objects[(kind, name)] = details
        if owner is not None:
            self.owners[(kind, name)] = owner

    def snapshot(self) -> Snapshot:
        return Snapshot(dict(self.objects), dict(self.owners), frozenset(self.server_indexes))


def _server_made_index(
    index: Mapping[str, Any],
    columns: Sequence[str],
    foreign_keys: Iterable[tuple[str, Mapping[str, Any]]],
) -> str | None:
    """The key of the foreign key an index was made for by MariaDB/MySQL, or ``None``.

    A foreign key needs an index on its columns; when none is there, the server adds one,
    named after the constraint (or, for an unnamed key, after its first column, with ``_2``,
    ``_3``... when taken). Dropping the key leaves that index, and a later key on the same
    columns takes it over whatever its name. Such an index is the server's, not the
    migration's: matched by its columns and foreign key, never by its name.
    """
    if index.get("unique") or not columns:
        return None
    name = str(index.get("name"))
    for key, fk in foreign_keys:
        if list(fk["constrained_columns"]) != list(columns):
            continue
        first = str(columns[0])
        if name in (fk.get("name"), first) or re.fullmatch(rf"{re.escape(first)}_\d+", name):
            return key
    return None


def _reflect_schema(inspector: Any, dialect: Dialect, schema: str | None, out: _Collector) -> None:
    sequence_owner: dict[str, str] = {}
    for (sch, table), cols in inspector.get_multi_columns(schema=schema).items():
        if not out.keeps(table):
            continue
        tname = _qualified(sch, table)
        out.add("table", tname, "exists")
        for col in cols:
            out.add("column", f"{tname}.{col['name']}", _column_details(col, dialect), tname)
            serial = _NEXTVAL.search(str(col.get("default") or ""))
            if serial:
                sequence_owner[serial.group(1).split(".")[-1].strip('"')] = tname
    for (sch, table), pk in inspector.get_multi_pk_constraint(schema=schema).items():
        if out.keeps(table) and pk.get("constrained_columns"):
            tname = _qualified(sch, table)
            details = f"{pk.get('name') or 'unnamed'} ({_names(pk['constrained_columns'])})"
            out.add("primary key", f"on {tname}", details, tname)
    foreign_keys: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for (sch, table), fks in inspector.get_multi_foreign_keys(schema=schema).items():
        if not out.keeps(table):
            continue
        tname = _qualified(sch, table)
        for fk in fks:
            target = _qualified(fk.get("referred_schema"), fk["referred_table"])
            key = (
                f"on {tname}({_names(fk['constrained_columns'])}) -> "
                f"{target}({_names(fk['referred_columns'])})"
            )
            out.add("foreign key", key, fk.get("name") or "unnamed", tname)
            foreign_keys.setdefault(tname, []).append((key, fk))
    server_names = dialect.name in ("mysql", "mariadb")
    for (sch, table), indexes in inspector.get_multi_indexes(schema=schema).items():
        if not out.keeps(table):
            continue
        tname = _qualified(sch, table)
        for index in indexes:
            columns = [str(c) for c in index.get("column_names") or () if c is not None]
            columns = columns or [str(e) for e in index.get("expressions") or ()]
            kind = "unique index" if index.get("unique") else "index"
            name_key = f"{index['name']} on {tname}"
            fk_key = _server_made_index(index, columns, foreign_keys.get(tname, ()))
            if server_names and fk_key is not None:
                out.server_indexes.add(("index", name_key))
                name_key = f"on {tname}({_names(columns)}) for the foreign key {fk_key}"
            out.add("index", name_key, f"{kind} ({_names(columns)})", tname)
    for (sch, table), uniques in inspector.get_multi_unique_constraints(schema=schema).items():
        if not out.keeps(table):
            continue
        tname = _qualified(sch, table)
        for unique in uniques:
            key = f"on {tname}({_names(unique['column_names'])})"
            out.add("unique constraint", key, unique.get("name") or "unnamed", tname)
    for (sch, table), checks in inspector.get_multi_check_constraints(schema=schema).items():
        if not out.keeps(table):
            continue
        tname = _qualified(sch, table)
        for check in checks:
            sqltext = " ".join(str(check.get("sqltext", "")).split())
            name = check.get("name")
            key = f"{name} on {tname}" if name else f"on {tname} ({sqltext})"
            out.add("check constraint", key, sqltext, tname)
    for view in inspector.get_view_names(schema=schema):
        out.add("view", _qualified(schema, view), "exists")
    if dialect.name == "postgresql":
        for enum in inspector.get_enums(schema=schema):
            name = _qualified(enum.get("schema") if schema else None, enum["name"])
            out.add("enum type", name, _names(enum.get("labels", ())))
        for sequence in inspector.get_sequence_names(schema=schema):
            out.add(
                "sequence", _qualified(schema, sequence), "exists", sequence_owner.get(sequence)
            )


def take_snapshot(
    connection: Connection,
    *,
    schemas: Sequence[str | None] = (None,),
    exclude: Iterable[str] = (),
) -> Snapshot:
    """Reflect every object the downgrade check compares (a fresh inspector, no cache).

    ``exclude`` names tables to leave out (the version table; the ledger always is).
    Constraints are identified by their table and columns (SQLite leaves many unnamed),
    with the name part of the details, so a rename shows as a change.
    """
    out = _Collector({*TOOL_TABLES, *exclude})
    inspector: Any = sa.inspect(connection)
    for schema in schemas:
        _reflect_schema(inspector, connection.dialect, schema, out)
    return out.snapshot()
