"""``SAFEMIGRATE_SCHEMA``: one app's tables, version table and ledger in a schema of its own.

Two apps may share one PostgreSQL database in two schemas and must not see each other's
tables, versions, ledgers or locks. Everything the stock ``env.py`` needs for that goes in
through Flask-Migrate's ``configure_args`` (:func:`install`), so ``env.py`` stays untouched:

- ``version_table_schema``: the version table (and so the ledger, which follows it) lives in
  the schema;
- ``include_schemas=True`` with an :class:`IncludeName` filter that lets only that schema
  through, so autogenerate and the drift check compare that schema and nothing else. The
  filter also hides the ledger table (and a fleet's ``safemigrate_fleet``), with or without a
  dedicated schema: they are never part of the models, so autogenerate must not offer to
  drop them.

PostgreSQL only. A MySQL/MariaDB "schema" is a database, which the URL already names, and
SQLite has none: with either, every command refuses the setting (:func:`check_dialect`)
instead of half-working.

A model table without a schema is in the connection's default schema (``search_path``). When
that is not the dedicated schema, the table is outside what the app migrates: it would be
reported missing forever, so :func:`tables_outside` finds such tables and the commands
refuse them by name. When the default schema *is* the dedicated one (a role named after its
schema, or ``search_path`` set in the URL), schema-less tables are in it and are accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from alembic.util import CommandError
from flask import Flask, current_app, has_app_context
from sqlalchemy.engine import URL, Connection

from flask_safemigrate import database
from flask_safemigrate.errors import ConfigError, PreflightError
from flask_safemigrate.releases import TOOL_TABLES

__all__ = [
    "IncludeName",
    "check_dialect",
    "ensure_schema",
    "install",
    "preflight",
    "tables_outside",
]

NameFilter = Callable[[Any, str, Mapping[str, Any]], bool]


class IncludeName:
    """Alembic's ``include_name``: the dedicated schema only, never the ledger (nor the
    release record), then the app's.

    ``default_schema`` is the connection's default schema when the caller knows it (the drift
    check binds it, see :meth:`bound`); otherwise it is read from the app's engine, which
    ``env.py`` has connected by the time Alembic compares. Alembic names the default schema
    ``None``, so ``None`` passes only when the default schema is the dedicated one.
    """

    def __init__(
        self,
        schema: str | None,
        user: NameFilter | None,
        *,
        version_table: str = "alembic_version",
        default_schema: str | None = None,
    ) -> None:
        self.schema = schema
        self.user = user
        self.version_table = version_table
        self.default_schema = default_schema

    def bound(self, default_schema: str | None) -> IncludeName:
        return IncludeName(
            self.schema, self.user, version_table=self.version_table, default_schema=default_schema
        )

    def _default(self) -> str | None:
        if self.default_schema is not None:
            return self.default_schema
        if not has_app_context():
            return None
        try:
            engine = current_app.extensions["migrate"].db.engine
        except (KeyError, AttributeError, RuntimeError):
            return None
        return getattr(engine.dialect, "default_schema_name", None)

    def __call__(self, name: Any, type_: str, parent_names: Mapping[str, Any]) -> bool:
        if type_ == "table" and name in TOOL_TABLES:
            return False
        if (
            type_ == "table"
            and name == self.version_table
            and self.schema is not None
            and parent_names.get("schema_name") is None
            and self._default() == self.schema
        ):
            # Alembic skips the version table only under the name version_table_schema,
            # and calls the default schema None even when that is the same schema.
            return False
        if type_ == "schema" and self.schema is not None:
            here = self._default() if name is None else name
            if here != self.schema:
                return False
        if self.user is not None:
            return bool(self.user(name, type_, parent_names))
        return True


def install(app: Flask) -> None:
    """Put the schema's options into the app's ``configure_args``; safe to call again.

    Nothing is installed while the settings are invalid (every command reports them). The
    arguments are replaced, not mutated, like :func:`flask_safemigrate.autogen.install` does.
    A ``version_table_schema`` the app gave ``Migrate`` that disagrees with the setting is
    left as it is and refused when a command runs (:func:`check_dialect`'s caller).
    """
    state = app.extensions.get("migrate")
    safe = app.extensions.get("safemigrate")
    if state is None or safe is None:
        return
    try:
        schema = safe.get_settings(app).schema
    except ConfigError:
        return
    args = dict(state.configure_args)
    hook = args.get("include_name")
    user = hook.user if isinstance(hook, IncludeName) else hook
    version_table = str(args.get("version_table") or "alembic_version")
    args["include_name"] = IncludeName(schema, user, version_table=version_table)
    if schema is not None:
        args.setdefault("version_table_schema", schema)
        args["include_schemas"] = True
    state.configure_args = args
    migrate = state.migrate
    if _refuse_in_alembic not in migrate.configure_callbacks:
        migrate.configure(_refuse_in_alembic)


def _refuse_in_alembic(config: Any) -> Any:
    """A Flask-Migrate configure callback: stock commands refuse a schema they cannot use.

    Flask-Migrate's commands report an Alembic ``CommandError`` as one ``Error:`` line.
    Autogenerate also creates the schema when it is missing (and the login may). Plain
    ``flask db upgrade`` does not: it expects the schema, which safe-upgrade creates.
    """
    if not has_app_context() or config.cmd_opts is None:  # `flask db init` writes files only
        return config
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    safe = app.extensions.get("safemigrate")
    state = app.extensions.get("migrate")
    if safe is None or state is None:
        return config
    try:
        schema = safe.get_settings(app).schema
    except (RuntimeError, ConfigError):  # the roundtrip's app (checked), invalid settings
        return config
    if schema is None:
        return config
    try:
        check_dialect(state.db.engine.url, schema, state.configure_args)
        if getattr(config.cmd_opts, "autogenerate", False):
            # `flask db migrate` on a new database writes the version table into the schema.
            with state.db.engine.connect() as connection:
                if not preflight(connection, schema):
                    ensure_schema(connection, schema)
                    connection.commit()
    except (ConfigError, PreflightError) as error:
        message = f"{error.message}; {error.hint}" if error.hint else error.message
        raise CommandError(message) from None
    return config


def check_dialect(url: str | URL, schema: str, configure_args: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` when ``SAFEMIGRATE_SCHEMA`` cannot work for this app."""
    dialect = database.dialect_of(url)
    if dialect == "sqlite":
        raise ConfigError(
            f"SAFEMIGRATE_SCHEMA = {schema!r} is set, but SQLite has no schemas",
            hint="leave SAFEMIGRATE_SCHEMA unset for SQLite (give each app its own database file)",
        )
    if dialect == "mysql":
        raise ConfigError(
            f"SAFEMIGRATE_SCHEMA = {schema!r} is set, but on MariaDB/MySQL a schema is a database",
            hint="leave SAFEMIGRATE_SCHEMA unset and name the app's own database in"
            " SQLALCHEMY_DATABASE_URI instead",
        )
    given = configure_args.get("version_table_schema")
    if given is not None and given != schema:
        raise ConfigError(
            f"Migrate(version_table_schema={given!r}) disagrees with SAFEMIGRATE_SCHEMA ="
            f" {schema!r}",
            hint="drop version_table_schema from Migrate(): SAFEMIGRATE_SCHEMA sets it",
        )


def tables_outside(metadata: sa.MetaData, schema: str, default_schema: str | None) -> list[str]:
    """Model tables that would not be in ``schema``: declared elsewhere, or schema-less while
    the connection's default schema is another one."""
    outside = []
    for table in metadata.sorted_tables:
        where = table.schema if table.schema is not None else default_schema
        if where != schema:
            shown = f"{table.schema}.{table.name}" if table.schema else table.name
            outside.append(shown)
    return outside


def outside_error(tables: list[str], schema: str, default_schema: str | None) -> ConfigError:
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    return ConfigError(
        f"model tables outside SAFEMIGRATE_SCHEMA {schema!r}: {shown} (the connection's"
        f" default schema is {default_schema!r})",
        hint=f"declare them in the schema: __table_args__ = {{'schema': {schema!r}}}, or"
        f" SQLAlchemy(metadata=MetaData(schema={schema!r}))",
    )


_STATE = sa.text(
    "SELECT current_user AS login, current_database() AS db,"
    " has_database_privilege(current_database(), 'CREATE') AS may_create_schema,"
    " (SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace n"
    "  WHERE n.nspname = :schema) AS may_create_in"
)


def preflight(connection: Connection, schema: str) -> bool:
    """Whether the schema exists; raises :class:`PreflightError` when the login cannot use it.

    Read only: the schema is created later, under the migration lock (:func:`ensure_schema`).
    """
    row = connection.execute(_STATE, {"schema": schema}).mappings().one()
    login, db = row["login"], row["db"]
    if row["may_create_in"] is None:
        if not row["may_create_schema"]:
            raise PreflightError(
                f"schema {schema!r} does not exist in database {db!r} and user {login!r} may"
                " not create it (no CREATE privilege on the database)",
                hint=f"have an administrator run CREATE SCHEMA {schema} AUTHORIZATION {login};"
                f" (or GRANT CREATE ON DATABASE {db} TO {login};)",
                data={"schema": schema},
            )
        return False
    if not row["may_create_in"]:
        raise PreflightError(
            f"user {login!r} may not create tables in schema {schema!r} of database {db!r}",
            hint=f"have an administrator run GRANT USAGE, CREATE ON SCHEMA {schema} TO {login};",
            data={"schema": schema},
        )
    return True


def ensure_schema(connection: Connection, schema: str) -> None:
    """``CREATE SCHEMA IF NOT EXISTS`` (the caller commits)."""
    quoted = connection.dialect.identifier_preparer.quote_schema(schema)
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
