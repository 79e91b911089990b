"""Scratch PostgreSQL databases reused from test to test, emptied in between.

``CREATE DATABASE`` and ``DROP DATABASE`` cost PostgreSQL a copy of ``template1`` and its
removal, flushed to disk: about a second each on the 2-core CI machine, for each of the
hundreds of PostgreSQL tests. Emptying a database costs a few tens of milliseconds, so each
pytest process (each xdist worker) keeps the databases its tests used and hands them out again:

- :meth:`ScratchPool.database` gives a database with nothing in it, as a fresh one is: only
  the ``public`` schema, owned and granted as ``CREATE DATABASE`` makes it;
- when the block ends, every other session on the database is ended (as
  ``DROP DATABASE ... WITH (FORCE)`` does: a killed run's session, a lock holder), every
  schema is dropped with what it holds and ``public`` is created again. A database whose
  state is not all in its schemas (settings, grants on the database, extensions, event
  triggers, large objects, publications, default privileges, prepared transactions) is
  dropped instead, and the next test gets a new one;
- :meth:`ScratchPool.close` (at the end of the session) drops every database of the pool,
  so nothing is left on the server after the run.

Names are those of :func:`.databases.scratch_name` (``sm_<hex>_<worker>``): two workers never
share one, and a database serves one test at a time. MariaDB/MySQL is not pooled: creating and
dropping a database there is a directory, about as cheap as emptying one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import URL

from tests.support.databases import admin_engine, create_database, drop_database, scratch_name

#: Seconds to wait for each ended session to go (``pg_terminate_backend``'s timeout).
END_SESSION_TIMEOUT_MS: Final = 10_000

_END_SESSIONS: Final = sa.text(
    "SELECT pid, pg_terminate_backend(pid, :timeout) FROM pg_stat_activity"
    " WHERE datname = :name AND pid <> pg_backend_pid()"
)

_SCHEMAS: Final = sa.text(
    "SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema'"
    " AND left(nspname, 3) <> 'pg_'"
)

#: What a new database has outside its schemas, as it has it: each query counts what a test
#: may have added there. Any count above zero: the database is dropped, not emptied.
_OUTSIDE_SCHEMAS: Final = sa.text(
    """
SELECT
  (SELECT count(*) FROM pg_db_role_setting WHERE setdatabase = d.oid)
  + (CASE WHEN d.datacl IS NULL AND d.datconnlimit = -1 AND d.datallowconn
          AND NOT d.datistemplate AND d.datdba = (SELECT oid FROM pg_roles
                                                  WHERE rolname = current_user)
     THEN 0 ELSE 1 END)
  + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
  + (SELECT count(*) FROM pg_event_trigger)
  + (SELECT count(*) FROM pg_largeobject_metadata)
  + (SELECT count(*) FROM pg_publication)
  + (SELECT count(*) FROM pg_default_acl)
  + (SELECT count(*) FROM pg_prepared_xacts WHERE database = d.datname)
  + (SELECT count(*) FROM pg_foreign_data_wrapper)
  + (SELECT count(*) FROM pg_language WHERE lanname NOT IN ('internal', 'c', 'sql', 'plpgsql'))
  + (SELECT count(*) FROM pg_cast WHERE oid >= 16384)
  + (SELECT count(*) FROM pg_am WHERE oid >= 16384)
  + (SELECT count(*) FROM pg_shdescription WHERE objoid = d.oid)
FROM pg_database d WHERE d.datname = current_database()
"""
)

#: ``public`` as PostgreSQL 15 creates it in a new database (owner, privileges, comment).
_PUBLIC: Final = (
    "CREATE SCHEMA public AUTHORIZATION pg_database_owner",
    "GRANT USAGE ON SCHEMA public TO PUBLIC",
    "COMMENT ON SCHEMA public IS 'standard public schema'",
)


class ScratchPool:
    """The scratch PostgreSQL databases of one pytest process on the server at ``server``."""

    def __init__(self, server: URL) -> None:
        self.server = server
        self.free: list[str] = []
        #: Every database the pool made and has not dropped (free or in use).
        self.made: set[str] = set()

    @contextmanager
    def database(self) -> Iterator[URL]:
        """An empty database for the block; emptied (or dropped) when it ends."""
        if self.free:
            name = self.free.pop()
        else:
            name = scratch_name()
            create_database("postgresql", self.server, name)
            self.made.add(name)
        try:
            yield self.server.set(database=name)
        finally:
            self.give_back(name)

    def give_back(self, name: str) -> None:
        """Empty the database and keep it; drop it when it cannot be emptied to new."""
        if self.empty(name):
            self.free.append(name)
            return
        self.made.discard(name)
        drop_database("postgresql", self.server, name)

    def empty(self, name: str) -> bool:
        """End the database's sessions and drop its schemas; False when that does not make it
        new (state outside its schemas, or emptying failed: dropping it is left to the caller)."""
        scratch = admin_engine(self.server.set(database=name))
        try:
            with scratch.connect() as conn:
                # From a session of the database itself (one connection, not two): every
                # other one is ended before its schemas go.
                conn.execute(_END_SESSIONS, {"name": name, "timeout": END_SESSION_TIMEOUT_MS})
                if conn.execute(_OUTSIDE_SCHEMAS).scalar_one() != 0:
                    return False
                quote = conn.dialect.identifier_preparer.quote
                # One transaction (DDL is transactional here): one commit, one WAL flush,
                # instead of one per statement.
                conn.exec_driver_sql("BEGIN")
                for schema in conn.execute(_SCHEMAS).scalars().all():
                    conn.exec_driver_sql(f"DROP SCHEMA {quote(schema)} CASCADE")
                for statement in _PUBLIC:
                    conn.exec_driver_sql(statement)
                conn.exec_driver_sql("COMMIT")
        except sa.exc.DBAPIError:
            return False
        finally:
            scratch.dispose()
        return True

    def close(self) -> None:
        """Drop every database of the pool (the end of the session)."""
        self.free.clear()
        for name in sorted(self.made):
            drop_database("postgresql", self.server, name)
        self.made.clear()
