"""Ctrl-C during safe-upgrade, as a deploy script and a person at a terminal see it."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_safemigrate import locks
from flask_safemigrate.render.progress import ProgressPrinter
from flask_safemigrate.upgrade import events
from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import DbKind, engine_for, sqlite_url
from tests.support.revisions import write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import (
    REVISIONS,
    TABLES,
    models,
    prepare,
    revision_source,
    seed_legacy_table,
    tables_of,
    versions_of,
)

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}


def test_ctrl_c_with_format_json_still_prints_the_report(
    make_app: MakeApp, database_url: str
) -> None:
    """stdout carries the JSON report on every exit, Ctrl-C included (it carried nothing):
    the stage reached, the revisions committed before, the one that was running."""
    app = make_app(database_url, models=models(TABLES[:3]), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    write_revision(migrations, revision_source(2, extra_upgrade="raise KeyboardInterrupt"))
    code, data, result = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 130, result.output
    assert data["ok"] is False and data["interrupted"] is True
    assert data["stage"] == "upgrade"
    assert [step["revision"] for step in data["applied"]] == list(REVISIONS[:2])
    assert versions_of(database_url) == [REVISIONS[1]]  # what `applied` claims
    (problem,) = data["problems"]
    assert problem["check"] == "interrupted" and problem["revision"] == REVISIONS[2]
    assert "flask db verify" in data["summary"]
    for key in ("from", "to", "current", "plan", "backup"):
        assert key in data
    # The person at the terminal still gets the one line and the help, on stderr.
    assert f"Error: safe-upgrade interrupted (Ctrl-C) while applying {REVISIONS[2]};" in (
        result.stderr
    )


def test_ctrl_c_json_names_the_backup_written_before(make_app: MakeApp, tmp_path: Path) -> None:
    """SQLite is backed up by default: the report of a Ctrl-C names that file, not null."""
    url = sqlite_url(tmp_path / "app.db")
    app = make_app(url, models=models(TABLES[:3]))
    migrations = prepare(app, count=2)
    seed_legacy_table(url)  # an empty database is not backed up
    write_revision(migrations, revision_source(2, extra_upgrade="raise KeyboardInterrupt"))
    code, data, result = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 130, result.output
    assert data["backup"] is not None and Path(data["backup"]).is_file(), data
    assert f"backup: written to {data['backup']}" in result.stderr


def test_ctrl_c_says_what_this_database_left_behind(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """Not a sentence about every database: the one the app runs on."""
    app = make_app(database_url, models=models(TABLES[:3]), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    write_revision(migrations, revision_source(2, extra_upgrade="raise KeyboardInterrupt"))
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 130, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    if db_kind == "mysql":
        assert "MariaDB/MySQL cannot roll back DDL: 1 statement of " in line
        assert " ran and stays applied: CREATE TABLE" in line  # was "statement(s) ... stay"
        assert "PostgreSQL" not in line
    else:
        # One sentence, as a failed revision's report says it (was two: "Nothing of it was
        # left behind. What it had not committed rolled back.", the second only repeating).
        assert line.endswith("Its transaction rolled back: nothing of it was left behind.")
        assert "MariaDB" not in line
        assert TABLES[2] not in tables_of(database_url)


def test_sigterm_in_a_revision_is_reported_like_ctrl_c_and_exits_143(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """SIGTERM (a deploy rolling the pod, `docker stop`) ended the run with exit 143 and not a
    word: now it stops the revision, releases the lock and says what it stopped."""
    app = make_app(database_url, models=models(TABLES[:3]), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    term = "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)"
    write_revision(migrations, revision_source(2, extra_upgrade=term))
    previous = signal.getsignal(signal.SIGTERM)
    code, data, result = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert signal.getsignal(signal.SIGTERM) is previous  # the handler is the run's only
    assert code == 143, result.output
    assert data["interrupted"] is True
    assert versions_of(database_url) == [REVISIONS[1]]
    assert f"Error: safe-upgrade interrupted (SIGTERM) while applying {REVISIONS[2]};" in (
        result.stderr
    )
    write_revision(migrations, revision_source(2))
    if db_kind == "mysql":
        # Its CREATE TABLE stayed: recorded as failed, the next run waits for --resolved.
        (problem,) = data["problems"]
        assert problem["left"] == "statements" and problem["recorded"] is True, problem
        code, data, result = invoke_json(app, "db", "safe-upgrade", "--format", "json")
        assert code == 3, result.output
        assert "interrupted (SIGTERM) while it ran" in data["problems"][0]["message"]
        code, data, result = invoke_json(
            app, "db", "safe-upgrade", "--resolved", REVISIONS[2], "--format", "json"
        )
    else:
        # Nothing recorded as failed: once the script is fixed, a plain re-run goes on.
        code, data, result = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 0, result.output
    assert versions_of(database_url) == [REVISIONS[2]]


#: A statement that runs on the server for 30 seconds (DDL: it commits itself on MariaDB),
#: and a SIGTERM to this process one second into it, as a deploy stopping the pod sends it.
SLOW_DDL = {
    "postgresql": "CREATE TABLE slow_copy AS SELECT 1 AS s FROM pg_sleep(30)",
    "mysql": "CREATE TABLE slow_copy AS SELECT SLEEP(30) AS s",
}
TERM_IN_A_SECOND = (
    "import os, signal, threading\n"
    "threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM)).start()\n"
)


def _running_on_server(url: str, db_kind: DbKind) -> list[str]:
    query = (
        "SELECT query FROM pg_stat_activity WHERE query LIKE '%slow_copy%'"
        " AND pid <> pg_backend_pid()"
        if db_kind == "postgresql"
        else "SELECT INFO FROM information_schema.PROCESSLIST WHERE INFO LIKE '%slow_copy%'"
        " AND ID <> CONNECTION_ID()"
    )
    with engine_for(url) as engine, engine.connect() as connection:
        return [str(row[0]) for row in connection.execute(sa.text(query))]


@TIMING
@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_the_statement_in_flight_is_ended_on_the_server(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """A signal stops the client; the server would go on running the statement (PyMySQL does
    not cancel it, so a long ALTER went on for its full time after Ctrl-C, holding its
    locks). The run ends its own statement on the server under the lock: nothing of it runs
    after the exit, and what it would have created is not there."""
    app = make_app(database_url, models=models(TABLES[:3]), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    slow = TERM_IN_A_SECOND + f"op.execute({SLOW_DDL[db_kind]!r})"
    write_revision(migrations, revision_source(2, extra_upgrade=slow))
    started = time.monotonic()
    code, data, result = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 143, result.output
    assert time.monotonic() - started < 25, "the run waited for the statement to finish"
    assert _running_on_server(database_url, db_kind) == []
    assert "slow_copy" not in tables_of(database_url)
    (problem,) = data["problems"]
    if db_kind == "mysql":
        # Ended by the run (psycopg cancels its own statement on PostgreSQL: nothing to end).
        assert problem["ended_on_server"], problem
        assert problem["left"] == "unknown" and problem["recorded"] is True, problem
        session = problem["ended_on_server"][0]
        assert f"it was ended on the server (KILL CONNECTION {session})" in problem["message"]
        code, again, result = invoke_json(app, "db", "safe-upgrade", "--format", "json")
        assert code == 3, result.output
        (failed,) = [p for p in again["problems"] if p["check"] == "failed-migration"]
        assert (
            "DDL in flight (ended on the server: rolled back unless it had finished)"
            in (failed["message"])
        ), failed
    else:
        assert problem["ended_on_server"] == [] and problem["left"] == "nothing", problem


def test_stopped_while_waiting_for_the_lock_says_so_and_that_it_changed_nothing(
    make_app: MakeApp, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another migrator holds the lock; SIGTERM (or Ctrl-C) comes while this run waits for
    it. Before: "while no revision was running; ... the migration lock is released", of a lock
    it never had."""
    app = make_app(
        database_url, models=models(TABLES[:2]), config={**NO_BACKUP, "SAFEMIGRATE_LOCK_WAIT": 30}
    )
    prepare(app, count=2)
    emit = ProgressPrinter.emit

    def stop_once_waiting(self: ProgressPrinter, event: events.Event) -> None:
        emit(self, event)
        if isinstance(event, events.LockWaiting):
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()

    monkeypatch.setattr(ProgressPrinter, "emit", stop_once_waiting)
    held, done = threading.Event(), threading.Event()

    def other_migrator() -> None:
        with locks.migration_lock(database_url, name=locks.lock_name(database_url), wait=0):
            held.set()
            done.wait(60)

    holder = threading.Thread(target=other_migrator)
    holder.start()
    try:
        assert held.wait(30)
        result = invoke(app, "db", "safe-upgrade")
    finally:
        done.set()
        holder.join()
    assert result.exit_code == 143, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert line == (
        "Error: safe-upgrade interrupted (SIGTERM) while waiting for the migration lock;"
        " the database is at base; it had not taken the migration lock: nothing was changed."
    )
    assert versions_of(database_url) == []
