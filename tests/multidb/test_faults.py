"""Faults of issue #13 in a multi-database app: a dropped connection on the second bind.

The ``logs`` bind's session is ended while ``SECOND``'s logs half sleeps (after its
``CREATE TABLE audit``). The run says ``connection-lost``, not "fix the script"; where nothing
is left (``logs`` on PostgreSQL, the default bind on SQLite, all transactional) a plain re-run
applies both revisions; with ``logs`` on MariaDB the ``CREATE TABLE`` stays and is listed, and
the failure needs ``--resolved`` after a look.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.reliability.server_sessions import drop_the_migration_session
from tests.support.apps import AppTracker
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

# The logs bind's session or lock is ended from outside: that needs a server.
pytestmark = pytest.mark.parametrize("binds", SERVER_PAIRS, indirect=True)

SLEEPING_SECOND = multidb_script(
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
        if guards.table_missing("audit"):
            op.create_table("audit", sa.Column("id", sa.Integer(), primary_key=True))
        import os
        if os.environ.get("SM_LOST_SLEEP"):
            postgresql = op.get_bind().dialect.name == "postgresql"
            op.execute("SELECT pg_sleep(60)" if postgresql else "SELECT SLEEP(60)")
        ---
        op.drop_table("audit")
        """
    ),
    "names and audit",
)


def test_a_dropped_connection_on_the_second_bind_is_connection_lost(
    binds: Binds, tmp_path: Path, track_app: AppTracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = multidb_app(binds, tmp_path, track_app, scripts=[FIRST_SCRIPT, SLEEPING_SECOND])
    logs_kind = binds.kinds[1]
    monkeypatch.setenv("SM_LOST_SLEEP", "1")
    with drop_the_migration_session(binds.logs, logs_kind) as ended:
        code, data = safe_upgrade(app, "--skip-lint")
    monkeypatch.delenv("SM_LOST_SLEEP")
    assert ended, "the logs bind's migration session was never seen sleeping"
    assert code == 4, data
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "connection-lost", problem
    assert (problem["bind"], problem["revision"]) == ("logs", SECOND)
    assert "the script itself did not fail" in problem["message"]
    assert "fix the script" not in problem["help"]

    code, data = safe_upgrade(app, "--skip-lint")
    if logs_kind == "postgresql":
        assert "run `flask db safe-upgrade` again" in problem["help"]
        assert code == 0, data
    else:
        assert "CREATE TABLE audit" in problem["message"]
        assert f"--resolved {SECOND}" in problem["help"]
        assert code == 3, data  # the listed DDL stays: someone must look first
        code, data = safe_upgrade(app, "--skip-lint", "--resolved", SECOND)  # guarded: converges
        assert code == 0, data
    assert state_of(binds.default).current == (SECOND,)
    assert state_of(binds.logs).current == (SECOND,)
