"""Issue #17 item 7: signs of life. A statement blocked by another session's lock is reported
every SAFEMIGRATE_HEARTBEAT seconds (with PostgreSQL's wait event), and so is the wait for
the migration lock (with the time left), as text lines and as JSON log events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from flask_safemigrate import locks, upgrade
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.render.progress import event_line
from flask_safemigrate.upgrade import events
from tests.support.apps import MakeApp
from tests.support.cli import invoke
from tests.support.databases import nullpool_engine
from tests.support.revisions import write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import TABLES, models, prepare
from tests.upgrade.test_lock_timeout import ALTER, ALTER_SCRIPT, blocker

pytestmark = TIMING

CONFIG = {
    "SAFEMIGRATE_BACKUP": False,
    "SAFEMIGRATE_LOCK_TIMEOUT": 20,
    "SAFEMIGRATE_LOCK_RETRIES": 0,
    "SAFEMIGRATE_HEARTBEAT": 0.4,
}


def _blocked_app(make_app: MakeApp, url: str) -> Any:
    app = make_app(url, models=models(TABLES[:1]), config=CONFIG)
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade").exit_code == 0
    write_revision(migrations, ALTER_SCRIPT)
    return app


@contextmanager
def _released_after(url: str, conn: Any, seconds: float) -> Iterator[None]:
    """Roll the blocker's transaction back ``seconds`` after the migration started waiting
    on its lock (seen in pg_stat_activity), from another thread: a slow pre-flight on a
    loaded machine must not see the lock gone before the statement even ran."""

    def release() -> None:
        engine = nullpool_engine(url)
        query = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND application_name LIKE 'safemigrate migrate%'"
        )
        try:
            with engine.connect() as monitor:
                monitor = monitor.execution_options(isolation_level="AUTOCOMMIT")
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and not monitor.execute(query).scalar_one():
                    time.sleep(0.05)
        finally:
            engine.dispose()
        time.sleep(seconds)
        conn.rollback()

    thread = threading.Thread(target=release)
    thread.start()
    try:
        yield
    finally:
        thread.join()


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_blocked_statement_beats_with_its_wait_event(
    make_app: MakeApp, database_url: str
) -> None:
    app = _blocked_app(make_app, database_url)
    with blocker(database_url) as (conn, _pid), _released_after(database_url, conn, 1.6):
        result = invoke(app, "db", "safe-upgrade", "--no-verify", "--log-format", "json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    beats = [r for r in records if r["event"] == "statement_running"]
    # A tick may also catch a quick statement (the ledger row) on a loaded machine.
    alter = [b for b in beats if b["statement"].startswith("ALTER TABLE widgets ADD COLUMN")]
    assert len(alter) >= 2, records
    first = alter[0]
    assert first["stage"] == "upgrade" and first["revision"] == ALTER
    assert first["wait_event"] == "Lock/relation"
    assert [b["seconds"] for b in alter] == sorted(b["seconds"] for b in alter)
    assert first["seconds"] > 0
    (ended,) = [r for r in records if r["event"] == "step_ended"]
    assert (ended["revision"], ended["outcome"]) == (ALTER, "ok")


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_blocked_statement_beats_on_the_terminal(make_app: MakeApp, database_url: str) -> None:
    app = _blocked_app(make_app, database_url)
    with blocker(database_url) as (conn, _pid), _released_after(database_url, conn, 1.2):
        result = invoke(app, "db", "safe-upgrade", "--no-verify")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    beats = [line for line in lines if "still running" in line and "ALTER TABLE" in line]
    assert beats, result.output
    assert beats[0].startswith(f"  ... revision {ALTER} still running, statement at ")
    assert "(PostgreSQL: waiting on Lock/relation): ALTER TABLE widgets ADD COLUMN" in beats[0]
    # The step's line broken by the heartbeats ends with its label again.
    assert any(line.startswith(f"[1/1] {ALTER} ... ok ") for line in lines), result.output


def test_waiting_for_the_migration_lock_counts_down(make_app: MakeApp, database_url: str) -> None:
    app = make_app(
        database_url,
        models=models(TABLES[:1]),
        config={**CONFIG, "SAFEMIGRATE_LOCK_WAIT": 30, "SAFEMIGRATE_HEARTBEAT": 0.5},
    )
    prepare(app, count=1)
    name = locks.lock_name(database_url)
    held, release = threading.Event(), threading.Event()
    seen: list[events.Event] = []

    class Watcher(upgrade.Progress):
        """Records the events; lets the lock go after the second countdown line."""

        def emit(self, event: events.Event) -> None:
            seen.append(event)
            if sum(isinstance(e, events.LockStillWaiting) for e in seen) >= 2:
                release.set()

    def hold() -> None:
        with locks.migration_lock(database_url, name=name, wait=5):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        result = upgrade.safe_upgrade(app, upgrade.Options(verify=False), Watcher())
    finally:
        release.set()
        holder.join()
    assert result.exit_code is ExitCode.OK, result.report.findings
    waits = [e for e in seen if isinstance(e, events.LockStillWaiting)]
    assert len(waits) >= 2
    assert all(w.waited + w.left == pytest.approx(30) for w in waits)
    assert [w.waited for w in waits] == sorted(w.waited for w in waits)
    line = event_line(waits[0])
    assert line.startswith("  ... still waiting for the migration lock: ")
    assert line.endswith("s left (SAFEMIGRATE_LOCK_WAIT)")
