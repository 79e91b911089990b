"""Scratch databases for ``verify --roundtrip``, and an app context whose ``env.py`` uses them.

Two guarantees, both tested:

- the roundtrip never runs against the app's own database: a scratch database is a new
  SQLite file in a temporary directory, a ``CREATE DATABASE sm_verify_<hex>`` on the app's
  server, or an empty database the user names (refused when it is the app's own);
- what is created is removed in a ``finally``: on success, on a failed step, on Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool, StaticPool

from flask_safemigrate import app_engine_options, database
from flask_safemigrate.errors import ConfigError, DatabaseUnreachable
from flask_safemigrate.settings import Settings
from flask_safemigrate.text import one_line

__all__ = [
    "SCRATCH_DIALECTS",
    "SCRATCH_PREFIX",
    "Cleanup",
    "ScratchDialect",
    "scratch_app_context",
    "scratch_databases",
    "scratch_dialect",
    "scratch_engine",
]

#: Scratch databases (and SQLite scratch folders) are named ``sm_verify_<12 hex digits>``.
SCRATCH_PREFIX: Final = "sm_verify_"


@dataclass
class Cleanup:
    """Errors met while removing scratch databases (the caller reports them)."""

    errors: list[str] = field(default_factory=list)


def _same_database(a: URL, b: URL) -> bool:
    if database.dialect_of(a) != database.dialect_of(b):
        return False
    return scratch_dialect(a).same_database(a, b)


# --------------------------------------------------------------------------- per dialect


class ScratchDialect:
    """What a scratch database is on one dialect (a strategy, as the locks have one).

    The defaults are a server's; a dialect the roundtrip cannot make a database for itself
    (neither SQLite nor a known server) still works with ``--scratch-url``.
    """

    def same_database(self, a: URL, b: URL) -> bool:
        """Whether two URLs of this dialect name one database."""
        return (a.host or "localhost", a.port or 0, a.database) == (
            b.host or "localhost",
            b.port or 0,
            b.database,
        )

    def temporary_database(
        self, url: URL, settings: Settings, cleanup: Cleanup
    ) -> AbstractContextManager[URL]:
        """A new empty database beside ``url``'s for the block, removed afterwards."""
        raise ConfigError(
            f"--roundtrip cannot create a scratch database for {database.mask_url(url)}",
            hint="pass --scratch-url with an empty database of the same kind",
        )

    def create_options(self, conn: Connection) -> str:
        """What ``CREATE DATABASE <name>`` adds (``conn``: the app's database)."""
        return ""

    def drop(self, conn: Connection, quoted: str, name: str) -> None:
        """Drop the scratch database ``name`` (``quoted`` for SQL)."""
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")

    def drop_leftovers(self, conn: Connection) -> None:
        """Drop what ``MetaData.drop_all`` leaves in a ``--scratch-url`` database."""

    def engine(self, url: URL) -> Engine:
        return sa.create_engine(
            url, poolclass=NullPool, **app_engine_options.engine_kwargs(url, {})
        )


class _ServerScratch(ScratchDialect):
    def temporary_database(
        self, url: URL, settings: Settings, cleanup: Cleanup
    ) -> AbstractContextManager[URL]:
        return _temporary_server_database(url, settings, cleanup)


class PostgresqlScratch(_ServerScratch):
    def drop(self, conn: Connection, quoted: str, name: str) -> None:
        try:
            # FORCE ends sessions a failed or interrupted step may have left open.
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        except sa.exc.ProgrammingError:  # PostgreSQL < 13 has no FORCE
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")

    def engine(self, url: URL) -> Engine:
        """Connections are kept between the roundtrip's steps (a new backend is a fork and
        cold catalog caches: about half of a small roundtrip's time), and each one returned
        is reset to a new session's state as ``DISCARD ALL`` would, but in the transaction
        the driver opens and keeping the driver's own prepared statements: no setting, role,
        temporary table, cursor, ``LISTEN`` or session advisory lock of one step reaches the
        next. :meth:`Engine.dispose` (at the end of the run) closes them."""
        engine = sa.create_engine(
            url, pool_size=2, max_overflow=8, **app_engine_options.engine_kwargs(url, {})
        )
        sa.event.listen(engine, "reset", _new_session_state)
        return engine

    def drop_leftovers(self, conn: Connection) -> None:
        inspector: Any = sa.inspect(conn)
        preparer = conn.dialect.identifier_preparer
        for enum in inspector.get_enums():
            conn.exec_driver_sql(f"DROP TYPE IF EXISTS {preparer.quote(enum['name'])}")
        for sequence in inspector.get_sequence_names():
            conn.exec_driver_sql(f"DROP SEQUENCE IF EXISTS {preparer.quote(sequence)}")


#: What ``DISCARD ALL`` does, less ``DEALLOCATE ALL`` (the driver's prepared statements),
#: each of which may run in a transaction (``DISCARD ALL`` may not).
_NEW_SESSION_STATE: Final = (
    "CLOSE ALL",
    "SET SESSION AUTHORIZATION DEFAULT",
    "RESET ALL",
    "UNLISTEN *",
    "SELECT pg_advisory_unlock_all()",
    "DISCARD PLANS",
    "DISCARD TEMP",
    "DISCARD SEQUENCES",
)


def _new_session_state(dbapi_connection: Any, record: Any, reset_state: Any) -> None:
    """The pool's ``reset`` hook of a PostgreSQL scratch engine (before its rollback)."""
    if reset_state.terminate_only:  # the connection is being closed anyway
        return
    dbapi_connection.rollback()  # leave a failed step's aborted transaction first
    cursor = dbapi_connection.cursor()
    try:
        for statement in _NEW_SESSION_STATE:
            cursor.execute(statement)
    finally:
        cursor.close()
    dbapi_connection.commit()


class MysqlScratch(_ServerScratch):
    def create_options(self, conn: Connection) -> str:
        # The scratch database gets the app database's character set and collation.
        row = conn.execute(
            sa.text(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME"
                " FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"
            )
        ).first()
        return f" CHARACTER SET {row[0]} COLLATE {row[1]}" if row is not None else ""


class SqliteScratch(ScratchDialect):
    def same_database(self, a: URL, b: URL) -> bool:
        if not a.database or not b.database or ":memory:" in (a.database, b.database):
            return False
        return Path(a.database).resolve() == Path(b.database).resolve()

    def temporary_database(
        self, url: URL, settings: Settings, cleanup: Cleanup
    ) -> AbstractContextManager[URL]:
        return _temporary_sqlite_database()

    def engine(self, url: URL) -> Engine:
        if url.database in (None, "", ":memory:"):
            # One in-memory database shared by every step (NullPool: a new one each time).
            return sa.create_engine(url, poolclass=StaticPool)
        return super().engine(url)


#: The scratch strategy of each dialect (:func:`flask_safemigrate.database.dialect_of`'s names).
SCRATCH_DIALECTS: dict[str, type[ScratchDialect]] = {
    "postgresql": PostgresqlScratch,
    "mysql": MysqlScratch,
    "sqlite": SqliteScratch,
}


def scratch_dialect(url: URL) -> ScratchDialect:
    """The strategy of ``url``'s dialect (another dialect: :class:`ScratchDialect`)."""
    return SCRATCH_DIALECTS.get(database.dialect_of(url) or "", ScratchDialect)()


def _admin_engine(url: URL, settings: Settings) -> Engine:
    """AUTOCOMMIT (``CREATE``/``DROP DATABASE`` cannot run in a transaction), no pool."""
    return sa.create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        **app_engine_options.engine_kwargs(
            url, {"connect_timeout": max(1, round(settings.connect_timeout))}
        ),
    )


def _create_server_database(url: URL, name: str, settings: Settings) -> URL:
    engine = _admin_engine(url, settings)
    try:
        quoted = engine.dialect.identifier_preparer.quote(name)
        with engine.connect() as conn:
            options = scratch_dialect(url).create_options(conn)
            conn.exec_driver_sql(f"CREATE DATABASE {quoted}{options}")
    finally:
        engine.dispose()
    return url.set(database=name)


def _drop_server_database(admin_url: URL, name: str, settings: Settings) -> None:
    engine = _admin_engine(admin_url, settings)
    try:
        quoted = engine.dialect.identifier_preparer.quote(name)
        with engine.connect() as conn:
            scratch_dialect(admin_url).drop(conn, quoted, name)
    finally:
        engine.dispose()


#: MySQL/MariaDB errors that mean "this login may not do that": DB access denied, a
#: privilege missing, a command denied on a table. Login failures (1045) are not in it.
_MYSQL_DENIED = frozenset({1044, 1142, 1227})
#: PostgreSQL's insufficient_privilege.
_PG_DENIED = "42501"


def _permission_denied(exc: sa.exc.DBAPIError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == _PG_DENIED:
        return True
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and args[0] in _MYSQL_DENIED


def _may_not_create(server: str, exc: sa.exc.SQLAlchemyError, url: URL) -> ConfigError:
    """The same exit 2 and advice on every server when the login may not create a database."""
    return ConfigError(
        f"cannot create a scratch database on {server}: {one_line(exc, [url])}",
        hint="give the account the right to create databases (PostgreSQL: ALTER ROLE ..."
        " CREATEDB; MariaDB/MySQL: GRANT CREATE, DROP ON *.* TO ...), or pass --scratch-url"
        " with an empty database",
    )


@contextmanager
def _temporary_server_database(url: URL, settings: Settings, cleanup: Cleanup) -> Iterator[URL]:
    server = database.mask_url(url.set(database=None))
    name = f"{SCRATCH_PREFIX}{secrets.token_hex(6)}"
    refused = False  # the server answered CREATE DATABASE with an error: nothing to drop
    try:
        try:
            scratch = _create_server_database(url, name, settings)
        except sa.exc.OperationalError as exc:
            refused = True
            if _permission_denied(exc):  # MySQL drivers raise access denied as operational
                raise _may_not_create(server, exc, url) from None
            login_refused = database.refused_login(exc)
            error = DatabaseUnreachable(
                f"cannot create a scratch database on {server}: {one_line(exc, [url])}",
                hint=database.refused_hint(url)
                if login_refused
                else "check that the server is up; or pass --scratch-url with an empty database",
                data={"database": database.mask_url(url)},
            )
            error.refused = login_refused
            raise error from None
        except sa.exc.SQLAlchemyError as exc:
            refused = True
            raise _may_not_create(server, exc, url) from None
        yield scratch
    finally:
        # Also after Ctrl-C during CREATE DATABASE, when it may or may not exist.
        for attempt in range(0 if refused else 2):
            try:
                _drop_server_database(url, name, settings)
                break
            except sa.exc.SQLAlchemyError as exc:
                if attempt:
                    cleanup.errors.append(
                        f"scratch database {name} on {server} could not be dropped:"
                        f" {one_line(exc, [url])}; drop it by hand"
                    )


@contextmanager
def _temporary_sqlite_database() -> Iterator[URL]:
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    try:
        yield URL.create("sqlite", database=os.fspath(folder / "scratch.db"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _user_objects(connection: Connection) -> list[str]:
    inspector = sa.inspect(connection)
    found = [f"table {t}" for t in inspector.get_table_names()]
    found += [f"view {v}" for v in inspector.get_view_names()]
    return found


def _empty_user_database(url: URL, cleanup: Cleanup) -> None:
    """Drop what the roundtrip created in a ``--scratch-url`` database (it was empty)."""
    engine = scratch_engine(url)
    try:
        with engine.begin() as conn:
            metadata = sa.MetaData()
            metadata.reflect(conn)
            metadata.drop_all(conn)
            scratch_dialect(url).drop_leftovers(conn)
    except sa.exc.SQLAlchemyError as exc:
        cleanup.errors.append(
            f"scratch database {database.mask_url(url)} could not be emptied after the"
            f" roundtrip: {one_line(exc, [url])}; empty it by hand before the next run"
        )
    finally:
        engine.dispose()


@contextmanager
def _user_scratch_database(
    url: URL, app_urls: Mapping[str | None, URL], settings: Settings, cleanup: Cleanup
) -> Iterator[URL]:
    for app_url in app_urls.values():
        if _same_database(url, app_url):
            raise ConfigError(
                f"--scratch-url {database.mask_url(url)} is the app's own database",
                hint="the roundtrip downgrades to base: give it a separate, empty database",
            )
    try:
        with database.connect(
            url, timeout=settings.connect_timeout, retries=settings.connect_retries
        ) as conn:
            objects = _user_objects(conn)
    except DatabaseUnreachable as exc:
        raise DatabaseUnreachable(
            f"scratch database: {exc.message}", hint=exc.hint, data=exc.data
        ) from None
    if objects:
        shown = ", ".join(objects[:5]) + (", ..." if len(objects) > 5 else "")
        raise ConfigError(
            f"scratch database {database.mask_url(url)} is not empty ({shown})",
            hint="the roundtrip starts from an empty database and changes it: give an empty"
            " one, or leave out --scratch-url to use a temporary database",
        )
    try:
        yield url
    finally:
        _empty_user_database(url, cleanup)


@contextmanager
def scratch_databases(
    app_urls: Mapping[str | None, URL],
    settings: Settings,
    scratch_url: str | None = None,
    cleanup: Cleanup | None = None,
) -> Iterator[dict[str | None, URL]]:
    """One empty scratch database per bind of ``app_urls`` for the block, never the app's.

    - SQLite: a file in a new temporary directory (``sm_verify_*``), removed afterwards.
    - PostgreSQL, MariaDB/MySQL: ``CREATE DATABASE sm_verify_<hex>`` on the bind's server
      with its credentials (MariaDB: with the app database's character set and collation),
      dropped in a ``finally`` (PostgreSQL ``WITH (FORCE)``), so also on Ctrl-C or a failure.
    - ``scratch_url`` (single-database apps only): that database, which must be empty and
      must not be the app's own; what the roundtrip created in it is dropped afterwards.

    Errors while removing are collected in ``cleanup`` instead of being raised over the
    exception that may be propagating. Raises :class:`ConfigError` for a scratch database
    that cannot be used and :class:`DatabaseUnreachable` when its server cannot be reached.
    """
    cleanup = cleanup if cleanup is not None else Cleanup()
    if scratch_url is not None and len(app_urls) != 1:
        raise ConfigError(
            "--scratch-url works for single-database apps only",
            hint="leave it out: each bind then gets a temporary database on its own server",
        )
    with ExitStack() as stack:
        urls: dict[str | None, URL] = {}
        for bind, app_url in app_urls.items():
            if scratch_url is not None:
                try:
                    given = make_url(scratch_url)
                except (sa.exc.ArgumentError, ValueError) as exc:
                    raise ConfigError(f"--scratch-url is not a database URL: {exc}") from None
                urls[bind] = stack.enter_context(
                    _user_scratch_database(given, app_urls, settings, cleanup)
                )
                continue
            temporary = scratch_dialect(app_url).temporary_database(app_url, settings, cleanup)
            urls[bind] = stack.enter_context(temporary)
        yield urls


def scratch_engine(url: URL) -> Engine:
    """An engine for a scratch database: no pool (PostgreSQL: a pool whose connections come
    back as new sessions, closed by :meth:`Engine.dispose`), so nothing stays connected once
    the caller disposes of it."""
    return scratch_dialect(url).engine(url)


class _ScratchDatabase:
    """Stands in for the Flask-SQLAlchemy instance inside :func:`scratch_app_context`.

    ``engine``, ``engines`` and ``get_engine()`` (what the stock single- and multi-database
    ``env.py`` call) answer with the scratch engines; everything else (``metadata``,
    ``metadatas``, ``Model``...) comes from the real instance.
    """

    def __init__(self, db: Any, engines: Mapping[str | None, Engine]) -> None:
        self._db = db
        self._engines = dict(engines)

    @property
    def engine(self) -> Engine:
        return self._engines[None]

    @property
    def engines(self) -> Mapping[str | None, Engine]:
        return MappingProxyType(self._engines)

    def get_engine(self, bind_key: str | None = None, **kwargs: Any) -> Engine:
        return self._engines[kwargs.get("bind", bind_key) or None]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@dataclass
class _ScratchMigrateState:
    """What ``app.extensions["migrate"]`` holds (Flask-Migrate's ``_MigrateConfig``)."""

    migrate: Any
    db: Any
    directory: str
    configure_args: dict[str, Any]

    @property
    def metadata(self) -> Any:
        return self.db.metadata


@contextmanager
def scratch_app_context(
    app: Flask, engines: Mapping[str | None, Engine], urls: Mapping[str | None, URL]
) -> Iterator[Flask]:
    """An app context in which the app's ``env.py`` sees only the scratch databases.

    The app itself is never changed (no swapped engine, no edited config), so a request
    served meanwhile by the same process still uses the real database. Instead a short-lived
    Flask app shares the real app's config and extensions, except that:

    - ``extensions["migrate"]`` is a copy whose ``db`` answers ``engine``/``engines``/
      ``get_engine()`` with the scratch engines (the stock ``env.py`` takes its engine and
      its ``sqlalchemy.url`` from there) and whose ``configure_args`` is a copy (``env.py``
      adds its ``process_revision_directives`` to it);
    - ``SQLALCHEMY_DATABASE_URI`` and ``SQLALCHEMY_BINDS`` name the scratch databases, for an
      ``env.py`` or a script that reads the URL from the config.

    Anything that reaches for the real ``db.engine`` or ``db.session`` (a script importing
    the app's models and querying them, a customised ``env.py``) fails with Flask-SQLAlchemy's
    "not registered with this app" error instead of reaching the app's database: a failed
    roundtrip step, never a change to the app's data.
    """
    state = app.extensions["migrate"]
    shadow_state = _ScratchMigrateState(
        migrate=state.migrate,
        db=_ScratchDatabase(state.db, engines),
        directory=state.directory,
        configure_args=dict(state.configure_args),
    )
    shadow = Flask(app.import_name, root_path=app.root_path, instance_path=app.instance_path)
    shadow.config.update(app.config)
    shadow.config["SQLALCHEMY_DATABASE_URI"] = urls[None].render_as_string(hide_password=False)
    binds = {k: v.render_as_string(hide_password=False) for k, v in urls.items() if k is not None}
    if binds:
        shadow.config["SQLALCHEMY_BINDS"] = binds
    else:
        shadow.config.pop("SQLALCHEMY_BINDS", None)
    shadow.extensions.update(app.extensions)
    shadow.extensions["migrate"] = shadow_state
    with shadow.app_context():
        yield shadow
