"""SIGKILL ``flask db safe-upgrade`` at chosen moments, run it again, and check nothing was lost.

The database is seeded at revision 4 of a 30-revision history, then a real ``flask`` process
upgrades it and is killed from a fixed seed's schedule: inside a revision (in a pause after
part of its work), as the next revision starts (the one before committed), right after a
revision printed "ok" (its ledger row and version are written but maybe not committed),
while it holds the migration lock before the upgrade, and while it writes the backup.
Then safe-upgrade runs again (following the tool's ``--resolved`` instruction if it asks)
and must reach head with the seeded rows unchanged, each revision's data step done exactly
once, one valid revision in the version table, a ledger without duplicates or orphans, no
lock left held and no half-written backup left behind.

By default a few kills per database run; ``pytest --slow`` runs the full schedule.
"""

from __future__ import annotations

import random
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.reliability.history import (
    HEAD,
    PAUSABLE,
    PENDING,
    REVISIONS,
    SEED_REVISION,
    SERVER_ATTACHMENTS,
    SQLITE_ATTACHMENTS,
    Seed,
    actual_derived,
    expected_derived,
    revisions_between,
    seeded_checksums,
)
from tests.reliability.invariants import (
    check_complete_backups,
    check_ledger,
    current_revision,
    invalid_indexes,
    partial_backups,
)
from tests.reliability.processes import (
    ERROR_TEXT,
    Finished,
    Workspace,
    kill_when,
    run,
    start,
    wait_for_orphans,
)
from tests.support.databases import DbKind, nullpool_engine
from tests.support.timing import TIMING, TIMING_PER_DATABASE

SEED = 20240607
QUICK_KILLS = 4
SLOW_KILLS = 25
KINDS = ("inside", "between", "lock", "backup", "commit")
#: A held lock shows as exit 5 after this many seconds (the default, 600, would hang).
LOCK_WAIT = 5
#: The pause at the "mid" point of the revision an "inside" kill targets.
PAUSE = 0.6
_OK = re.compile(r"\.\.\. ok \d")


@dataclass(frozen=True)
class Kill:
    """One kill of the schedule: what moment, which revision, how long after the moment."""

    number: int
    kind: str
    revision: str | None = None
    delay: float = 0.0

    @property
    def id(self) -> str:
        at = f"-r{REVISIONS.index(self.revision) + 1:02d}" if self.revision else ""
        return f"k{self.number:02d}-{self.kind}{at}"


def schedule(count: int) -> list[Kill]:
    """The first ``count`` kills; each kind in turn, the revision and delay from the seed."""
    pausable = [rev for rev in PAUSABLE if rev in PENDING]
    kills = []
    for number in range(count):
        rng = random.Random(f"{SEED}-{number}")
        kind = KINDS[number % len(KINDS)]
        if kind == "inside":
            kills.append(Kill(number, kind, rng.choice(pausable), rng.uniform(0.0, PAUSE / 2)))
        elif kind == "between":
            kills.append(Kill(number, kind, rng.choice(PENDING[1:])))
        elif kind == "commit":
            kills.append(Kill(number, kind, rng.choice(PENDING)))
        elif kind == "backup":  # a delay into SQLite's 40 MB copy (see delay_of)
            kills.append(Kill(number, kind, delay=rng.uniform(0.0, 0.04)))
        else:
            kills.append(Kill(number, kind))
    return kills


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kill" in metafunc.fixturenames:
        count = SLOW_KILLS if metafunc.config.getoption("--slow") else QUICK_KILLS
        kills = schedule(count)
        metafunc.parametrize("kill", kills, ids=[k.id for k in kills])


# --------------------------------------------------------------------------- the moments


def backup_setting(kill: Kill) -> dict[str, str]:
    """``lock`` runs without a backup (so the kill lands before the upgrade, not in the
    backup); ``backup`` runs with one on every database; the rest keep the product default
    (on for SQLite, off for the servers)."""
    if kill.kind == "lock":
        return {"SM_BACKUP": "0"}
    if kill.kind == "backup":
        return {"SM_BACKUP": "1"}
    return {}


def delay_of(kill: Kill, db_kind: DbKind) -> float:
    """How long after its moment the kill comes: a dump of the servers' small seed can be
    over in 20 ms, so there the kill comes at once, while the dump tool starts."""
    if kill.kind == "backup" and db_kind != "sqlite":
        return 0.0
    return kill.delay


def moment_of(kill: Kill, work: Workspace, progress: Callable[[], str]) -> Callable[[], bool]:
    if kill.kind == "inside":
        assert kill.revision is not None
        revision = kill.revision
        return lambda: work.marker(revision, "mid")
    if kill.kind == "between":
        assert kill.revision is not None
        revision = kill.revision
        return lambda: work.marker(revision, "start")
    if kill.kind == "commit":
        assert kill.revision is not None
        wanted = PENDING.index(kill.revision) + 1
        return lambda: len(_OK.findall(progress())) >= wanted
    if kill.kind == "lock":
        return lambda: "lock: acquired" in progress()
    assert kill.kind == "backup"
    return lambda: bool(partial_backups(work.backups))


def check_landing(kill: Kill, work: Workspace, at: str | None) -> str:
    """The kill hit the moment it was meant for; returns a description for the summary."""
    seen = work.markers_seen()
    if kill.kind == "inside":
        assert kill.revision is not None
        assert not work.marker(kill.revision, "end"), "the revision finished before the kill"
        assert at == REVISIONS[REVISIONS.index(kill.revision) - 1], at
    elif kill.kind in ("lock", "backup"):
        assert not any(name.endswith(".start") for name in seen), sorted(seen)
        assert at == SEED_REVISION, at
    if kill.kind == "backup":
        assert partial_backups(work.backups), "the backup was complete before the kill"
    landed = "base" if at is None else f"r{REVISIONS.index(at) + 1:02d}"
    return f"killed at {kill.kind}, database left at {landed}"


# --------------------------------------------------------------------------- the test


@pytest.fixture
def sqlite_attachments(request: pytest.FixtureRequest) -> int:
    """SQLite's 40 MB seed (:data:`SQLITE_ATTACHMENTS`) is for the kills whose moment depends
    on how long the work before the first revision takes (the backup copy, the lock); a kill
    inside, between or after revisions takes the servers' seed, as it does on the servers."""
    kill: Kill | None = request.node.callspec.params.get("kill")
    if kill is None or kill.kind in ("backup", "lock"):
        return SQLITE_ATTACHMENTS
    return SERVER_ATTACHMENTS


def resume(work: Workspace, env: dict[str, str]) -> tuple[Finished, list[str]]:
    """Run safe-upgrade again; if it refuses with failed-migration, follow its instruction."""
    result = run(work, "--format", "json", name="resume", env=env)
    if result.code != 3:
        return result, []
    failed = [
        str(p["revision"]) for p in result.json()["problems"] if p["check"] == "failed-migration"
    ]
    if not failed:
        return result, []
    args = [arg for rev in failed for arg in ("--resolved", rev)]
    return run(work, "--format", "json", *args, name="resume-resolved", env=env), failed


# Each kill works on its own database and process; it competes only with kills on the same server.
@TIMING_PER_DATABASE
def test_kill_then_resume_reaches_head_and_loses_nothing(
    kill: Kill,
    db_kind: DbKind,
    database_url: str,
    migrations: Path,
    seeded: Seed,
    tmp_path: Path,
    summary: Callable[[str], None],
) -> None:
    work = Workspace(database_url, migrations, tmp_path)
    before = seeded_checksums(database_url)
    settings = {"SM_LOCK_WAIT": str(LOCK_WAIT), **backup_setting(kill)}
    pause = {"SM_PAUSE_AT": kill.revision or "", "SM_PAUSE": str(PAUSE)}

    killed = start(work, "--format", "json", name="killed", env=work.env(**settings, **pause))
    moment = moment_of(kill, work, killed.progress)
    orphans = kill_when(killed, moment, after=delay_of(kill, db_kind))
    wait_for_orphans(orphans)

    # What the kill left: one valid revision, a ledger that matches it, the seed untouched.
    at = current_revision(database_url)
    landing = check_landing(kill, work, at)
    check_ledger(database_url, upto=at)
    assert seeded_checksums(database_url) == before

    result, resolved = resume(work, work.env(**settings))
    summary(f"{landing}; the resume exited {result.code} after {result.seconds:.1f}s")
    assert result.code != 5, f"the killed run left the migration lock held:\n{result}"
    assert result.code == 0, str(result)
    data = result.json()
    assert data["ok"] is True and data["stage"] == "done", data
    assert data["to"] == [HEAD]
    assert [step["revision"] for step in data["applied"]] == revisions_between(at, HEAD)
    for text in ERROR_TEXT:
        assert text not in result.stderr, result.stderr

    assert current_revision(database_url) == HEAD
    check_ledger(database_url, upto=HEAD)
    assert seeded_checksums(database_url) == before
    assert actual_derived(database_url) == expected_derived(seeded)
    assert invalid_indexes(database_url) == []

    leftovers = partial_backups(work.backups)
    assert leftovers == [], f"half-written backups left in {work.backups}: {leftovers}"
    if work.backups.is_dir():
        check_complete_backups(work.backups)
    assert not resolved, f"after a kill the tool asked for --resolved {resolved}"
    shutil.rmtree(work.backups, ignore_errors=True)  # checked; 40 MB each on SQLite


# --------------------------------------------------------------------------- PostgreSQL only

#: The first pending revision: adds customers.email_domain, then (in an autocommit block, as
#: the create-index-not-concurrently rule asks) CREATE INDEX CONCURRENTLY on it.
CONCURRENT_INDEX_REVISION = REVISIONS[4]


def _concurrent_index_builder(monitor: sa.Connection) -> int | None:
    """The backend running CREATE INDEX CONCURRENTLY, once it waits on a lock."""
    return monitor.execute(
        sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND query ILIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'"
        )
    ).scalar()


@TIMING
@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_kill_during_a_concurrent_index_build_leaves_no_invalid_index(
    database_url: str,
    migrations: Path,
    seeded: Seed,
    tmp_path: Path,
    summary: Callable[[str], None],
) -> None:
    """A CREATE INDEX CONCURRENTLY that dies half-way leaves an INVALID index behind.

    An open transaction elsewhere (here: a REPEATABLE READ snapshot, as a long report holds)
    makes the build wait in its last phase; the migrator is killed there. Its backend does
    not notice the dead client while it waits, gives up at SAFEMIGRATE_LOCK_TIMEOUT, and the
    index stays in the catalog marked invalid. The resume must not count it as done.
    """
    work = Workspace(database_url, migrations, tmp_path)
    before = seeded_checksums(database_url)
    engine = nullpool_engine(database_url)
    settings = {"SM_LOCK_WAIT": str(LOCK_WAIT), "SM_LOCK_TIMEOUT": "1"}
    try:
        with engine.connect() as monitor, engine.connect() as reader:
            monitor.execution_options(isolation_level="AUTOCOMMIT")
            reader.execution_options(isolation_level="REPEATABLE READ")
            reader.execute(sa.text("SELECT 1"))  # the snapshot the build has to wait out

            killed = start(work, "--format", "json", name="killed", env=work.env(**settings))
            builder: list[int] = []

            def waiting() -> bool:
                pid = _concurrent_index_builder(monitor)
                builder.extend([pid] if pid else [])
                return bool(pid)

            kill_when(killed, waiting, poll=0.05)
            deadline = time.monotonic() + 60
            while monitor.execute(
                sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": builder[0]}
            ).first():
                assert time.monotonic() < deadline, "the orphaned index build never ended"
                time.sleep(0.1)
            left = invalid_indexes(database_url)
            reader.rollback()
            assert work.marker(CONCURRENT_INDEX_REVISION, "mid")
            assert not work.marker(CONCURRENT_INDEX_REVISION, "end")
            assert current_revision(database_url) == SEED_REVISION
            assert left == ["ix_customers_email_domain"], left

            result, resolved = resume(work, work.env(SM_LOCK_WAIT=str(LOCK_WAIT)))
            assert result.code == 0, str(result)
            assert not resolved, resolved
            assert current_revision(database_url) == HEAD
            check_ledger(database_url, upto=HEAD)
            assert seeded_checksums(database_url) == before
            remaining = invalid_indexes(database_url)
    finally:
        engine.dispose()
    summary(f"killed during CREATE INDEX CONCURRENTLY; invalid indexes after resume: {remaining}")
    assert remaining == [], (
        f"the resume reached head but left INVALID indexes {remaining}: the guard counted the"
        " half-built index as present and skipped the build"
    )
