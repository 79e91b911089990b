"""Sixteen ``flask db safe-upgrade`` processes at once on one database, as in a big deploy.

From an empty database and from a half-migrated one (seeded, then upgraded to revision 15 by
plain ``flask db upgrade``): every process exits 0 without error text, each revision is applied
exactly once (the ledger and the JSON reports agree), the database ends at head with the
seeded rows unchanged and each data step done once. The wall time of the whole stampede is
reported in the "reliability" section of the terminal summary (and printed, see ``-s``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.history import (
    HEAD,
    REVISIONS,
    SEEDED,
    Seed,
    actual_derived,
    expected_derived,
    revisions_between,
    seeded_checksums,
)
from tests.reliability.invariants import (
    check_ledger,
    current_revision,
    invalid_indexes,
    partial_backups,
)
from tests.reliability.lock_queue import wait_for_lock_waiter
from tests.reliability.processes import ERROR_TEXT, Finished, Workspace, start
from tests.reliability.upgrades import upgrade_in_process
from tests.support.timing import TIMING

pytestmark = TIMING

MIGRATORS = 16
#: Where the half-migrated case starts (plain ``flask db upgrade``, so no ledger rows).
HALFWAY = REVISIONS[14]
#: Bounds a wait that would otherwise last SAFEMIGRATE_LOCK_WAIT's default (600 s).
LOCK_WAIT = 240
_WAITED = re.compile(r"lock: acquired in (\d+\.\d+)s")


def stampede(work: Workspace) -> tuple[list[Finished], float]:
    """Start all migrators at once; returns their results and the wall time of the lot."""
    env = work.env(SM_LOCK_WAIT=str(LOCK_WAIT))
    began = time.monotonic()
    running = [
        start(work, "--format", "json", name=f"migrator{i:02d}", env=env) for i in range(MIGRATORS)
    ]
    results = [process.finish(timeout=LOCK_WAIT + 120) for process in running]
    return results, time.monotonic() - began


@pytest.mark.parametrize("start_at", ["empty", "half-migrated"])
def test_sixteen_migrators_apply_each_revision_once(
    start_at: str,
    database_url: str,
    migrations: Path,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    summary: Callable[[str], None],
) -> None:
    work = Workspace(database_url, migrations, tmp_path)
    seed = Seed({table: [] for table in SEEDED})
    since: str | None = None
    if start_at == "half-migrated":
        seed = request.getfixturevalue("seeded")
        upgrade_in_process(database_url, migrations, tmp_path / "seed-instance", HALFWAY)
        since = HALFWAY
    before = seeded_checksums(database_url) if since else None

    results, wall = stampede(work)
    waits = [float(m.group(1)) for r in results for m in _WAITED.finditer(r.stderr)]
    retries = sum(r.stderr.count("retry ") for r in results)
    summary(
        f"{MIGRATORS} migrators from {start_at}: wall {wall:.1f}s;"
        f" exit codes {sorted({r.code for r in results})};"
        f" longest lock wait {max(waits, default=0):.1f}s;"
        f" slowest process {max(r.seconds for r in results):.1f}s;"
        f" lock-timeout retries {retries}"
    )

    for result in results:
        assert result.code == 0, str(result)
        for text in ERROR_TEXT:
            assert text not in result.stdout + result.stderr, str(result)
    reports = [result.json() for result in results]
    assert all(r["ok"] is True and r["to"] == [HEAD] for r in reports), reports
    applied = [step["revision"] for r in reports for step in r["applied"]]
    assert sorted(applied) == sorted(revisions_between(since, HEAD)), applied
    assert sum(1 for r in reports if r["applied"]) == 1, "the plan was split between migrators"

    assert current_revision(database_url) == HEAD
    check_ledger(database_url, upto=HEAD, since=since)
    if before is not None:
        assert seeded_checksums(database_url) == before
    assert actual_derived(database_url) == expected_derived(seed)
    assert invalid_indexes(database_url) == [], "half-built indexes were taken for done"
    assert partial_backups(work.backups) == []


#: Adds orders.total_cents, then (after the "mid" point, where it is made to fail) an index.
FAILING = REVISIONS[9]


def test_a_migrator_that_waited_for_the_lock_honours_a_failure_recorded_meanwhile(
    database_url: str,
    migrations: Path,
    seeded: Seed,
    tmp_path: Path,
    summary: Callable[[str], None],
) -> None:
    """The lock holder fails a revision while another migrator waits for the lock.

    The waiter passed its pre-flight before the failure was recorded. Once it has the lock it
    must see what any later run sees: a failed migration that blocks until someone repairs
    it and says so with ``--resolved`` when it left something (MariaDB holds the column the
    failed revision added); one that left nothing was resolved at once, and the waiter goes on.
    """
    work = Workspace(database_url, migrations, tmp_path)
    # Forked like the others (tests/support/fork_server.py). Until d3c333f the holder had to be
    # a fresh interpreter on PostgreSQL: the waiter's pre-flight read pg_relation_size of
    # orders, which waited for the holder's ALTER TABLE lock until the failed revision rolled
    # back, so the waiter reached the lock queue only while the holder shut down, a race a
    # forked holder (no interpreter shutdown) lost. The size read now waits at most 1 s.
    holder = start(
        work,
        "--format",
        "json",
        name="holder",
        env=work.env(SM_PAUSE_AT=FAILING, SM_PAUSE="15", SM_FAIL_AT=FAILING, SM_LOCK_WAIT="60"),
    )
    deadline = time.monotonic() + 120
    while not work.marker(FAILING, "mid"):
        assert holder.process.poll() is None, str(holder.finish())
        assert time.monotonic() < deadline, "the holder never reached the failing revision"
        time.sleep(0.01)
    waiter = start(work, "--format", "json", name="waiter", env=work.env(SM_LOCK_WAIT="60"))
    while "lock: taking the migration lock" not in waiter.progress():
        assert waiter.process.poll() is None, str(waiter.finish())
        assert time.monotonic() < deadline, "the waiter never asked for the lock"
        time.sleep(0.01)
    assert holder.process.poll() is None, "the holder failed before the waiter was waiting"

    def both_running() -> None:
        assert holder.process.poll() is None, str(holder.finish())
        assert waiter.process.poll() is None, str(waiter.finish())

    # The line comes just before the waiter's lock call: once the server shows it waiting for
    # the lock, the holder fails (it would otherwise sit out the rest of its 15 s pause).
    wait_for_lock_waiter(database_url, both_running)
    assert holder.process.poll() is None, "the holder failed before the waiter was waiting"
    work.release(FAILING)

    failed, waited = holder.finish(), waiter.finish()
    summary(f"holder exited {failed.code}; the waiter exited {waited.code}")
    assert failed.code == 4, str(failed)
    # Lint warnings may come along; the error is the failed revision.
    errors = [p for p in failed.json()["problems"] if p["severity"] == "error"]
    assert [p["revision"] for p in errors] == [FAILING]
    if errors[0]["left"] == "nothing":
        # PostgreSQL, SQLite: the failure rolled back whole and was resolved at once (issue
        # #17): the waiter, whose run does not fail on purpose, applies it and goes on.
        assert waited.code == 0, str(waited)
        assert current_revision(database_url) == HEAD
        return
    assert waited.code == 3, (
        f"the waiter went on past {FAILING}, which failed while it waited, without"
        f" --resolved:\n{waited}"
    )
    problems = [p for p in waited.json()["problems"] if p["severity"] == "error"]
    assert [(p["check"], p["revision"]) for p in problems] == [("failed-migration", FAILING)]
    assert current_revision(database_url) == REVISIONS[REVISIONS.index(FAILING) - 1]
