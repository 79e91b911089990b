"""Issue #13 item 10: a migration connection dropped mid-revision is not a script failure.

The revision's session is ended from outside while it runs (``pg_terminate_backend`` on
PostgreSQL, ``KILL`` on MariaDB: only this test's session, found in this test's scratch
database by its statement). The run exits 4 with ``connection-lost``, says the connection
dropped (not "fix the script"), and:

- PostgreSQL: nothing of the revision is left, so a plain re-run applies it, no ``--resolved``;
- MariaDB: the DDL that ran before the drop stays and is listed; the failure blocks the next
  run until someone has looked (``--resolved``), as any half-applied revision does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reliability.server_sessions import drop_the_migration_session
from tests.support.apps import MakeApp
from tests.support.cli import invoke
from tests.support.databases import nullpool_engine
from tests.support.revisions import write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import (
    REVISIONS,
    json_of,
    ledger_rows,
    models,
    prepare,
    tables_of,
    versions_of,
)

pytestmark = TIMING

DROPPED = "f8000000los8"
#: How long the revision's statement sleeps when SM_LOST_SLEEP is set (the kill comes first).
SLEEP = 60

SCRIPT = f'''
"""a revision whose connection is dropped while it runs"""
import os

import sqlalchemy as sa
from alembic import op

revision = "{DROPPED}"
down_revision = "{REVISIONS[0]}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("lost_probe", sa.Column("id", sa.Integer(), primary_key=True))
    if os.environ.get("SM_LOST_SLEEP"):
        name = op.get_bind().dialect.name
        op.execute("SELECT pg_sleep({SLEEP})" if name == "postgresql" else "SELECT SLEEP({SLEEP})")


def downgrade():
    op.drop_table("lost_probe")
'''


def _app(make_app: MakeApp, database_url: str) -> Any:
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade", "--no-verify").exit_code == 0
    write_revision(migrations, SCRIPT)
    return app


def _dropped_run(
    app: Any, database_url: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, Any], float, list[int]]:
    monkeypatch.setenv("SM_LOST_SLEEP", "1")
    started = time.monotonic()
    with drop_the_migration_session(database_url, kind) as ended:
        result = invoke(app, "db", "safe-upgrade", "--no-verify", "--skip-lint", "--format", "json")
    seconds = time.monotonic() - started
    monkeypatch.delenv("SM_LOST_SLEEP")
    assert ended, "the migration session was never seen running its sleep"
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    data = json_of(result.stdout)
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "connection-lost", problem
    assert problem["revision"] == DROPPED
    assert (
        "was lost" in problem["message"] and "the script itself did not fail" in problem["message"]
    )
    assert "fix the script" not in problem["help"]
    assert data["current"] == [REVISIONS[0]]
    return problem, seconds, ended


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_postgresql_dropped_connection_then_a_plain_rerun_applies_the_revision(
    make_app: MakeApp,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    summary: Callable[[str], None],
) -> None:
    app = _app(make_app, database_url)
    problem, seconds, ended = _dropped_run(app, database_url, "postgresql", monkeypatch)
    assert "Nothing of f8000000los8 was left behind" in problem["message"]
    assert problem["resumable"] is True
    assert "run `flask db safe-upgrade` again" in problem["help"]
    assert "lost_probe" not in tables_of(database_url)
    rows = [(r["direction"], bool(r["success"])) for r in ledger_rows(database_url)]
    assert rows[-2:] == [("upgrade", False), ("resolve", True)], rows

    rerun = invoke(app, "db", "safe-upgrade", "--no-verify", "--skip-lint")
    assert rerun.exit_code == 0, rerun.output
    assert versions_of(database_url) == [DROPPED]
    assert "lost_probe" in tables_of(database_url)
    summary(
        f"backend {ended[0]} terminated; run exit 4 connection-lost after {seconds:.1f}s;"
        f" plain re-run exit {rerun.exit_code}"
    )


@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_mariadb_dropped_connection_reports_the_ddl_that_stays(
    make_app: MakeApp,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    summary: Callable[[str], None],
) -> None:
    app = _app(make_app, database_url)
    problem, seconds, ended = _dropped_run(app, database_url, "mysql", monkeypatch)
    (ran,) = problem["ran"]
    assert ran.startswith("CREATE TABLE lost_probe")
    assert f"1 statement of {DROPPED} ran before the drop and stays applied" in problem["message"]
    assert problem["resumable"] is False
    assert f"--resolved {DROPPED}" in problem["help"]
    assert "lost_probe" in tables_of(database_url)  # MariaDB committed the DDL by itself
    rows = [(r["direction"], bool(r["success"])) for r in ledger_rows(database_url)]
    assert rows[-1] == ("upgrade", False), rows

    plain = invoke(app, "db", "safe-upgrade", "--no-verify", "--skip-lint")
    assert plain.exit_code == 3, plain.output  # a half-applied revision needs a look first
    engine = nullpool_engine(database_url)  # the repair: undo the listed statement
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE lost_probe"))
    finally:
        engine.dispose()
    resolved = invoke(
        app, "db", "safe-upgrade", "--no-verify", "--skip-lint", "--resolved", DROPPED
    )
    assert resolved.exit_code == 0, resolved.output
    assert versions_of(database_url) == [DROPPED]
    summary(
        f"connection {ended[0]} killed; run exit 4 connection-lost after {seconds:.1f}s,"
        f" 1 statement listed; plain re-run exit {plain.exit_code}, --resolved exit"
        f" {resolved.exit_code}"
    )
