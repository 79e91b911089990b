"""The migration lock on real SQLite files and PostgreSQL and MariaDB sessions, across threads
and processes."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from flask_safemigrate import lock_guard
from flask_safemigrate.errors import ExitCode, LockLost, LockTimeout
from flask_safemigrate.locks import (
    HeldLock,
    advisory_key,
    lock_name,
    migration_lock,
    mysql_lock_name,
    sqlite_lock_path,
)
from tests.support.apps import REPO_ROOT
from tests.support.databases import DbKind, scratch_database, server_url, sqlite_url
from tests.support.timing import TIMING

# The timing group holds the tests that wait for a lock, race threads or kill a holder; lock
# names, other targets and releases are checked at any speed.

SECRET = "lock-s3cr3t-77"


def name_of(url: str, **kwargs: str) -> str:
    return lock_name(url, **kwargs)


def locked_url(db_kind: DbKind, database_url: str) -> str:
    """PostgreSQL trusts every login here, so its URL can carry a password that must never show."""
    if db_kind == "postgresql":
        return make_url(database_url).set(password=SECRET).render_as_string(hide_password=False)
    return database_url


@contextmanager
def other_database(db_kind: DbKind, tmp_path: Path) -> Iterator[str]:
    if db_kind == "sqlite":
        yield sqlite_url(tmp_path / "other.db")
        return
    with scratch_database(db_kind, server_url(db_kind)) as url:
        yield url.render_as_string(hide_password=False)


# --------------------------------------------------------------------------- names


def test_lock_name_ignores_login_and_host_but_not_the_target() -> None:
    base = "postgresql+psycopg://app:pw@db-1:5432/shop"
    assert lock_name(base) == lock_name("postgresql+psycopg://other@127.0.0.1/shop")
    assert "pw" not in lock_name(base)
    names = {
        lock_name(base),
        lock_name(base, schema="tenant"),
        lock_name(base, version_table="other_version"),
        lock_name("postgresql+psycopg://app@db-1/warehouse"),
        lock_name("mysql+pymysql://app@db-1/shop"),
    }
    assert len(names) == 5
    # A MySQL schema *is* a database: both spellings name the same version table.
    assert lock_name("mysql+pymysql://u@h/a", schema="b") == lock_name("mysql+pymysql://u@h/b")


def test_sqlite_names_and_lock_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert sqlite_lock_path("sqlite:///app.db") == tmp_path / "app.db.safemigrate-lock"
    assert lock_name("sqlite:///app.db") == lock_name(f"sqlite:///{tmp_path}/app.db")
    assert sqlite_lock_path("sqlite://") is None
    assert sqlite_lock_path("sqlite:///:memory:") is None
    assert sqlite_lock_path("sqlite:///file:mem?mode=memory&uri=true") is None
    assert sqlite_lock_path(f"sqlite:///file:{tmp_path}/x.db?uri=true") == (
        tmp_path / "x.db.safemigrate-lock"
    )


def test_key_and_mysql_name_are_stable_and_bounded() -> None:
    key = advisory_key("safemigrate:postgresql:shop::alembic_version")
    assert key == advisory_key("safemigrate:postgresql:shop::alembic_version")
    assert -(2**63) <= key < 2**63
    assert key != advisory_key("safemigrate:postgresql:shop:tenant:alembic_version")
    short = "safemigrate:mysql:shop::alembic_version"
    assert mysql_lock_name(short) == short
    long = "safemigrate:mysql:" + "x" * 64 + "::alembic_version"
    assert len(mysql_lock_name(long)) <= 64
    assert mysql_lock_name(long) == mysql_lock_name(long)
    assert mysql_lock_name(long) != mysql_lock_name(long + "2")


def test_in_memory_sqlite_needs_no_lock() -> None:
    with (
        migration_lock("sqlite://", name="n", wait=0) as first,
        migration_lock("sqlite://", name="n", wait=0) as second,
    ):
        assert first.mechanism == second.mechanism == "none"


# --------------------------------------------------------------------------- one holder at a time


@TIMING
def test_second_holder_waits_until_the_first_releases(db_kind: DbKind, database_url: str) -> None:
    name = name_of(database_url)
    acquired = threading.Event()
    got_at: list[float] = []
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with migration_lock(database_url, name=name, wait=20, poll=0.02) as held:
                got_at.append(time.monotonic())
                assert held.waited > 0
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    with migration_lock(database_url, name=name, wait=5) as first:
        assert first.still_held()
        acquired.set()
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert not got_at, "the second holder got the lock while the first held it"
        released_at = time.monotonic()
    thread.join(30)
    assert not errors
    assert len(got_at) == 1
    assert got_at[0] >= released_at


@TIMING
def test_holders_never_overlap(db_kind: DbKind, database_url: str) -> None:
    name = name_of(database_url)
    spans: list[tuple[float, float]] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with migration_lock(database_url, name=name, wait=60, poll=0.01):
                start = time.monotonic()
                time.sleep(0.05)
                spans.append((start, time.monotonic()))
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert not errors
    assert len(spans) == 6
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end


@TIMING
@pytest.mark.parametrize("wait", [0, 0.3])
def test_short_wait_times_out_naming_the_holder(
    db_kind: DbKind, database_url: str, wait: float
) -> None:
    url = locked_url(db_kind, database_url)
    name = name_of(url)
    with migration_lock(url, name=name, wait=5) as held:
        with pytest.raises(LockTimeout) as info, migration_lock(url, name=name, wait=wait):
            pytest.fail("got a lock that another holder has")
        assert held.still_held()
    error = info.value
    assert error.exit_code == ExitCode.LOCK_TIMEOUT
    assert int(error.exit_code) == 5
    shown = str(error.to_dict())
    assert SECRET not in shown
    assert error.data["lock"] == name
    assert "another migrator" in (error.hint or "")
    holder = error.data["holder"]
    assert holder is not None
    if db_kind == "postgresql":
        assert holder["pid"] == held.session_id
        assert f"pid {os.getpid()}" in holder["application_name"]
        assert f"pg_terminate_backend({held.session_id})" in (error.hint or "")
        assert "***" in (error.where or "")
    elif db_kind == "mysql":
        assert holder["id"] == held.session_id
        assert f"KILL {held.session_id}" in (error.hint or "")
    else:
        assert holder["pid"] == os.getpid()
        assert str(held.path) in (error.where or "")
    assert f"{holder.get('pid', holder.get('id'))}" in error.message


@pytest.mark.parametrize("differs", ["database", "schema", "version_table"])
def test_other_targets_do_not_block(
    db_kind: DbKind, database_url: str, tmp_path: Path, differs: str
) -> None:
    if db_kind == "sqlite" and differs != "database":
        # One SQLite file has one writer: its lock is per file, see the test below.
        other_url, other = database_url, name_of(database_url, **{differs: "other"})
        with (
            migration_lock(database_url, name=name_of(database_url), wait=5),
            pytest.raises(LockTimeout),
            migration_lock(other_url, name=other, wait=0),
        ):
            pass
        return
    with other_database(db_kind, tmp_path) as second_db:
        if differs == "database":
            other_url, other = second_db, name_of(second_db)
        else:
            other_url, other = database_url, name_of(database_url, **{differs: "other"})
        with (
            migration_lock(database_url, name=name_of(database_url), wait=5) as first,
            migration_lock(other_url, name=other, wait=0) as second,
        ):
            assert first.still_held()
            assert second.still_held()
            assert first.name != second.name


def test_released_on_exception(db_kind: DbKind, database_url: str) -> None:
    name = name_of(database_url)
    with pytest.raises(RuntimeError), migration_lock(database_url, name=name, wait=5):
        raise RuntimeError("the upgrade failed")
    with migration_lock(database_url, name=name, wait=0) as held:
        assert held.still_held()


@TIMING
@pytest.mark.parametrize(
    "db_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def test_lost_session_is_reported_and_exit_is_quiet(db_kind: DbKind, database_url: str) -> None:
    name = name_of(database_url)
    engine = sa.create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with migration_lock(database_url, name=name, wait=5) as held:
            with engine.connect() as conn:
                if db_kind == "postgresql":
                    conn.execute(sa.text(f"SELECT pg_terminate_backend({held.session_id})"))
                else:
                    conn.execute(sa.text(f"KILL {held.session_id}"))
            deadline = time.monotonic() + 10  # the server ends the session asynchronously
            while held.still_held() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not held.still_held()
        with migration_lock(database_url, name=name, wait=0) as again:
            assert again.still_held()
    finally:
        engine.dispose()


@TIMING
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_deleted_or_replaced_sqlite_lock_file_is_a_lost_lock(tmp_path: Path, how: str) -> None:
    """Issue 13 item 14: a second migrator can lock a new file at the path; the first must know."""
    url = sqlite_url(tmp_path / "app.db")
    path = sqlite_lock_path(url)
    assert path is not None
    with ExitStack() as stack:
        first = stack.enter_context(migration_lock(url, name=name_of(url), wait=0))
        assert first.still_held()
        path.unlink()
        if how == "replaced":
            path.write_text("")
        assert not first.still_held()
        second = stack.enter_context(migration_lock(url, name=name_of(url), wait=0))
        assert second.still_held()
        assert not first.still_held()
        holder = json.loads(path.read_text())
        assert holder["pid"] == os.getpid()
    with migration_lock(url, name=name_of(url), wait=0) as third:
        assert third.still_held()


# --------------------------------------------------------------------------- a killed holder

HOLDER = textwrap.dedent(
    """
    import sys, time
    from flask_safemigrate.locks import lock_name, migration_lock

    url = sys.argv[1]
    with migration_lock(url, name=lock_name(url), wait=10) as held:
        print("locked", held.session_id, flush=True)
        time.sleep(120)
    """
)


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The child's first stdout line, or a failure naming its stderr."""
    lines: list[str] = []
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0]:
        process.kill()
        _, err = process.communicate(timeout=10)
        pytest.fail(f"the lock holder did not start: {err}")
    return lines[0]


@TIMING
def test_released_when_the_holding_process_is_killed(db_kind: DbKind, database_url: str) -> None:
    name = name_of(database_url)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        word, session = read_line(child, 30).split()
        assert word == "locked"
        with pytest.raises(LockTimeout) as info, migration_lock(database_url, name=name, wait=0):
            pass
        holder = info.value.data["holder"]
        assert str(holder.get("pid", holder.get("id"))) == session
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)
    with migration_lock(database_url, name=name, wait=30, poll=0.02) as held:
        assert isinstance(held, HeldLock)
        assert held.still_held()


def test_a_start_check_right_after_a_held_probe_asks_nothing_else_it_probes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Between revisions the commit check has just probed: the next start check trusts it.

    A commit check always probes; a start check probes when the last probe that found the
    lock held is older than FRESH_SECONDS; a lost lock is never trusted.
    """
    answers: list[bool] = []
    asked: list[bool] = []

    def probe() -> bool:
        asked.append(answers[0])
        return answers.pop(0)

    guard = lock_guard.Guard(HeldLock("m", "pg_advisory_lock", "db", 0.0, probe=probe), None, 1.0)
    clock = [100.0]
    monkeypatch.setattr(lock_guard.time, "monotonic", lambda: clock[0])

    answers[:] = [True, True]
    guard.check(revision="r1", point="start")  # nothing probed yet: asks
    guard.check(revision="r1", point="commit")  # a commit always asks
    clock[0] += lock_guard.FRESH_SECONDS / 2
    guard.check(revision="r2", point="start")  # the commit's probe is fresh: trusted
    assert (len(asked), answers) == (2, [])

    clock[0] += lock_guard.FRESH_SECONDS
    answers[:] = [False]
    with pytest.raises(LockLost):
        guard.check(revision="r2", point="start")  # stale: asks, and the lock is gone
    with pytest.raises(LockLost):
        guard.check(revision="r2", point="start")  # lost stays lost, fresh or not
    assert len(asked) == 3


# --------------------------------------------------------------------------- the witness


def _witness(url: str, witness: str | None) -> bool:
    """The witness as another session of the database (the migration's) evaluates it."""
    assert witness is not None
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return bool(conn.exec_driver_sql(f"SELECT {witness}").scalar())
    finally:
        engine.dispose()


@TIMING
@pytest.mark.parametrize("db_kind", [pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_the_witness_is_true_exactly_while_the_lock_session_holds_the_lock(
    db_kind: DbKind, database_url: str
) -> None:
    """What safe-upgrade's ledger insert returns instead of a probe on the lock's connection.

    True while held; false once the lock's session is gone, also when a successor holds the
    lock (its session, whatever pid it got, lacks the first holder's token), and false after
    a release. Each holder's witness speaks only for itself.
    """
    name = name_of(database_url)
    engine = sa.create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with migration_lock(database_url, name=name, wait=5) as first:
            assert first.witness is not None and _witness(database_url, first.witness)
            with engine.connect() as conn:
                conn.execute(sa.text(f"SELECT pg_terminate_backend({first.session_id})"))
            deadline = time.monotonic() + 10  # the server ends the session asynchronously
            while _witness(database_url, first.witness) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _witness(database_url, first.witness)
            with migration_lock(database_url, name=name, wait=5) as second:
                assert second.witness is not None and second.witness != first.witness
                assert _witness(database_url, second.witness)
                assert not _witness(database_url, first.witness)
            assert not _witness(database_url, second.witness)
        with migration_lock(database_url, name=name, wait=0) as third:
            assert _witness(database_url, third.witness)
        assert not _witness(database_url, third.witness)
        with engine.connect() as conn:  # the token went with the lock: no advisory lock left
            left = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar()
        assert left == 0
    finally:
        engine.dispose()


def test_a_witness_that_says_held_counts_as_a_probe_anything_else_leaves_it_to_check() -> None:
    asked: list[bool] = []
    answers: list[bool] = []

    def probe() -> bool:
        asked.append(answers[0])
        return answers.pop(0)

    held = HeldLock("m", "pg_advisory_lock", "db", 0.0, probe=probe, witness="EXISTS (x)")
    guard = lock_guard.Guard(held, None, 1.0)
    assert guard.witness() == "EXISTS (x)"
    assert guard.witnessed(True)
    guard.check(revision="r2", point="start")  # fresh: the witness stood for a probe
    assert asked == []
    assert not guard.witnessed(False) and not guard.witnessed(None)

    answers[:] = [True]  # the witness said no, the lock's connection says held
    guard.check(revision="r2", point="commit")
    guard.witness_disagreed()
    assert guard.witness() is None  # from now on the connection is asked
    assert asked == [True]

    lost = lock_guard.Guard(HeldLock("m", "pg_advisory_lock", "db", 0.0, probe=probe), None, 1.0)
    answers[:] = [False]
    assert not lost.probe()  # a loss seen (the keepalive)
    assert lost.witness() is None and not lost.witnessed(True)
    with pytest.raises(LockLost):
        lost.check(revision="r3", point="commit")
