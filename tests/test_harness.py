"""The test harness itself: reachability (skip locally, fail in CI) and scratch databases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import make_url

from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke_ok
from tests.support.databases import (
    SCRATCH_PREFIX,
    SERVER_KINDS,
    DbKind,
    ServerKind,
    database_exists,
    in_ci,
    probe,
    require_server,
    scratch_database,
    server_url,
    table_names,
)
from tests.support.revisions import write_revision
from tests.support.scratch_pool import ScratchPool

UNREACHABLE = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:1/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:1/test",
}
LABEL = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}

SCRATCH_DATABASES = pytest.StashKey[list[tuple[ServerKind, str]]]()


@pytest.fixture(autouse=True)
def _scratch_databases_are_dropped(
    request: pytest.FixtureRequest, postgresql_pool: ScratchPool
) -> Iterator[None]:
    """Autouse, so set up before ``database_url`` and torn down after it has dropped its
    database (or emptied it into ``postgresql_pool``, which drops it at the end of the
    session): fails the test if a database recorded in the stash still exists then and is
    not an empty one of the pool."""
    created: list[tuple[ServerKind, str]] = []
    request.node.stash[SCRATCH_DATABASES] = created
    yield
    left = [
        name
        for kind, name in created
        if database_exists(kind, server_url(kind), name)
        and not (
            kind == "postgresql"
            and name in postgresql_pool.free
            and table_names(server_url(kind).set(database=name)) == set()
        )
    ]
    assert left == [], f"scratch databases not dropped: {left}"


@pytest.mark.parametrize("kind", SERVER_KINDS)
@pytest.mark.parametrize("ci", ["true", "TRUE", "True", " true "])
def test_unreachable_server_fails_in_ci(kind: ServerKind, ci: str) -> None:
    with pytest.raises(pytest.fail.Exception) as failed:
        require_server(kind, UNREACHABLE[kind], environ={"CI": ci})
    message = str(failed.value)
    assert message.startswith(f"{LABEL[kind]} not reachable at {UNREACHABLE[kind]}: ")
    assert "CI=true" in message


@pytest.mark.parametrize("kind", SERVER_KINDS)
@pytest.mark.parametrize("environ", [{}, {"CI": "false"}, {"CI": "1"}, {"CI": ""}])
def test_unreachable_server_skips_outside_ci(kind: ServerKind, environ: dict[str, str]) -> None:
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_server(kind, UNREACHABLE[kind], environ=environ)
    assert str(skipped.value).startswith(f"{LABEL[kind]} not reachable at {UNREACHABLE[kind]}: ")


def test_ci_detection() -> None:
    assert in_ci({"CI": "true"}) and in_ci({"CI": "True"})
    assert not in_ci({}) and not in_ci({"CI": "false"}) and not in_ci({"CI": "yes"})


def test_password_is_not_shown_when_unreachable() -> None:
    url = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/test"
    with pytest.raises(pytest.fail.Exception) as failed:
        require_server("postgresql", url, environ={"CI": "true"})
    assert "s3cret" not in str(failed.value)
    assert "postgres:***@127.0.0.1:1" in str(failed.value)


def test_probe_gives_up_quickly() -> None:
    # A non-routable address: no answer at all, so only the connect timeout ends the wait.
    started = time.monotonic()
    error = probe(make_url("postgresql+psycopg://postgres@10.255.255.1:5432/test"), timeout=1)
    assert error is not None
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_reachable_server_neither_skips_nor_fails(kind: ServerKind) -> None:
    url = server_url(kind)
    require_server(kind, url)  # the usual policy for this run: skip locally, fail in CI
    assert probe(url) is None
    require_server(kind, url, environ={"CI": "true"})  # reachable: returns, no skip or fail


def test_database_url_is_a_fresh_empty_database(
    db_kind: DbKind, database_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    assert table_names(database_url) == set()
    url = make_url(database_url)
    assert url.get_backend_name() in ({"mysql", "mariadb"} if db_kind == "mysql" else {db_kind})
    if db_kind == "sqlite":
        assert url.database is not None and Path(url.database).parent == tmp_path
        return
    name = url.database
    assert name is not None and name.startswith(SCRATCH_PREFIX)
    assert name != server_url(db_kind).database
    assert database_exists(db_kind, server_url(db_kind), name)
    request.node.stash[SCRATCH_DATABASES].append((db_kind, name))
    # Leave a table behind: the database is dropped, or emptied into the pool, anyway
    # (checked after teardown).
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE leftover (id INTEGER PRIMARY KEY)"))
    finally:
        engine.dispose()
    assert table_names(database_url) == {"leftover"}


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_scratch_database_is_dropped_even_with_an_open_session(kind: ServerKind) -> None:
    server = server_url(kind)
    require_server(kind, server)
    engine = None
    conn = None
    try:
        with scratch_database(kind, server) as scratch:
            name = scratch.database
            assert name is not None and database_exists(kind, server, name)
            engine = sa.create_engine(scratch, poolclass=sa.pool.NullPool)
            conn = engine.connect()  # still open when the database is dropped
            conn.execute(sa.text("SELECT 1"))
            conn.commit()
        # PostgreSQL ends the session (WITH (FORCE)); MariaDB drops under an idle session.
        assert not database_exists(kind, server, name)
    finally:
        if conn is not None:
            conn.invalidate()
            conn.close()
        if engine is not None:
            engine.dispose()


def test_make_app_and_migration_helpers(make_app: MakeApp, database_url: str) -> None:
    def declare(db: SQLAlchemy) -> None:
        sa.Table("notes", db.metadata, sa.Column("id", sa.Integer, primary_key=True))

    app = make_app(database_url, models=declare, config={"SAFEMIGRATE_EXAMPLE": 1})
    other = make_app(database_url)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url
    assert app.config["SAFEMIGRATE_EXAMPLE"] == 1
    assert app.extensions["safemigrate"] is not other.extensions["safemigrate"]
    assert set(app.extensions["sqlalchemy"].metadata.tables) == {"notes"}
    assert set(other.extensions["sqlalchemy"].metadata.tables) == set()

    directory = init_migrations(app)
    assert (directory / "env.py").is_file() and (directory / "alembic.ini").is_file()
    write_revision(
        directory,
        '''
        """create notes

        Revision ID: 0a1b2c3d4e5f
        Revises:
        Create Date: 2025-01-01 00:00:00.000000

        """
        from alembic import op
        import sqlalchemy as sa

        revision = '0a1b2c3d4e5f'
        down_revision = None
        branch_labels = None
        depends_on = None


        def upgrade():
            op.create_table('notes', sa.Column('id', sa.Integer(), primary_key=True))


        def downgrade():
            op.drop_table('notes')
        ''',
    )
    assert (directory / "versions" / "0a1b2c3d4e5f_test.py").is_file()
    invoke_ok(app, "db", "upgrade")
    assert table_names(database_url) == {"notes", "alembic_version"}
    assert "0a1b2c3d4e5f (head)" in invoke_ok(app, "db", "current").output
    invoke_ok(app, "db", "downgrade", "base")
    assert table_names(database_url) <= {"alembic_version"}
