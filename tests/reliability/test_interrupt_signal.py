"""A real SIGINT (Ctrl-C) to a running ``flask db safe-upgrade`` process (issue #17 item 3).

The process is paused inside a revision (after its guarded ``ADD COLUMN``), then gets SIGINT
from outside, as a terminal sends it. It must exit 130, say where the database stands (read
again after the interruption, not "was not read") and whether the interrupted revision left
anything: nothing on PostgreSQL and SQLite (its transaction rolled back), the ``ADD COLUMN``
on MariaDB (DDL commits itself). As for a failed revision (issue #17 item 2): what left
nothing is not recorded, so a plain re-run reaches head; the MariaDB attempt, whose DDL
stayed, is recorded as failed, so the next run stops (exit 3, ``failed-migration``) until
``--resolved`` says someone looked, after which it reaches head.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.reliability.history import HEAD, PAUSABLE, PENDING, SEED_REVISION, Seed
from tests.reliability.invariants import current_revision
from tests.reliability.processes import Workspace, run, start
from tests.support.databases import DbKind
from tests.support.timing import TIMING

pytestmark = TIMING

#: The first pending revision with a pause point: a guarded ADD COLUMN runs before it.
INTERRUPTED = next(rev for rev in PAUSABLE if rev in PENDING)


def test_sigint_mid_revision_exits_130_and_says_where_the_database_stands(
    db_kind: DbKind, database_url: str, migrations: Path, seeded: Seed, tmp_path: Path
) -> None:
    assert seeded is not None
    work = Workspace(database_url, migrations, tmp_path)
    env = work.env(SM_PAUSE_AT=INTERRUPTED, SM_PAUSE="30", SM_BACKUP="0")
    running = start(work, "--format", "json", name="interrupted", env=env)
    deadline = time.monotonic() + 120
    while not work.marker(INTERRUPTED, "mid"):
        assert running.process.poll() is None, running.finish()
        assert time.monotonic() < deadline, "the revision never reached its pause"
        time.sleep(0.05)
    running.process.send_signal(signal.SIGINT)
    finished = running.finish(timeout=120)

    assert finished.code == 130, str(finished)
    data = finished.json()
    assert data["interrupted"] is True and data["ok"] is False
    assert data["current"] == [SEED_REVISION], data
    assert current_revision(database_url) == SEED_REVISION
    (problem,) = data["problems"]
    assert problem["revision"] == INTERRUPTED
    error = next(line for line in finished.stderr.splitlines() if line.startswith("Error:"))
    assert f"while applying {INTERRUPTED}; the database is at {SEED_REVISION};" in error, error
    assert "not read" not in error and "not read" not in data["summary"], data["summary"]
    if db_kind == "mysql":
        assert problem["left"] == "statements", problem
        assert "ADD COLUMN email_domain" in " ".join(problem["stays"]), problem
        assert "MariaDB/MySQL cannot roll back DDL" in error and "PostgreSQL" not in error
        assert problem["recorded"] is True, problem
        assert "recorded as failed in the ledger: the next run waits for --resolved" in error
        # The help of any failed revision that left statements, word for word.
        assert problem["help"] == (
            f"undo (or finish) the statements of {INTERRUPTED} listed above by hand, then"
            f" run `flask db safe-upgrade --resolved {INTERRUPTED}`"
        ), problem["help"]
        assert f"--resolved {INTERRUPTED}" in data["summary"], data["summary"]

        blocked = run(work, "--format", "json", name="blocked", env=work.env(SM_BACKUP="0"))
        assert blocked.code == 3, str(blocked)
        (failed,) = [p for p in blocked.json()["problems"] if p["check"] == "failed-migration"]
        assert failed["revision"] == INTERRUPTED and failed["left"] == "statements", failed
        assert "interrupted (Ctrl-C) while it ran" in failed["message"], failed
        assert f"--resolved {INTERRUPTED}" in failed["help"], failed
        assert current_revision(database_url) == SEED_REVISION  # nothing retried over it
        resume = ("--resolved", INTERRUPTED)
    else:
        assert problem["left"] == "nothing", problem
        assert problem["recorded"] is False, problem
        assert "Its transaction rolled back: nothing of it was left behind." in error, error
        assert "nothing was recorded as failed" in error, error
        assert "MariaDB" not in error
        resume = ()

    again = run(work, *resume, "--format", "json", name="again", env=work.env(SM_BACKUP="0"))
    assert again.code == 0, str(again)
    assert current_revision(database_url) == HEAD
