"""A multi-database revision that waits too long for a lock names the blocking session, as a
single-database one does (README: "the report names the session it waited for")."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.apps import AppTracker
from tests.support.databases import connection_to
from tests.support.multidb import (
    FIRST,
    FIRST_SCRIPT,
    SECOND,
    Binds,
    multidb_app,
    safe_upgrade,
    state_of,
)
from tests.support.revisions import multidb_script, write_revision
from tests.support.timing import TIMING

pytestmark = TIMING

#: ``SECOND``'s logs half alters ``events``, which the blocker below has read (ACCESS SHARE).
BLOCKED_SECOND = multidb_script(
    SECOND,
    FIRST,
    """
    op.execute("SELECT 1")
    ---
    op.execute("SELECT 1")
    """,
    """
    op.execute("ALTER TABLE events ADD COLUMN note text")
    ---
    op.execute("ALTER TABLE events DROP COLUMN note")
    """,
    "a column on events",
)


@pytest.mark.parametrize(
    "binds",
    [pytest.param(("sqlite", "postgresql"), marks=pytest.mark.postgresql, id="sqlite+postgresql")],
    indirect=True,
)
def test_a_lock_timeout_on_the_postgresql_bind_names_the_blocker(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    config = {"SAFEMIGRATE_LOCK_TIMEOUT": 1, "SAFEMIGRATE_LOCK_RETRIES": 0}
    app = multidb_app(binds, tmp_path, track_app, scripts=[FIRST_SCRIPT], config=config)
    code, data = safe_upgrade(app, "--skip-lint", "--no-verify")
    assert code == 0, data
    write_revision(tmp_path / "migrations", BLOCKED_SECOND)
    app = multidb_app(binds, tmp_path, track_app, scripts=[], config=config)
    with connection_to(binds.logs) as blocker:
        blocker.execute(sa.text("SET application_name = 'sm-events-reader'"))
        blocker.execute(sa.text("SELECT count(*) FROM events"))  # ACCESS SHARE until rollback
        pid = blocker.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        code, data = safe_upgrade(app, "--skip-lint", "--no-verify")
        blocker.rollback()
    assert code == 4, data
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "migration-failed"
    assert (problem["bind"], problem["revision"]) == ("logs", SECOND)
    (named,) = problem["blockers"]
    assert named.startswith(f"pid {pid} "), named
    assert "application sm-events-reader" in named and "on events" in named
    assert f"blocked by pid {pid} " in problem["message"]
    assert "pg_terminate_backend" in problem["help"]
    assert problem["waited"] and problem["attempts"] == 1
    # Both binds rolled back (one transaction per bind until the end): both still at FIRST.
    assert state_of(binds.default).current == (FIRST,) == state_of(binds.logs).current
