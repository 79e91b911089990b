"""Issue #13 item 8: a killed migrator's statement that keeps running on the server.

The migrator is SIGKILLed while its revision's statement runs (it holds row locks from an
``UPDATE`` earlier in the revision). The server does not notice the dead client, so the
statement and its locks stay; the migration lock, on its own session, is gone at once. The
next run must find that statement (by the session label, :mod:`flask_safemigrate.sessions`),
report it by server session and client pid, and then wait for it within
``SAFEMIGRATE_LOCK_WAIT`` (exit 5 ``orphaned-statement`` when it outlasts the wait) or end it
with ``SAFEMIGRATE_CANCEL_ORPHANS``. Before, it waited behind the row lock, retried, failed with
exit 4 and recorded a failure that needed ``--resolved``.

On PostgreSQL 14+ the tool sets ``client_connection_check_interval`` on the migration session,
so the server ends the orphan by itself within seconds; to get an orphan that lasts (as on
PostgreSQL 13 or with the check off) the revision turns the check off itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reliability.app import build_app
from tests.reliability.processes import Finished, Workspace, kill_when, run, start
from tests.support.apps import dispose_app, init_migrations
from tests.support.cli import invoke
from tests.support.databases import nullpool_engine
from tests.support.revisions import write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import REVISIONS, ledger_rows, revision_source, versions_of

pytestmark = TIMING

ORPHANED = "f6000000orp6"

SCRIPT = f'''
"""a revision whose long statement outlives its migrator"""
import os

from alembic import op

revision = "{ORPHANED}"
down_revision = "{REVISIONS[0]}"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE widgets SET name = 'migrated'")  # row locks until the revision ends
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql and os.environ.get("SM_ORPHAN_NO_CHECK"):
        op.execute("SET client_connection_check_interval = 0")
    if os.environ.get("SM_ORPHAN_GATE"):
        # Waits for the test's lock on the gate row: a statement that runs until the test
        # lets it finish, and that no server ends when its client dies.
        op.execute("SELECT id FROM gate WHERE id = 1 FOR UPDATE")
    elif os.environ.get("SM_ORPHAN_SLEEP"):
        op.execute("SELECT pg_sleep(120)")


def downgrade():
    pass
'''

_RUNNING = {
    "postgresql": (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name LIKE 'safemigrate migrate %'"
        " AND (query LIKE 'SELECT pg_sleep%' OR query LIKE 'SELECT id FROM gate%')"
    ),
    "mysql": (
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE()"
        " AND INFO LIKE '/* safemigrate migrate %SELECT id FROM gate%'"
    ),
}


def _workspace(database_url: str, tmp_path: Path) -> Workspace:
    """R1 applied (a ``widgets`` row to lock), the orphaning revision written after it."""
    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, tmp_path / "instance")
    try:
        init_migrations(app)
        write_revision(migrations, revision_source(0))
        result = invoke(app, "db", "safe-upgrade", "--no-verify", "--skip-lint")
        assert result.exit_code == 0, result.output
    finally:
        dispose_app(app)
    write_revision(migrations, SCRIPT)
    engine = nullpool_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO widgets (id, name) VALUES (1, 'seed')"))
            conn.execute(sa.text("CREATE TABLE gate (id integer PRIMARY KEY)"))
            conn.execute(sa.text("INSERT INTO gate (id) VALUES (1)"))
    finally:
        engine.dispose()
    return Workspace(database_url, migrations, tmp_path / "work")


def _running(database_url: str, kind: str) -> int | None:
    engine = nullpool_engine(database_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(sa.text(_RUNNING[kind])).scalar()
    finally:
        engine.dispose()
    return int(found) if found is not None else None


def _orphan(work: Workspace, kind: str, *, gate: bool) -> tuple[int, int]:
    """Start a migrator, SIGKILL it inside its long statement; (its pid, the server session).

    ``gate``: the statement waits for the gate row (the caller holds it); else it sleeps,
    with the server's dead-client check left as the tool set it.
    """
    extra = {"SM_ORPHAN_GATE": "1", "SM_ORPHAN_NO_CHECK": "1"} if gate else {"SM_ORPHAN_SLEEP": "1"}
    env = work.env(SM_LOCK_TIMEOUT="300", **extra)
    killed = start(work, "--no-verify", "--skip-lint", name="killed", env=env)
    sessions: list[int] = []

    def running() -> bool:
        found = _running(work.database_url, kind)
        sessions.extend([found] if found else [])
        return found is not None

    kill_when(killed, running, poll=0.05)
    return killed.process.pid, sessions[0]


@contextmanager
def _gate(database_url: str) -> Iterator[sa.Connection]:
    """The test's lock on the gate row; ``rollback()`` lets the orphan's statement finish."""
    engine = nullpool_engine(database_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT id FROM gate WHERE id = 1 FOR UPDATE"))
            yield conn
            conn.rollback()
    finally:
        engine.dispose()


def _args() -> tuple[str, ...]:
    return ("--no-verify", "--skip-lint", "--format", "json")


def _finish(finished: Finished) -> tuple[int, dict[str, Any], float]:
    assert "Traceback" not in finished.stderr, str(finished)
    return finished.code, finished.json(), finished.seconds


KINDS = pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)


@KINDS
def test_the_next_run_waits_for_the_orphan_within_the_lock_wait(
    db_kind: str, database_url: str, tmp_path: Path, summary: Callable[[str], None]
) -> None:
    work = _workspace(database_url, tmp_path)
    with _gate(database_url) as gate:
        pid, session = _orphan(work, db_kind, gate=True)

        code, data, short = _finish(
            run(work, *_args(), name="short", env=work.env(SM_LOCK_WAIT="0.5"))
        )
        assert code == 5, data
        assert data["stage"] == "lock"
        (problem,) = data["problems"]
        assert problem["check"] == "orphaned-statement", problem
        (orphan,) = problem["orphans"]
        assert orphan["session"] == session and orphan["pid"] == pid and orphan["gone"] is True
        assert f"session {session} of migrator pid {pid}" in problem["message"]
        assert "SAFEMIGRATE_CANCEL_ORPHANS" in problem["help"]
        assert versions_of(database_url) == [REVISIONS[0]]
        assert all(r["success"] for r in ledger_rows(database_url)), "no failure recorded"

        waiting = start(work, *_args(), name="long", env=work.env(SM_LOCK_WAIT="120"))
        deadline = time.monotonic() + 60
        while "killed migrator left running" not in waiting.progress():
            assert waiting.process.poll() is None, waiting.output()
            assert time.monotonic() < deadline, waiting.output()
            time.sleep(0.05)
        time.sleep(1)
        gate.rollback()  # the orphan's statement can finish now; its session then ends
        released = time.monotonic()
        code, data, _seconds = _finish(waiting.finish())
    assert code == 0, data
    (waited,) = data["orphans"]
    assert waited["action"] == "waited" and waited["session"] == session
    assert versions_of(database_url) == [ORPHANED]
    assert all(r["success"] for r in ledger_rows(database_url))
    summary(
        f"orphan of killed pid {pid}: LOCK_WAIT 0.5 -> exit 5 orphaned-statement in {short:.1f}s;"
        f" LOCK_WAIT 120 -> waited, exit 0 {time.monotonic() - released:.1f}s after the orphan"
        " could finish"
    )


@KINDS
def test_cancel_orphans_ends_the_statement_and_applies(
    db_kind: str, database_url: str, tmp_path: Path, summary: Callable[[str], None]
) -> None:
    work = _workspace(database_url, tmp_path)
    with _gate(database_url):
        pid, session = _orphan(work, db_kind, gate=True)
        env = work.env(SM_LOCK_WAIT="60", SM_CANCEL_ORPHANS="1")
        code, data, seconds = _finish(run(work, *_args(), name="cancel", env=env))
        assert code == 0, data
        (ended,) = data["orphans"]
        assert ended["action"] == "ended" and ended["pid"] == pid and ended["session"] == session
        assert versions_of(database_url) == [ORPHANED]
        assert _running(database_url, db_kind) is None
    assert all(r["success"] for r in ledger_rows(database_url))
    summary(f"orphan of killed pid {pid} (session {session}) ended; run exit 0 in {seconds:.1f}s")


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_postgresql_ends_a_dead_clients_statement_by_itself(
    database_url: str, tmp_path: Path, summary: Callable[[str], None]
) -> None:
    """client_connection_check_interval = 2s on the migration session (PostgreSQL 14+)."""
    work = _workspace(database_url, tmp_path)
    _pid, session = _orphan(work, "postgresql", gate=False)  # pg_sleep(120)
    killed_at = time.monotonic()
    while _running(database_url, "postgresql") is not None:
        assert time.monotonic() - killed_at < 30, "the server never noticed the dead client"
        time.sleep(0.1)
    gone_after = time.monotonic() - killed_at
    summary(f"backend {session} of a killed migrator ended {gone_after:.1f}s after the kill")
    code, data, _seconds = _finish(run(work, *_args(), name="after", env=work.env()))
    assert code == 0, data


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_migrator_under_another_lock_is_not_an_orphan(database_url: str) -> None:
    """Two apps may migrate one database at once in their own schemas, under their own locks."""
    import subprocess
    import threading

    from flask_safemigrate import orphans, sessions

    dead = subprocess.Popen(["true"])
    dead.wait()
    label = f"safemigrate migrate {sessions.scope_of('other app')} pid {dead.pid} host "
    label += sessions.label("check").split(" host ", 1)[1]
    engine = sa.create_engine(database_url, connect_args={"application_name": label})
    try:
        with engine.connect() as sleeper, engine.connect() as looker:
            looker.execution_options(isolation_level="AUTOCOMMIT")
            thread = threading.Thread(
                target=lambda: sleeper.execute(sa.text("SELECT pg_sleep(2)")), daemon=True
            )
            thread.start()
            deadline = time.monotonic() + 10
            theirs: list[orphans.Orphan] = []
            while not theirs and time.monotonic() < deadline:
                theirs = orphans.find(looker, sessions.scope_of("other app"))
                time.sleep(0.05)
            ours = orphans.find(looker, sessions.scope_of("this app"))
            thread.join()
    finally:
        engine.dispose()
    (orphan,) = theirs
    assert orphan.pid == dead.pid and orphan.gone is True
    assert ours == []
