"""The pool of scratch PostgreSQL databases (:mod:`tests.support.scratch_pool`): a database
given back is as a new one, or dropped; closing the pool leaves nothing on the server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.support.databases import (
    SCRATCH_PREFIX,
    database_exists,
    execute,
    require_server,
    scalars,
    scratch_database,
    server_url,
    table_names,
)
from tests.support.scratch_pool import ScratchPool

pytestmark = pytest.mark.postgresql

#: Everything of a database's own catalog a test could leave behind, as comparable rows.
STATE = (
    "SELECT 'schema ' || nspname || ' ' || pg_get_userbyid(nspowner) || ' '"
    " || coalesce(nspacl::text, '') || ' ' || coalesce(obj_description(oid, 'pg_namespace'), '')"
    " FROM pg_namespace WHERE left(nspname, 3) <> 'pg_'"
    " UNION ALL SELECT 'relation ' || relname FROM pg_class WHERE oid >= 16384"
    " UNION ALL SELECT 'type ' || typname FROM pg_type WHERE oid >= 16384"
    " UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE oid >= 16384"
    " ORDER BY 1"
)


@pytest.fixture
def pool() -> Iterator[ScratchPool]:
    server = server_url("postgresql")
    require_server("postgresql", server)
    pool = ScratchPool(server)
    try:
        yield pool
    finally:
        pool.close()


def fresh_state() -> list[str]:
    with scratch_database("postgresql", server_url("postgresql")) as url:
        return scalars(url, STATE)


def test_a_database_given_back_is_emptied_to_new_and_its_sessions_ended(pool: ScratchPool) -> None:
    with pool.database() as url:
        name = url.database
        assert name is not None and name.startswith(SCRATCH_PREFIX)
        execute(
            url,
            "CREATE TYPE mood AS ENUM ('ok', 'sad')",
            "CREATE TABLE leftover (id INTEGER PRIMARY KEY, mood mood)",
            "CREATE SCHEMA other",
            "CREATE TABLE other.more (id INTEGER)",
            "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        )
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        holder = engine.connect()  # a session still holding a lock when the test ends
        holder.exec_driver_sql("SELECT pg_advisory_lock(42)")
        holder.exec_driver_sql("LOCK TABLE leftover IN ACCESS EXCLUSIVE MODE")
    try:
        assert pool.free == [name]
        assert scalars(url, STATE) == fresh_state()
        assert table_names(url) == set()
        with pytest.raises(sa.exc.OperationalError):
            holder.exec_driver_sql("SELECT 1")  # its session was ended
    finally:
        holder.invalidate()
        holder.close()
        engine.dispose()
    with pool.database() as again:
        assert again.database == name  # the same database, handed out again
        assert scalars(
            again,
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND d.datname = current_database()",
        ) == [0]
    pool.close()
    assert not database_exists("postgresql", pool.server, name)
    assert pool.free == []


@pytest.mark.parametrize(
    "outside",
    [
        "GRANT CONNECT ON DATABASE {name} TO PUBLIC",
        "ALTER DATABASE {name} SET statement_timeout = '5s'",
        "COMMENT ON DATABASE {name} IS 'kept'",
    ],
)
def test_a_database_with_state_outside_its_schemas_is_dropped(
    pool: ScratchPool, outside: str
) -> None:
    with pool.database() as url:
        name = url.database
        assert name is not None
        execute(pool.server, outside.format(name=name), autocommit=True)
    assert pool.free == [] and pool.made == set()
    assert not database_exists("postgresql", pool.server, name)
    with pool.database() as other:
        assert other.database != name and table_names(other) == set()
