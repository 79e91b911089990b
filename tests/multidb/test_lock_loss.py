"""A lost migration lock in a multi-database app (issue 13, item 1): exit 5, nothing twice.

While ``SECOND``'s half on the ``logs`` bind runs (a data step, then a short sleep), the
migration lock of ``logs`` is taken from the run: its lock session, found by this test's own
scratch database and lock key, is terminated (PostgreSQL) or killed (MariaDB). The run must
stop with exit 5 and a ``lock-lost`` problem naming ``logs``; with ``logs`` on PostgreSQL
everything this run did rolls back on every transactional bind, with ``logs`` on MariaDB the
finished revision commits and the run stops. A second migrator then applies what is left, and
every revision's data step and ledger row exists exactly once on each bind.
"""

from __future__ import annotations

import os
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.reliability.test_lock_loss import cut_lock
from tests.support import fork_server as forked
from tests.support.apps import REPO_ROOT, AppTracker
from tests.support.cli import FLASK
from tests.support.databases import connection_to, nullpool_engine
from tests.support.multidb import (
    FIRST,
    FIRST_SCRIPT,
    SECOND,
    SERVER_PAIRS,
    Binds,
    multidb_app,
    safe_upgrade,
    state_of,
)
from tests.support.revisions import multidb_script
from tests.support.timing import TIMING

# The logs bind's session or lock is ended from outside: that needs a server.
pytestmark = [pytest.mark.parametrize("binds", SERVER_PAIRS, indirect=True), TIMING]

SLEEP = 1.5

SLOW_SECOND = multidb_script(
    SECOND,
    FIRST,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=50), nullable=True))
    ---
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("name")
    """,
    textwrap.dedent(
        """
        op.create_table("audit", sa.Column("id", sa.Integer(), primary_key=True))
        op.execute("INSERT INTO events (id) VALUES (2)")
        import os
        pause = float(os.environ.get("SM_LOCK_SLEEP", "0"))
        if pause:
            postgresql = op.get_bind().dialect.name == "postgresql"
            op.execute(f"SELECT pg_sleep({pause})" if postgresql else f"SELECT SLEEP({pause})")
        ---
        op.drop_table("audit")
        """
    ),
    "names and audit",
)

_SLEEPING = {
    "postgresql": (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND query LIKE 'SELECT pg_sleep%%' AND state = 'active'"
    ),
    "mysql": (
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE()"
        " AND ID <> CONNECTION_ID() AND INFO LIKE '%%SELECT SLEEP%%'"
    ),
}


def cut_when_sleeping(
    url: str,
    kind: str,
    done: list[str],
    also: Callable[[], None] = lambda: None,
) -> threading.Thread:
    """A thread that cuts ``url``'s migration lock once its migration session sleeps, then
    calls ``also``."""

    def watch() -> None:
        engine = nullpool_engine(url)
        deadline = time.monotonic() + 60
        try:
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                while time.monotonic() < deadline:
                    if conn.exec_driver_sql(_SLEEPING[kind]).scalar() is not None:
                        done.append(cut_lock(kind, url))  # type: ignore[arg-type]
                        also()
                        return
                    time.sleep(0.05)
        finally:
            engine.dispose()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_lost_bind_lock_stops_the_run_and_nothing_runs_twice(
    binds: Binds, tmp_path: Path, track_app: AppTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = multidb_app(binds, tmp_path, track_app, scripts=[FIRST_SCRIPT, SLOW_SECOND])
    logs_kind = binds.kinds[1]
    cut: list[str] = []
    monkeypatch.setenv("SM_LOCK_SLEEP", str(SLEEP))
    watcher = cut_when_sleeping(binds.logs, logs_kind, cut)
    code, data = safe_upgrade(app, "--skip-lint")
    watcher.join(timeout=30)
    monkeypatch.delenv("SM_LOCK_SLEEP")
    assert cut, "the logs bind's migration session was never seen sleeping"

    assert code == 5, data
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "lock-lost", problem
    assert problem["bind"] == "logs", problem
    assert "logs" in problem["message"] and "lost" in problem["message"]
    assert "safe-upgrade" in problem["help"] and f"--resolved {SECOND}" not in problem["help"]
    committed = [(s["bind"], s["revision"]) for s in data["applied"]]
    if logs_kind == "postgresql":  # every transactional bind rolled back
        assert committed == [], data
        assert state_of(binds.default).current == ()
        assert state_of(binds.logs).current == ()
        assert problem["point"] == "commit"
    else:  # MariaDB: the finished revision committed, the run stopped after it
        assert (("logs", SECOND)) in committed, data
        assert problem["committed_unlocked"] == [SECOND], problem

    code, data = safe_upgrade(app, "--skip-lint")  # the next migrator
    assert code == 0, data
    for url in (binds.default, binds.logs):
        state = state_of(url)
        assert state.current == (SECOND,)
        upgrades = Counter(rev for rev, direction, ok in state.ledger if direction == "upgrade")
        assert upgrades == Counter([FIRST, SECOND]), state.ledger
        assert all(ok for _, _, ok in state.ledger), state.ledger
    with connection_to(binds.logs) as connection:
        rows = connection.execute(sa.text("SELECT id FROM events")).scalars().all()
    assert rows == [2], "SECOND's data step on logs ran more than once (or never)"


B_ARGS = ("--format", "json", "--skip-lint")

SECOND_MIGRATOR_APP = """
import os

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.support.multidb import models


def create_app():
    app = Flask(__name__, instance_path=os.environ["SM_INSTANCE"])
    app.config.update(
        SQLALCHEMY_DATABASE_URI=os.environ["SM_DEFAULT"],
        SQLALCHEMY_BINDS={"logs": os.environ["SM_LOGS"]},
        SAFEMIGRATE_LOCK_WAIT=90,
        SAFEMIGRATE_LOCK_RETRIES=6,
    )
    db = SQLAlchemy()
    models(db)
    db.init_app(app)
    SafeMigrate(app, db, directory=os.environ["SM_MIGRATIONS"])
    return app
"""


def test_a_second_migrator_during_the_loss_waits_and_runs_each_revision_once(
    binds: Binds, tmp_path: Path, track_app: AppTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both binds' locks are cut mid-revision and B starts at once: B takes them and runs
    what A did not commit, after A's migration sessions let go (the fence)."""
    app = multidb_app(
        binds,
        tmp_path,
        track_app,
        scripts=[FIRST_SCRIPT, SLOW_SECOND],
        config={"SAFEMIGRATE_LOCK_WAIT": 90},
    )
    (tmp_path / "second_migrator.py").write_text(SECOND_MIGRATOR_APP)
    env = {
        **os.environ,
        "SM_INSTANCE": str(tmp_path / "instance-b"),
        "SM_DEFAULT": binds.default,
        "SM_LOGS": binds.logs,
        "SM_MIGRATIONS": str(tmp_path / "migrations"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]),
        "NO_COLOR": "1",
    }
    env.pop("SM_LOCK_SLEEP", None)
    started: list[forked.Forked] = []

    def cut_default_and_start_b() -> None:
        cut.append(cut_lock(binds.kinds[0], binds.default))
        # Forked (tests/support/fork_server.py): B is asking for the locks within a fraction
        # of a second, well inside A's sleep.
        started.append(
            forked.start(
                [str(FLASK), "--app", "second_migrator:create_app", "db", "safe-upgrade", *B_ARGS],
                env=env,
                cwd=tmp_path,
                outputs=tmp_path / "runs",
                name="b",
            )
        )

    forked.fork_server().wait_ready()  # started before A, not in the middle of its sleep
    cut: list[str] = []
    monkeypatch.setenv("SM_LOCK_SLEEP", "3")
    watcher = cut_when_sleeping(binds.logs, binds.kinds[1], cut, cut_default_and_start_b)
    code, data = safe_upgrade(app, "--skip-lint")
    watcher.join(timeout=30)
    assert len(cut) == 2 and started, "the locks were never cut"
    out, err = started[0].communicate(timeout=180)
    assert code == 5, data
    assert [p["check"] for p in data["problems"] if p["severity"] == "error"] == ["lock-lost"]
    assert started[0].wait() == 0, out + err
    assert "Traceback" not in err
    for url in (binds.default, binds.logs):
        state = state_of(url)
        assert state.current == (SECOND,)
        upgrades = Counter(rev for rev, direction, ok in state.ledger if direction == "upgrade")
        assert upgrades == Counter([FIRST, SECOND]), state.ledger
        assert all(ok for _, _, ok in state.ledger), state.ledger
    with connection_to(binds.logs) as connection:
        rows = connection.execute(sa.text("SELECT id FROM events")).scalars().all()
    assert rows == [2], "SECOND's data step on logs ran more than once (or never)"
