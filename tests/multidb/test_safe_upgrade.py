"""safe-upgrade on two binds: every bind pre-flighted, locked, upgraded, verified, reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_safemigrate import database, locks
from tests.support.apps import AppTracker
from tests.support.cli import invoke, invoke_json, invoke_ok
from tests.support.databases import connection_to
from tests.support.multidb import (
    FIRST,
    FIRST_SCRIPT,
    SECOND,
    Binds,
    State,
    multidb_app,
    safe_upgrade,
    second_script,
    state_of,
)

BOTH = (FIRST, SECOND)


def errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The problems that stop a run (lint warnings about the unguarded scripts aside)."""
    return [p for p in data["problems"] if p["severity"] == "error"]


def test_both_binds_reach_head_with_their_ledgers_and_a_rerun_changes_nothing(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    app = multidb_app(binds, tmp_path, track_app)
    code, data = safe_upgrade(app)
    assert (code, data["stage"], errors(data)) == (0, "done", [])
    assert data["from"] == [] and data["to"] == [SECOND] and data["current"] == [SECOND]
    assert [(s["bind"], s["revision"]) for s in data["applied"]] == [
        (None, FIRST),
        (None, SECOND),
        ("logs", FIRST),
        ("logs", SECOND),
    ]
    assert [(b["bind"], b["from"], b["current"]) for b in data["binds"]] == [
        (None, [], [SECOND]),
        ("logs", [], [SECOND]),
    ]
    for entry, url in zip(data["binds"], (binds.default, binds.logs), strict=True):
        assert entry["url"].startswith(database.mask_url(url))  # + Flask-SQLAlchemy's charset
    assert [[a["revision"] for a in b["applied"]] for b in data["binds"]] == [
        list(BOTH),
        list(BOTH),
    ]
    default, logs = state_of(binds.default), state_of(binds.logs)
    assert (default.current, default.tables) == ((SECOND,), {"users"})
    assert default.columns["users"] == {"id", "name"}
    assert (logs.current, logs.tables) == ((SECOND,), {"events", "audit"})
    for state in (default, logs):  # each bind's ledger, in its own database
        assert state.ledger == [(FIRST, "upgrade", True), (SECOND, "upgrade", True)]

    code, data = safe_upgrade(app)
    assert (code, data["applied"], data["plan"]) == (0, [], [])
    assert data["summary"] == (
        f"Already at the target: default at {SECOND}, logs at {SECOND}; nothing to apply."
    )
    assert state_of(binds.logs).ledger == logs.ledger

    code, verified, _ = invoke_json(app, "db", "verify", "--format", "json")
    assert (code, verified["problems"]) == (0, [])
    assert [d["current"] for d in verified["databases"]] == [[SECOND], [SECOND]]


def test_progress_lines_name_the_bind(binds: Binds, tmp_path: Path, track_app: AppTracker) -> None:
    app = multidb_app(binds, tmp_path, track_app)
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    steps = [line.split(" ... ")[0] for line in lines if " ... ok " in line]
    assert steps == [
        f"[default] 1/4 {FIRST}  users and events",
        f"[default] 2/4 {SECOND}  names and audit",
        f"[logs] 3/4 {FIRST}  users and events",
        f"[logs] 4/4 {SECOND}  names and audit",
    ]
    assert "upgrade: committed on default, logs" in lines
    assert lines[-1].startswith("Applied 4 revisions in ")
    assert lines[-1].endswith(f"; databases: default at {SECOND}, logs at {SECOND}.")


def test_a_bind_behind_the_other_gets_its_longer_path(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    app = multidb_app(binds, tmp_path, track_app, scripts=[FIRST_SCRIPT])
    invoke_ok(app, "db", "upgrade")  # both binds at FIRST
    # Somebody put the logs bind back to base by hand: the binds now differ.
    with connection_to(binds.logs) as connection:
        connection.exec_driver_sql("DROP TABLE events")
        connection.exec_driver_sql("DELETE FROM alembic_version")
        connection.commit()
    app = multidb_app(binds, tmp_path, track_app)
    code, data = safe_upgrade(app, "--dry-run")
    assert code == 0
    assert [(b["bind"], b["from"], b["plan"]) for b in data["binds"]] == [
        (None, [FIRST], [SECOND]),
        ("logs", [], [FIRST, SECOND]),
    ]
    assert [p["revision"] for p in data["plan"]] == [FIRST, SECOND]  # the union, from the lowest
    code, data = safe_upgrade(app)
    assert code == 0, errors(data)
    assert [(s["bind"], s["revision"]) for s in data["applied"]] == [
        (None, SECOND),
        ("logs", FIRST),
        ("logs", SECOND),
    ]
    assert state_of(binds.logs).tables == {"events", "audit"}


def test_a_failure_on_the_second_bind_says_which_and_where_each_bind_stands(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    app = multidb_app(binds, tmp_path, track_app, scripts=[FIRST_SCRIPT, second_script(fail=True)])
    code, data = safe_upgrade(app)
    assert (code, data["stage"], data["ok"]) == (4, "upgrade", False)
    [problem] = errors(data)
    assert problem["check"] == "migration-failed"
    assert problem["message"].startswith(
        f"Revision {SECOND} (names and audit) failed on {database.mask_url(binds.logs)}"
    )
    assert " (bind 'logs'): " in problem["message"].split("no_such_table")[0]
    assert "no_such_table" in problem["message"]
    both_transactional = "mysql" not in binds.kinds
    if both_transactional:  # nothing was left (issue #17): no --resolved
        assert problem["help"].endswith("(no --resolved needed: the failure left nothing behind)")
    else:
        assert problem["help"].endswith(f"then run `flask db safe-upgrade --resolved {SECOND}`")
    default, logs = state_of(binds.default), state_of(binds.logs)
    # The default bind ran both revisions, then rolled back with the failure: its
    # transaction stays open until every bind is done (the stock multi-database env.py).
    assert (default.current, default.tables, default.ledger) == ((), set(), [])
    assert "rolled back with the failure" in problem["message"]
    expected: list[tuple[str | None, list[str]]]
    if "mysql" not in binds.kinds:
        # Both transactional: nothing of this run is left anywhere but the failure row.
        assert (logs.current, logs.tables) == ((), set())
        assert logs.ledger == [(SECOND, "upgrade", False), (SECOND, "resolve", True)]
        assert data["applied"] == []
        expected = [(None, []), ("logs", [])]
    else:
        # MariaDB commits each revision of its bind; SECOND's CREATE TABLE audit stays.
        assert (logs.current, logs.tables) == ((FIRST,), {"events", "audit"})
        assert logs.ledger == [(FIRST, "upgrade", True), (SECOND, "upgrade", False)]
        assert [(s["bind"], s["revision"]) for s in data["applied"]] == [("logs", FIRST)]
        assert "cannot roll back DDL: 1 statement of" in problem["message"]
        assert "CREATE TABLE audit" in problem["message"]
        assert problem["help"].startswith("undo (or finish) by hand the statements of")
        expected = [(None, []), ("logs", [FIRST])]
    assert [(b["bind"], b["current"]) for b in data["binds"]] == expected
    assert [(b["bind"], b["current"]) for b in problem["binds"]] == expected
    assert (problem["bind"], problem["revision"]) == ("logs", SECOND)

    # Where something stayed the ledger blocks a blind re-run; fixed script + --resolved goes
    # on, on every bind. Where nothing stayed the fixed script goes on by itself.
    fixed = [FIRST_SCRIPT, second_script(guarded=True)]
    app = multidb_app(binds, tmp_path, track_app, scripts=fixed)
    if both_transactional:
        code, data = safe_upgrade(app)
        assert code == 0, errors(data)
        return
    code, data = safe_upgrade(app)
    assert code == 3
    assert [p["check"] for p in errors(data)] == ["failed-migration"]
    assert "(bind 'logs')" in errors(data)[0]["message"]
    code, data = safe_upgrade(app, "--resolved", SECOND)
    assert code == 0, errors(data)
    assert [(b["bind"], b["current"]) for b in data["binds"]] == [
        (None, [SECOND]),
        ("logs", [SECOND]),
    ]
    assert state_of(binds.logs).tables == {"events", "audit"}
    code, verified, _ = invoke_json(app, "db", "verify", "--format", "json")
    assert (code, verified["problems"]) == (0, [])


def test_an_unreachable_second_bind_stops_preflight_and_changes_nothing(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    logs_kind = binds.kinds[1]
    driver = "postgresql+psycopg" if logs_kind == "postgresql" else "mysql+pymysql"
    unreachable = f"{driver}://someone:s3cret-pw@127.0.0.1:9/nowhere"
    app = multidb_app(binds, tmp_path, track_app, logs_url=unreachable)
    result = invoke(app, "db", "safe-upgrade", "--format", "json")
    assert result.exit_code == 3
    assert "s3cret-pw" not in result.output
    code, data = safe_upgrade(app)
    assert (code, data["stage"]) == (3, "preflight")
    [problem] = data["problems"]
    assert problem["check"] == "database-unreachable"
    assert "(bind 'logs') could not be reached" in problem["message"]
    assert problem["message"].endswith("Nothing was changed on any database.")
    assert "cannot connect to" not in problem["message"]  # the URL once, not twice
    assert state_of(binds.default) == State(current=(), tables=set(), ledger=[], columns={})


def test_each_bind_is_locked_a_held_second_lock_stops_before_any_change(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    app = multidb_app(binds, tmp_path, track_app, config={"SAFEMIGRATE_LOCK_WAIT": 0.5})
    name = locks.lock_name(binds.logs)
    with locks.migration_lock(binds.logs, name=name, wait=0):  # another migrator of logs
        code, data = safe_upgrade(app)
    assert (code, data["stage"]) == (5, "lock")
    assert state_of(binds.default) == State(current=(), tables=set(), ledger=[], columns={})
    assert safe_upgrade(app)[0] == 0  # both locks were released


def test_dry_run_lists_each_binds_own_statements_with_their_sizes(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    """Only ``upgrade_<bind>()`` runs on a bind: its statements are sized on that database."""
    app = multidb_app(binds, tmp_path, track_app)
    code, _ = safe_upgrade(app, FIRST, "--no-verify")
    assert code == 0
    code, data = safe_upgrade(app, "--dry-run")
    assert code == 0, data
    (row,) = data["statements"]  # SECOND: users.name on the default bind; logs only creates
    assert (row["bind"], row["kind"], row["table"]) == ("default", "add_column", "users")
    assert row["exists"] is True and row["rows"] == 0
