"""Issue #13 item 9: a migration statement waits for a lock as long as SAFEMIGRATE_LOCK_TIMEOUT
says, on every database, and the report names the session it waited for.

- MariaDB: a row lock (another session's open ``UPDATE``) is governed by
  ``innodb_lock_wait_timeout`` (50 s by default), not ``lock_wait_timeout``; the tool sets both.
- PostgreSQL: the blocker of a quoted mixed-case table (``"Items"``) is named too.
- SQLite: ``busy_timeout`` comes from the setting (``BEGIN IMMEDIATE``, so SQLite does wait),
  and the message gives the wait that really happened.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.support.apps import MakeApp
from tests.support.cli import invoke
from tests.support.databases import nullpool_engine
from tests.support.revisions import revision_script, write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import REVISIONS, json_of, ledger_rows, models, prepare

pytestmark = TIMING

#: SAFEMIGRATE_LOCK_TIMEOUT of these tests, in seconds.
LOCK_TIMEOUT = 2
#: MariaDB's own default row-lock wait: what the tool must not fall back to.
INNODB_DEFAULT = 50

BLOCKED = "f9000000blk9"


def _app(make_app: MakeApp, database_url: str, body: str, retries: int) -> Any:
    config = {
        "SAFEMIGRATE_BACKUP": False,
        "SAFEMIGRATE_LOCK_TIMEOUT": LOCK_TIMEOUT,
        "SAFEMIGRATE_LOCK_RETRIES": retries,
        "SAFEMIGRATE_LOCK_RETRY_PAUSE": 0.05,  # the pause is not what these tests measure
    }
    app = make_app(database_url, models=models(), config=config)
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade", "--no-verify").exit_code == 0
    write_revision(
        migrations,
        revision_script(
            BLOCKED,
            REVISIONS[0],
            body,
            message="a revision that needs a lock another session holds",
        ),
    )
    return app


def _blocked_run(app: Any) -> tuple[int, dict[str, Any]]:
    result = invoke(app, "db", "safe-upgrade", "--no-verify", "--skip-lint", "--format", "json")
    return result.exit_code, json_of(result.stdout)


def _problem(data: dict[str, Any]) -> dict[str, Any]:
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "migration-failed"
    assert problem["revision"] == BLOCKED
    return problem


def _assert_waits(problem: dict[str, Any], attempts: int, summary: Callable[[str], None]) -> None:
    waits = problem["waited"]
    summary(f"SAFEMIGRATE_LOCK_TIMEOUT={LOCK_TIMEOUT}s, waits per attempt: {waits}")
    assert problem["attempts"] == attempts
    assert len(waits) == attempts, problem
    for wait in waits:
        # At least the setting (minus the clock's slack), far below the server's own default.
        assert LOCK_TIMEOUT * 0.8 <= wait < LOCK_TIMEOUT + 5, waits
    assert re.search(r"gave up waiting for a lock after \d+\.\d\ds", problem["message"])
    assert f"SAFEMIGRATE_LOCK_TIMEOUT {LOCK_TIMEOUT}s" in problem["message"]


@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_mariadb_row_lock_wait_follows_the_setting_and_names_the_blocker(
    make_app: MakeApp, database_url: str, summary: Callable[[str], None]
) -> None:
    app = _app(make_app, database_url, "op.execute(\"UPDATE widgets SET name = 'migrated'\")", 1)
    engine = nullpool_engine(database_url)
    try:
        with engine.connect() as setup:
            setup.execute(sa.text("INSERT INTO widgets (id, name) VALUES (1, 'a')"))
            setup.commit()
        with engine.connect() as blocker:
            blocker.execute(sa.text("UPDATE widgets SET name = 'held' WHERE id = 1"))
            blocker_id = blocker.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
            code, data = _blocked_run(app)
            blocker.rollback()
    finally:
        engine.dispose()
    assert code == 4, data
    problem = _problem(data)
    _assert_waits(problem, 2, summary)
    assert sum(problem["waited"]) < INNODB_DEFAULT
    (named,) = problem["blockers"]
    assert named.startswith(f"connection {blocker_id} "), named
    assert "1 rows and" in named
    assert f"blocked by connection {blocker_id}" in problem["message"]
    assert f"KILL {blocker_id} on MariaDB/MySQL" in problem["help"]  # the one it names
    failed = [r for r in ledger_rows(database_url) if r["revision"] == BLOCKED]
    # the UPDATE that waited rolled back: recorded, with what it left, and resolved (#17)
    assert [(r["direction"], bool(r["success"])) for r in failed] == [
        ("upgrade", False),
        ("resolve", True),
    ]
    assert failed[0]["error"].endswith("[left: nothing]"), failed[0]["error"]


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_postgresql_names_the_blocker_of_a_quoted_mixed_case_table(
    make_app: MakeApp, database_url: str, summary: Callable[[str], None]
) -> None:
    app = _app(
        make_app, database_url, "op.execute('ALTER TABLE \"Items\" ADD COLUMN note text')", 0
    )
    engine = nullpool_engine(database_url)
    try:
        with engine.connect() as setup:
            setup.execute(sa.text('CREATE TABLE "Items" (id integer PRIMARY KEY)'))
            setup.commit()
        with engine.connect() as blocker:
            blocker.execute(sa.text("SET application_name = 'sm-items-reader'"))
            blocker.execute(sa.text('SELECT count(*) FROM "Items"'))  # ACCESS SHARE until rollback
            pid = blocker.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            code, data = _blocked_run(app)
            blocker.rollback()
    finally:
        engine.dispose()
    assert code == 4, data
    problem = _problem(data)
    _assert_waits(problem, 1, summary)
    (named,) = problem["blockers"]
    assert named.startswith(f"pid {pid} "), named
    assert "application sm-items-reader" in named and "on Items" in named
    assert f"SELECT pg_terminate_backend({pid}) on PostgreSQL" in problem["help"]


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_sqlite_waits_busy_timeout_and_reports_the_real_wait(
    make_app: MakeApp, database_url: str, summary: Callable[[str], None]
) -> None:
    app = _app(make_app, database_url, 'op.add_column("widgets", sa.Column("note", sa.Text()))', 0)
    path = make_url(database_url).database
    assert path
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # a writer elsewhere: the reserved lock
        blocker.execute("INSERT INTO widgets (id, name) VALUES (1, 'held')")
        code, data = _blocked_run(app)
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert code == 4, data
    problem = _problem(data)
    _assert_waits(problem, 1, summary)
    assert "database is locked" in problem["message"]
    assert "another connection held a write transaction" in problem["message"]
    assert "fuser" in problem["help"]
    assert "could not begin" in problem["message"]  # BEGIN IMMEDIATE waited: nothing ran
    assert "no --resolved needed" in problem["help"]
    # The failure could not be written either (the writer still held the file): nothing of
    # the revision stayed, and once the writer let go a plain run applies it.
    result = invoke(app, "db", "safe-upgrade", "--no-verify", "--skip-lint")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_mariadb_metadata_lock_wait_names_the_open_transaction(
    make_app: MakeApp, database_url: str, summary: Callable[[str], None]
) -> None:
    """DDL behind a transaction that only read the table (a metadata lock, no row locks)."""
    app = _app(make_app, database_url, 'op.add_column("widgets", sa.Column("note", sa.Text()))', 0)
    engine = nullpool_engine(database_url)
    try:
        with engine.connect() as blocker:
            blocker.execute(sa.text("SELECT count(*) FROM widgets"))  # holds the table's MDL
            blocker_id = blocker.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()
            code, data = _blocked_run(app)
            blocker.rollback()
    finally:
        engine.dispose()
    assert code == 4, data
    problem = _problem(data)
    _assert_waits(problem, 1, summary)
    (named,) = problem["blockers"]
    assert named.startswith(f"connection {blocker_id} "), named
    assert "0 rows and" in named
