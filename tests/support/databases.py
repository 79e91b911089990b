"""Real database servers for the tests: where they are, whether they are up, scratch databases,
and short-lived connections to run SQL on them.

Nothing here is mocked. PostgreSQL and MariaDB/MySQL are found through environment variables
(with the development/CI defaults); each test gets a freshly created, empty database that is
dropped afterwards. An unreachable server skips the test locally but fails it in CI.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal, NoReturn

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

DbKind = Literal["sqlite", "postgresql", "mysql"]
ServerKind = Literal["postgresql", "mysql"]

DB_KINDS: Final[tuple[DbKind, ...]] = ("sqlite", "postgresql", "mysql")
SERVER_KINDS: Final[tuple[ServerKind, ...]] = ("postgresql", "mysql")

URL_ENV: Final[dict[ServerKind, str]] = {
    "postgresql": "SAFEMIGRATE_TEST_POSTGRES_URL",
    "mysql": "SAFEMIGRATE_TEST_MYSQL_URL",
}
DEFAULT_URLS: Final[dict[ServerKind, str]] = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    # PyMySQL 1.2 tries TLS on every connection unless told not to, and builds a new TLS
    # context for each (about 40 ms: it loads the system's CA certificates), even from a
    # server without TLS; the local test server has none, and the suite opens thousands.
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/test?ssl_disabled=true",
}
LABELS: Final[dict[ServerKind, str]] = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}

#: Seconds to wait for a server before calling it unreachable.
PROBE_TIMEOUT: Final = 3.0
#: Scratch databases are named ``sm_<16 hex digits>``.
SCRATCH_PREFIX: Final = "sm_"


def server_url(kind: ServerKind, environ: Mapping[str, str] | None = None) -> URL:
    """The server's URL: ``$SAFEMIGRATE_TEST_POSTGRES_URL`` / ``$SAFEMIGRATE_TEST_MYSQL_URL``."""
    env = os.environ if environ is None else environ
    return make_url(env.get(URL_ENV[kind]) or DEFAULT_URLS[kind])


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when ``CI`` is ``true`` (any case): a missing server must then fail, not skip."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() == "true"


def connect_args(url: URL, timeout: float) -> dict[str, Any]:
    """Driver options that bound how long connecting may take."""
    if url.get_backend_name() == "postgresql":
        return {"connect_timeout": max(1, round(timeout))}  # libpq wants whole seconds
    if url.get_backend_name() in ("mysql", "mariadb"):
        return {"connect_timeout": timeout}
    return {}


def admin_engine(url: URL, timeout: float = PROBE_TIMEOUT) -> Engine:
    """An AUTOCOMMIT engine without a pool (``CREATE/DROP DATABASE`` cannot run in a txn)."""
    return sa.create_engine(
        url,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args=connect_args(url, timeout),
    )


def probe(url: URL, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Connect once and run ``SELECT 1``; ``None`` when that worked, else the error in one line."""
    engine = admin_engine(url, timeout)
    try:
        with engine.connect() as conn:
            conn.execute(sa.select(1))
    except Exception as exc:  # any failure to connect means "unreachable"
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {lines[0] if lines else ''}".strip()
    finally:
        engine.dispose()
    return None


def unreachable(message: str, *, environ: Mapping[str, str] | None = None) -> NoReturn:
    """Skip the test, or fail it when running in CI (``CI=true``)."""
    if in_ci(environ):
        pytest.fail(f"{message} (CI=true: a database server must be reachable)", pytrace=False)
    pytest.skip(message)


def require_server(
    kind: ServerKind,
    url: URL | str,
    *,
    error: str | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = PROBE_TIMEOUT,
) -> None:
    """Return when the server answers; otherwise skip (locally) or fail (in CI).

    ``error`` is the result of an earlier :func:`probe` (the session caches it); without it
    the server is probed now.
    """
    url = make_url(url)
    if error is None:
        error = probe(url, timeout)
    if error is not None:
        shown = url.render_as_string(hide_password=True)
        unreachable(f"{LABELS[kind]} not reachable at {shown}: {error}", environ=environ)


def worker_suffix(environ: Mapping[str, str] | None = None) -> str:
    """``_gw0``, ``_gw1``... under pytest-xdist (``PYTEST_XDIST_WORKER``), else ``""``.

    Servers are shared by every worker (and every other run on the machine): names of things
    created on them (databases, logins) end with it, so two workers can never pick the same one.
    """
    env = os.environ if environ is None else environ
    worker = env.get("PYTEST_XDIST_WORKER", "")
    return f"_{worker}" if worker else ""


def scratch_name() -> str:
    """A fresh database name: ``sm_``, 16 random hex digits and the :func:`worker_suffix`."""
    return f"{SCRATCH_PREFIX}{secrets.token_hex(8)}{worker_suffix()}"


def create_database(kind: ServerKind, url: URL, name: str) -> URL:
    """``CREATE DATABASE name`` on the server at ``url``; returns the URL of the new database."""
    engine = admin_engine(url)
    try:
        quoted = engine.dialect.identifier_preparer.quote(name)
        with engine.connect() as conn:
            if kind == "mysql":
                conn.exec_driver_sql(f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4")
            else:
                conn.exec_driver_sql(f"CREATE DATABASE {quoted}")
    finally:
        engine.dispose()
    return url.set(database=name)


def drop_database(kind: ServerKind, url: URL, name: str) -> None:
    """``DROP DATABASE IF EXISTS name``; on PostgreSQL ``WITH (FORCE)`` ends open sessions."""
    engine = admin_engine(url)
    try:
        quoted = engine.dialect.identifier_preparer.quote(name)
        force = " WITH (FORCE)" if kind == "postgresql" else ""
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}{force}")
    finally:
        engine.dispose()


def database_exists(kind: ServerKind, url: URL, name: str) -> bool:
    """Whether the server at ``url`` has a database called ``name``."""
    if kind == "postgresql":
        query = sa.text("SELECT 1 FROM pg_database WHERE datname = :name")
    else:
        query = sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :name")
    engine = admin_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(query, {"name": name}).first() is not None
    finally:
        engine.dispose()


@contextmanager
def scratch_database(kind: ServerKind, url: URL) -> Iterator[URL]:
    """A new empty database on the server for the duration of the block, then dropped."""
    name = scratch_name()
    scratch = create_database(kind, url, name)
    try:
        yield scratch
    finally:
        drop_database(kind, url, name)


def sqlite_url(path: Path) -> str:
    """The URL of a SQLite database file."""
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def empty_sqlite(path: Path) -> str:
    """The URL of a new, empty SQLite database at ``path`` (a file of no bytes is one): what
    ``CREATE DATABASE`` is on a server. Commands that only read refuse a path where no file
    is (they would create it), so a test of an empty database creates it first."""
    path.touch()
    return sqlite_url(path)


def table_names(url: str | URL) -> set[str]:
    """The tables in the database at ``url`` (through a short-lived engine)."""
    with connection_to(url) as conn:
        return set(sa.inspect(conn).get_table_names())


def nullpool_engine(url: str | URL) -> Engine:
    """An engine without a pool: each connection is closed when the block using it ends, so
    nothing is left open on the server (the caller disposes it; or use :func:`engine_for`)."""
    return sa.create_engine(url, poolclass=NullPool)


@contextmanager
def engine_for(url: str | URL) -> Iterator[Engine]:
    """An engine without a pool for the block, disposed afterwards (no connection outlives it)."""
    engine = nullpool_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def connection_to(url: str | URL) -> Iterator[sa.Connection]:
    """One connection to the database at ``url`` for the block (see :func:`engine_for`)."""
    with engine_for(url) as engine, engine.connect() as connection:
        yield connection


def execute(url: str | URL, *statements: str | sa.Executable, autocommit: bool = False) -> None:
    """Run statements on the database at ``url``: in one committed transaction, or each on its
    own with ``autocommit`` (what a DBA's ``psql`` does; needed for statements that refuse a
    transaction, and for SQL text carrying its own ``BEGIN``/``COMMIT``)."""
    if autocommit:
        engine = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                _run(conn, statements)
        finally:
            engine.dispose()
        return
    with engine_for(url) as engine, engine.begin() as conn:
        _run(conn, statements)


def _run(conn: sa.Connection, statements: tuple[str | sa.Executable, ...]) -> None:
    for statement in statements:
        if isinstance(statement, str):
            conn.exec_driver_sql(statement)
        else:
            conn.execute(statement)


def scalars(url: str | URL, query: str) -> list[Any]:
    """The first column of every row ``query`` returns."""
    with connection_to(url) as conn:
        return list(conn.exec_driver_sql(query).scalars())


def tables_by_schema(url: str | URL) -> dict[str, set[str]]:
    """Every user table of the database, by schema (system schemas left out)."""
    with connection_to(url) as conn:
        inspector = sa.inspect(conn)
        return {
            schema: set(inspector.get_table_names(schema=schema))
            for schema in inspector.get_schema_names()
            if schema not in ("information_schema",) and not schema.startswith("pg_")
        }
