"""How many connections a safe-upgrade opens (issue #15 and #16: each is a login, a server
backend and the first catalog queries), and that reusing them keeps every fault seen.

A run reads each database a dozen times; within a stretch of reads one connection serves them
all (``database.reusing``), closed before the lock wait, a backup and the apply. The counts
are pinned: a change that opens one more connection per read fails here, not in the suite's
time. The lock keeps a session of its own and the revisions run on the app's engine.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from flask_safemigrate import database
from flask_safemigrate.upgrade import script_imports
from tests.support.apps import MakeApp, dispose_app
from tests.support.cli import invoke_json
from tests.support.databases import engine_for
from tests.support.revisions import write_revision
from tests.upgrade.histories import TABLES, models, prepare, revision_source

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}

#: Connections of a run that applies three revisions: pre-flight's reads (1), the lock (1,
#: SQLite's is a file), the reads under the lock (1), the app's engine that runs the
#: revisions (1), and the reads after them: positions, verify, the release record (1).
APPLYING_THREE = {"sqlite": 4, "postgresql": 5, "mysql": 5}
#: A run with nothing to apply: pre-flight's reads, then verify's and the release record's.
NO_OP = 1

#: The other sessions on this test's database (its own scratch database: no one else's).
OTHER_SESSIONS = {
    "postgresql": (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    ),
    "mysql": (
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE()"
        " AND ID <> CONNECTION_ID()"
    ),
}
END_SESSION = {"postgresql": "SELECT pg_terminate_backend({id})", "mysql": "KILL CONNECTION {id}"}


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every DBAPI connection opened in this process meanwhile (one item each)."""
    opened: list[str] = []

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        opened.append(type(dbapi_connection).__name__)

    sa.event.listen(sa.pool.Pool, "connect", on_connect)
    try:
        yield opened
    finally:
        sa.event.remove(sa.pool.Pool, "connect", on_connect)


def safe_upgrade(app: Any) -> dict[str, Any]:
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data
    return data


def other_sessions(url: str, kind: str) -> list[int]:
    with engine_for(url) as engine, engine.connect() as conn:
        return [int(row[0]) for row in conn.exec_driver_sql(OTHER_SESSIONS[kind])]


def test_the_connections_a_run_opens_are_pinned(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    app = make_app(database_url, models=models(TABLES[:3]), config=NO_BACKUP)
    prepare(app, count=3)
    with counting() as opened:
        data = safe_upgrade(app)
    assert len(data["applied"]) == 3, data
    assert len(opened) == APPLYING_THREE[db_kind], opened
    if db_kind != "sqlite":  # the kept one is closed when the run ends
        dispose_app(app)  # (the app's engine keeps its own, as after `flask db upgrade`)
        assert other_sessions(database_url, db_kind) == []
    with counting() as opened:
        data = safe_upgrade(app)
    assert data["applied"] == [], data
    assert len(opened) == NO_OP, opened
    for command in (("verify",), ("lint", "--pending")):
        with counting() as opened:
            code, data, _ = invoke_json(app, "db", *command, "--format", "json")
        assert code == 0, data
        assert len(opened) == 1, (command, opened)


@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_a_kept_connection_the_server_ended_is_replaced(
    make_app: MakeApp,
    database_url: str,
    db_kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ended from outside (a DBA, a failover, an idle timeout) while it waited between two
    reads, the kept connection is found dead before its next read and a new one is made: the
    run goes on as it did when every read had a connection of its own."""
    app = make_app(database_url, models=models(TABLES[:2]), config=NO_BACKUP)
    migrations = prepare(app, count=1)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
    assert code == 0, data
    write_revision(migrations, revision_source(1))
    dispose_app(app)  # the app's engine keeps no session: the run's check one is the only one
    ended: list[int] = []
    real = script_imports.check

    with engine_for(database_url) as engine, engine.connect() as own:
        own.execution_options(isolation_level="AUTOCOMMIT")

        def ending_the_kept_one(run: Any) -> Any:
            """Between pre-flight's reads: end the run's idle session on this database."""
            for row in own.exec_driver_sql(OTHER_SESSIONS[db_kind]).all():
                own.exec_driver_sql(END_SESSION[db_kind].format(id=int(row[0])))
                ended.append(int(row[0]))
            return real(run)

        monkeypatch.setattr(script_imports, "check", ending_the_kept_one)
        with counting() as opened:
            data = safe_upgrade(app)
    assert len(ended) == 1, ended  # pre-flight's one connection was kept, idle
    assert [step["revision"] for step in data["applied"]] == ["b2000000gad2"], data
    assert len(opened) == APPLYING_THREE[db_kind] + 1, opened  # and replaced once


def test_reuse_is_the_blocks_own_thread_and_ends_with_it(database_url: str, db_kind: str) -> None:
    """Within ``database.reusing()`` this thread's reads share one connection; another
    thread's each get their own (a heartbeat's or an app's worker is never handed this one);
    a read that raised is not reused; the block's end closes what it kept."""

    def reads(count: int, *, fail_first: bool = False) -> None:
        for n in range(count):
            with (
                contextlib.suppress(sa.exc.ProgrammingError, sa.exc.OperationalError),
                database.connect(database_url, timeout=5, retries=0) as connection,
            ):
                connection.exec_driver_sql("SELECT 1")
                if fail_first and n == 0:
                    connection.exec_driver_sql("SELECT * FROM no_such_table")

    with counting() as opened, database.reusing():
        reads(3)
        assert len(opened) == 1
        worker = threading.Thread(target=reads, args=(2,))
        worker.start()
        worker.join()
        assert len(opened) == 3  # the other thread's two, each new
        reads(2, fail_first=True)
        assert len(opened) == 4  # the failed read's connection was not kept
        if db_kind != "sqlite":
            assert len(other_sessions(database_url, db_kind)) == 1  # kept, idle
    if db_kind != "sqlite":
        assert other_sessions(database_url, db_kind) == []
