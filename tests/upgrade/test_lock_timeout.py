"""PostgreSQL: a revision blocked by another session's lock is retried, then reported."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.apps import MakeApp
from tests.support.cli import invoke
from tests.support.databases import nullpool_engine
from tests.support.revisions import write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import REVISIONS, json_of, ledger_rows, models, prepare

pytestmark = [pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True), TIMING]

ALTER = "f7000000alt2"
ALTER_SCRIPT = f'''
"""add widgets.note"""
import sqlalchemy as sa
from alembic import op

revision = "{ALTER}"
down_revision = "{REVISIONS[0]}"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "widgets", sa.Column("note", sa.String(length=50), nullable=True), if_not_exists=True
    )


def downgrade():
    op.drop_column("widgets", "note", if_exists=True)
'''

CONFIG = {
    "SAFEMIGRATE_BACKUP": False,
    "SAFEMIGRATE_LOCK_TIMEOUT": 0.3,
    "SAFEMIGRATE_LOCK_RETRIES": 2,
    # The retries' pauses (0.5 s, then 1 s by default) are no part of what is tested here.
    "SAFEMIGRATE_LOCK_RETRY_PAUSE": 0.05,
}


@contextmanager
def blocker(url: str) -> Iterator[tuple[Any, int]]:
    """Another session reading ``widgets`` in an open transaction (it holds ACCESS SHARE)."""
    engine = nullpool_engine(url)
    conn = engine.connect()
    try:
        conn.exec_driver_sql("SET application_name = 'sm-blocker'")
        conn.commit()
        conn.exec_driver_sql("SELECT count(*) FROM widgets")
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        yield conn, int(pid)
    finally:
        conn.close()
        engine.dispose()


def _release_after_first_wait(url: str, conn: Any) -> None:
    """Roll the blocker back once a session of this database has waited on a lock and stopped."""
    engine = nullpool_engine(url)
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 60
    try:
        with engine.connect() as monitor:
            monitor.execution_options(isolation_level="AUTOCOMMIT")
            seen = False
            while time.monotonic() < deadline:
                waiting = monitor.execute(query).scalar_one() > 0
                if seen and not waiting:
                    break
                seen = seen or waiting
                time.sleep(0.02)
    finally:
        engine.dispose()
        conn.rollback()


def _app(make_app: MakeApp, database_url: str) -> Any:
    app = make_app(database_url, models=models(), config=CONFIG)
    migrations = prepare(app, count=1)
    code = invoke(app, "db", "safe-upgrade", "--no-verify").exit_code
    assert code == 0
    write_revision(migrations, ALTER_SCRIPT)
    return app


def test_retries_and_succeeds_when_the_blocker_lets_go(
    make_app: MakeApp, database_url: str
) -> None:
    app = _app(make_app, database_url)
    with blocker(database_url) as (conn, _pid):
        # Let go once the first attempt has given up (however long the run took to get
        # there on a loaded machine), so the retry is what succeeds.
        release = threading.Thread(target=_release_after_first_wait, args=(database_url, conn))
        release.start()
        try:
            result = invoke(app, "db", "safe-upgrade", "--no-verify")
        finally:
            release.join()
    assert result.exit_code == 0, result.output
    assert (
        "waited longer than SAFEMIGRATE_LOCK_TIMEOUT (0.3s) for a lock; retry 1 of 2 in 0.05s"
        in result.output
    )
    rows = [r for r in ledger_rows(database_url) if r["revision"] == ALTER]
    assert [bool(r["success"]) for r in rows] == [True]  # retries leave no failed row
    engine = nullpool_engine(database_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns("widgets")}
    finally:
        engine.dispose()
    assert "note" in columns


def test_gives_up_with_exit_4_naming_the_blocker(make_app: MakeApp, database_url: str) -> None:
    app = _app(make_app, database_url)
    with blocker(database_url) as (_conn, pid):
        result = invoke(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
    assert result.exit_code == 4, result.output
    data = json_of(result.stdout)
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "migration-failed"
    assert problem["revision"] == ALTER
    assert problem["attempts"] == 3
    (blocked_by,) = problem["blockers"]
    assert blocked_by.startswith(f"pid {pid} ")
    assert "application sm-blocker" in blocked_by and "on widgets" in blocked_by
    assert f"blocked by pid {pid}" in problem["message"]
    assert "pg_terminate_backend" in problem["help"]
    assert data["current"] == [REVISIONS[0]]
    failed = [r for r in ledger_rows(database_url) if r["revision"] == ALTER]
    # the failure is recorded with what it left (nothing) and resolved at once (issue #17)
    assert [(r["direction"], bool(r["success"])) for r in failed] == [
        ("upgrade", False),
        ("resolve", True),
    ]
    assert failed[0]["error"].endswith("[left: nothing]"), failed[0]["error"]
