"""Connecting with a timeout and retries, reading the version table, and masking URLs.

Every message that names a database goes through :func:`mask_url`: a password must never reach
a terminal, a CI log or a JSON report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import NullPool

from flask_safemigrate.errors import DatabaseUnreachable
from flask_safemigrate.revision_ids import STOCK_VERSION_WIDTH

DIALECT_NAMES = {
    "postgresql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ``***`` (and unparsable input withheld)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return "<unparsable database URL>"


def mask_text(text: str, url: str | URL) -> str:
    """``text`` with the URL's password removed wherever a driver echoed it back."""
    try:
        password = make_url(url).password
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return text
    if password:
        text = text.replace(str(password), "***")
    return text


def dialect_of(url: str | URL) -> str | None:
    """``postgresql``, ``mysql`` or ``sqlite`` for a URL, ``None`` for anything else."""
    try:
        backend = make_url(url).get_backend_name()
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return None
    return DIALECT_NAMES.get(backend)


def _connect_args(url: URL, timeout: float) -> dict[str, object]:
    backend = url.get_backend_name()
    seconds = max(1, round(timeout))
    if backend == "postgresql":
        return {"connect_timeout": seconds}
    if backend in {"mysql", "mariadb"}:
        return {"connect_timeout": seconds}
    if backend == "sqlite":
        return {"timeout": timeout}
    return {}


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def connect(
    url: str | URL,
    *,
    timeout: float,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Connection]:
    """A connection on its own engine, tried ``1 + retries`` times with exponential backoff.

    The app's pooled engine is left alone: the timeout must apply to this connection only, and
    a migrator must not hold one of the app's pool slots.
    """
    parsed = make_url(url)
    engine = sa.create_engine(
        parsed, poolclass=NullPool, connect_args=_connect_args(parsed, timeout)
    )
    try:
        attempt = 0
        while True:
            try:
                connection = engine.connect()
                break
            except sa.exc.DBAPIError as exc:
                if attempt >= retries:
                    tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                    raise DatabaseUnreachable(
                        f"cannot connect to {mask_url(parsed)}: "
                        f"{mask_text(_first_line(exc), parsed)} ({tries})",
                        hint="check that the server is up, the URL and the credentials;"
                        " SAFEMIGRATE_CONNECT_TIMEOUT and SAFEMIGRATE_CONNECT_RETRIES set"
                        " how long to wait",
                        data={"database": mask_url(parsed)},
                    ) from None
                sleep(min(0.5 * 2**attempt, 10.0))
                attempt += 1
        try:
            yield connection
        finally:
            connection.close()
    finally:
        engine.dispose()


def current_revisions(
    connection: Connection, *, version_table: str = "alembic_version", schema: str | None = None
) -> tuple[str, ...]:
    """The revisions the version table holds (empty for a fresh database)."""
    context = MigrationContext.configure(
        connection,
        opts={"version_table": version_table, "version_table_schema": schema},
    )
    # str(): a version_num column someone made INTEGER yields ints, which no script names
    return tuple(sorted(str(head) for head in context.get_current_heads()))


def version_column_width(
    connection: Connection, *, version_table: str = "alembic_version", schema: str | None = None
) -> int | None:
    """How many characters the version table's ``version_num`` holds; ``None``: no limit.

    A database without the table gets Alembic's ``String(32)`` on the first upgrade, so that
    is the answer then. SQLite does not enforce a declared length, but the width is still
    what the column says, so an id that only SQLite accepts is caught before production.
    """
    inspector = sa.inspect(connection)
    if not inspector.has_table(version_table, schema=schema):
        return STOCK_VERSION_WIDTH
    for column in inspector.get_columns(version_table, schema=schema):
        if column["name"].lower() == "version_num":
            length = getattr(column["type"], "length", None)
            return length if isinstance(length, int) and length > 0 else None
    return None
