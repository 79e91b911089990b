"""``flask db upgrade --sql``: every guarded statement is written out, and the SQL is valid.

The proof of "valid SQL for the dialect" is running it: the offline script is executed on a
fresh database of the same kind, which must end up with the schema the online upgrade made.
SQLite is checked on the initial migration only: Alembic cannot rebuild a table in ``--sql``
mode without a live database (its own limit, with or without guards).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from tests.autogen.scenario import Scenario, generate, schema_of, snapshot
from tests.support.apps import AppTracker
from tests.support.cli import invoke_ok
from tests.support.databases import DbKind, scratch_database, server_url, sqlite_url
from tests.support.scratch_pool import ScratchPool

STATEMENT_END = re.compile(r";[ \t]*\n")


def offline_url(url: str) -> str:
    """Offline, SQLAlchemy cannot ask the server whether it is MariaDB: the URL must say so
    (MariaDB drops a check constraint with DROP CONSTRAINT, MySQL with DROP CHECK)."""
    if not url.startswith("mysql"):
        return url
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
    finally:
        engine.dispose()
    return url.replace("mysql+", "mariadb+", 1) if mariadb else url


@pytest.fixture
def scenario(database_url: str, tmp_path: Path, track_app: AppTracker) -> Scenario:
    return generate(offline_url(database_url), tmp_path, track_app)


@pytest.fixture
def fresh_url(
    db_kind: DbKind, database_url: str, tmp_path: Path, postgresql_pool: ScratchPool
) -> Iterator[str]:
    """A second empty database of the same kind (``database_url`` makes the server reachable;
    PostgreSQL's comes from the pool, as empty as a new one, without a ``CREATE DATABASE``)."""
    if db_kind == "sqlite":
        yield sqlite_url(tmp_path / "offline.db")
        return
    second = postgresql_pool.database() if db_kind == "postgresql" else None
    with second or scratch_database(db_kind, server_url(db_kind)) as url:
        yield offline_url(url.render_as_string(hide_password=False))


def offline_sql(scenario: Scenario, revisions: str) -> str:
    result = invoke_ok(scenario.v2, "db", "upgrade", "--sql", revisions)
    return result.stdout


def run_sql(url: str, sql: str) -> None:
    """Run the script as a DBA would paste it: statement by statement, autocommitted."""
    if url.startswith("sqlite"):
        # closing(): sqlite3's own context manager commits but leaves the connection open.
        with contextlib.closing(sqlite3.connect(sa.make_url(url).database or "")) as conn:
            conn.executescript(sql)
        return
    engine = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in STATEMENT_END.split(sql):
                if statement.strip() and not _only_comments(statement):
                    conn.exec_driver_sql(statement.replace("%", "%%"))
    finally:
        engine.dispose()


def _only_comments(statement: str) -> bool:
    return all(line.startswith("--") or not line.strip() for line in statement.splitlines())


def schema_at(url: str) -> dict[str, object]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return schema_of(conn)
    finally:
        engine.dispose()


def test_offline_sql_builds_the_same_schema(
    scenario: Scenario, fresh_url: str, db_kind: DbKind
) -> None:
    first, second = scenario.revisions
    online_first = snapshot(scenario.v2)

    sql = offline_sql(scenario, f"base:{first}")
    assert sql.count("CREATE TABLE IF NOT EXISTS") == 2
    assert ("CREATE TYPE post_status AS ENUM" in sql) == (db_kind == "postgresql")
    indexes = re.findall(r"^CREATE (?:UNIQUE )?INDEX .*$", sql, re.MULTILINE)
    assert indexes, sql
    if db_kind in ("sqlite", "postgresql"):  # MariaDB/MySQL: no IF NOT EXISTS on all servers
        # The online guard makes each create idempotent; offline the flag says the same, in
        # batch blocks too (SQLite's generated script builds its indexes in one).
        assert all(" IF NOT EXISTS " in line for line in indexes), indexes
    # safe-upgrade's offline SQL is plain upgrade's.
    safe = invoke_ok(scenario.v2, "db", "safe-upgrade", "--sql", f"base:{first}", "--skip-lint")
    assert safe.stdout.rstrip("\n") == sql.rstrip("\n")
    run_sql(fresh_url, sql)
    assert schema_at(fresh_url) == online_first

    if db_kind == "sqlite":
        return
    invoke_ok(scenario.v2, "db", "upgrade")
    online_second = snapshot(scenario.v2)
    sql = offline_sql(scenario, f"{first}:{second}")
    for statement in ("ALTER TABLE posts ADD COLUMN editor_id", "CREATE TABLE IF NOT EXISTS tags"):
        assert statement in sql
    run_sql(fresh_url, sql)
    assert schema_at(fresh_url) == online_second
