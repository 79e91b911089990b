"""A lost migration lock (issue 13, item 1 and 14b): the holder stops, nothing runs twice.

Two real ``flask db safe-upgrade`` processes on one database. The first (A) is made to sit in
revision ``r2`` until the test lets it go (a marker file); meanwhile its lock is taken from it
the way it happens in production: its lock session is terminated (``pg_terminate_backend``,
MariaDB ``KILL``, found by the lock key of this test's own scratch database), or the lock file
of a SQLite database is deleted. A second migrator (B) then takes the lock. Required: A stops
with exit 5 and a ``lock-lost`` problem, B runs every revision A did not commit, and no
revision runs in two processes at once (each process writes ``<revision>.<pid>.start|end``
marker files, outside any transaction) or commits twice (the ``runs`` table and the ledger hold
each once).

With a server idle timeout shorter than the revision (``wait_timeout=3`` through the URL's
``init_command`` on MariaDB, ``idle_session_timeout`` on PostgreSQL) nobody kills anything:
the lock must survive, so A finishes with exit 0 and B finds nothing to do.
"""

from __future__ import annotations

import os
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from flask_safemigrate.locks import advisory_key, lock_name, mysql_lock_name, sqlite_lock_path
from tests.reliability.lock_queue import wait_for_lock_waiter
from tests.reliability.processes import Running
from tests.support import fork_server as forked
from tests.support.apps import REPO_ROOT
from tests.support.cli import FLASK
from tests.support.databases import SERVER_KINDS, DbKind, nullpool_engine
from tests.support.revisions import write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import ledger_rows, versions_of

pytestmark = TIMING

REVISIONS = ("r1000000lock", "r2000000lock", "r3000000lock")
SLOW = REVISIONS[1]
#: A sits in the slow revision (SQL sleeps on the servers: the session stays busy) until the
#: test drops the ``release`` marker, once what it waits for has happened; at most this long.
PAUSE = 60.0

APP_MODULE = """
import os

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate

db = SQLAlchemy()
sa.Table(
    "runs",
    db.metadata,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("revision", sa.String(length=32), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("id", name="pk_runs"),
)


def create_app():
    app = Flask(__name__, instance_path=os.environ["SM_INSTANCE"])
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["SM_DATABASE_URL"]
    app.config["SAFEMIGRATE_BACKUP"] = False
    app.config["SAFEMIGRATE_LOCK_WAIT"] = 90
    app.config["SAFEMIGRATE_LOCK_RETRIES"] = 6
    db.init_app(app)
    SafeMigrate(app, db, directory=os.environ["SM_MIGRATIONS"])
    return app
"""

#: Every revision records the process that ran it (a data step: inside its transaction) and
#: drops start/end markers on disk (outside it); the slow one waits in the middle.
BODY = """
def _mark(point):
    folder = os.environ["SM_MARKERS"]
    name = f"{revision}.{os.getpid()}.{point}"
    with open(os.path.join(folder, name), "w") as handle:
        handle.write(repr(time.time()))


def upgrade():
    _mark("start")
    bind = op.get_bind()
    bind.execute(
        sa.text("INSERT INTO runs (revision, pid) VALUES (:r, :p)"),
        {"r": revision, "p": os.getpid()},
    )
    pause = float(os.environ.get("SM_PAUSE", "0")) if revision == os.environ.get("SM_SLOW") else 0
    if pause:
        _mark("mid")
        # Busy until the test drops the release file (at most SM_PAUSE seconds).
        release = os.path.join(os.environ["SM_MARKERS"], "release")
        deadline = time.monotonic() + pause
        while not os.path.exists(release) and time.monotonic() < deadline:
            if bind.dialect.name == "postgresql":
                bind.execute(sa.text("SELECT pg_sleep(0.05)"))
            elif bind.dialect.name == "mysql":
                bind.execute(sa.text("SELECT SLEEP(0.05)"))
            else:
                time.sleep(0.05)
    _mark("end")


def downgrade():
    raise NotImplementedError("the lock-loss history only moves forward")
"""


def revision_source(index: int) -> str:
    rev = REVISIONS[index]
    down = repr(REVISIONS[index - 1]) if index else "None"
    create = ""
    if index == 0:
        create = textwrap.dedent(
            """
            def _create():
                op.create_table(
                    "runs",
                    sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
                    sa.Column("revision", sa.String(length=32), nullable=False),
                    sa.Column("pid", sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint("id", name="pk_runs"),
                    if_not_exists=True,
                )
            """
        )
    body = (
        BODY.replace('    _mark("start")\n', '    _mark("start")\n    _create()\n')
        if index == 0
        else BODY
    )
    return (
        f'"""lock-loss step {index + 1}\n\nRevision ID: {rev}\n"""\n'
        "import os\nimport time\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {rev!r}\ndown_revision = {down}\n"
        "branch_labels = None\ndepends_on = None\n" + create + "\n" + body
    )


def prepare(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The app module, ``flask db init`` and the three revisions; returns the base env."""
    (tmp_path / "lock_app.py").write_text(APP_MODULE)
    migrations = tmp_path / "migrations"
    markers = tmp_path / "markers"
    markers.mkdir()
    env = {
        **os.environ,
        "SM_INSTANCE": str(tmp_path / "instance"),
        "SM_DATABASE_URL": database_url,
        "SM_MIGRATIONS": str(migrations),
        "SM_MARKERS": str(markers),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)]),
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
    }
    init = forked.run(
        [str(FLASK), "--app", "lock_app:create_app", "db", "init", "-d", str(migrations)],
        env=env,
        cwd=tmp_path,
        outputs=tmp_path / "runs",
        name="init",
    )
    assert init.returncode == 0, init.stderr
    for index in range(len(REVISIONS)):
        write_revision(migrations, revision_source(index))
    return env


def start(tmp_path: Path, env: dict[str, str], name: str) -> Running:
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    process = forked.fork_server().spawn(
        [str(FLASK), "--app", "lock_app:create_app", "db", "safe-upgrade", "--format", "json"],
        env=env,
        cwd=tmp_path,
        stdout=out,
        stderr=err,
    )
    return Running(process, out, err, time.monotonic())


def release(markers: Path) -> None:
    """Let A out of the slow revision (the ``release`` marker its body polls for)."""
    (markers / "release").write_text("")


def running(what: str, *runs: Running) -> None:
    for run in runs:
        assert run.process.poll() is None, f"ended before {what}:\n{run.finish()}"


def wait_until(what: str, moment: Callable[[], bool], *runs: Running, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not moment():
        running(what, *runs)
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g}s"
        time.sleep(0.02)


def spans(markers: Path) -> dict[str, list[tuple[int, float, float | None]]]:
    """Per revision: (pid, start, end or None) of every process that started it."""
    found: dict[str, list[tuple[int, float, float | None]]] = {}
    for path in sorted(markers.glob("*.start")):
        revision, pid, _ = path.name.split(".")
        end = markers / f"{revision}.{pid}.end"
        found.setdefault(revision, []).append(
            (
                int(pid),
                float(path.read_text()),
                float(end.read_text()) if end.exists() else None,
            )
        )
    return found


def assert_never_concurrent(markers: Path, a_pid: int, a_exit: float) -> None:
    """No revision ran in two processes at once: B starts a revision A ran after A let go.

    A lets go of a revision at its end marker (it then rolls back or commits and stops) or
    at the latest when its process ended.
    """
    for revision, runs in spans(markers).items():
        by_a = [s for s in runs if s[0] == a_pid]
        others = [s for s in runs if s[0] != a_pid]
        for _, a_start, a_end in by_a:
            released = a_end if a_end is not None else a_exit
            for pid, b_start, _ in others:
                assert b_start >= released or b_start < a_start, (
                    f"{revision} ran in pid {pid} from {b_start:.3f} while pid {a_pid} ran it"
                    f" ({a_start:.3f} to {released:.3f})"
                )


def runs_per_revision(url: str) -> Counter[str]:
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            return Counter(conn.execute(sa.text("SELECT revision FROM runs")).scalars())
    finally:
        engine.dispose()


def assert_each_revision_once(url: str) -> None:
    assert versions_of(url) == [REVISIONS[-1]]
    assert runs_per_revision(url) == Counter(REVISIONS), "a revision's data step ran twice"
    upgrades = Counter(
        r["revision"] for r in ledger_rows(url) if r["direction"] == "upgrade" and r["success"]
    )
    assert upgrades == Counter(REVISIONS), upgrades
    failures = [r for r in ledger_rows(url) if not r["success"]]
    assert failures == [], "a lost lock must not leave a failure that blocks the next run"


# --------------------------------------------------------------------------- cutting the lock


def cut_lock(db_kind: DbKind, url: str) -> str:
    """Take the lock from its holder; returns what was done. Only this test's own lock."""
    name = lock_name(url)
    if db_kind == "sqlite":
        path = sqlite_lock_path(url)
        assert path is not None and path.exists()
        path.unlink()
        return f"deleted {path.name}"
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            if db_kind == "postgresql":
                unsigned = advisory_key(name) & 0xFFFFFFFFFFFFFFFF
                pids = list(
                    conn.execute(
                        sa.text(
                            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                            " AND objsubid = 1 AND classid::bigint = :c AND objid::bigint = :o"
                            " AND database = (SELECT oid FROM pg_database"
                            "                 WHERE datname = current_database())"
                        ),
                        {"c": unsigned >> 32, "o": unsigned & 0xFFFFFFFF},
                    ).scalars()
                )
                assert len(pids) == 1, pids
                assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
                return f"pg_terminate_backend({pids[0]})"
            holder = conn.execute(
                sa.text("SELECT IS_USED_LOCK(:n)"), {"n": mysql_lock_name(name)}
            ).scalar()
            assert holder is not None
            conn.execute(sa.text(f"KILL {int(holder)}"))
            return f"KILL {holder}"
    finally:
        engine.dispose()


def held_by_other(db_kind: DbKind, url: str, a_pid: int) -> bool:
    """Whether someone other than A holds the lock now (B took it: the loss is real)."""
    if db_kind == "sqlite":
        path = sqlite_lock_path(url)
        assert path is not None
        try:
            text = path.read_text()
        except FileNotFoundError:
            return False
        return '"pid"' in text and f'"pid": {a_pid},' not in text
    return False  # the servers: B's "acquired" progress line says it


def test_lost_lock_stops_the_holder_and_nothing_runs_twice(
    db_kind: DbKind, database_url: str, tmp_path: Path, summary: Callable[[str], None]
) -> None:
    env = prepare(tmp_path, database_url)
    markers = Path(env["SM_MARKERS"])
    a = start(tmp_path, {**env, "SM_SLOW": SLOW, "SM_PAUSE": str(PAUSE)}, "a")
    wait_until(
        "A in the slow revision",
        lambda: (markers / f"{SLOW}.{a.process.pid}.mid").exists(),
        a,
    )
    cut_at = time.monotonic()
    how = cut_lock(db_kind, database_url)
    b = start(tmp_path, env, "b")
    wait_until(
        "B taking the lock",
        lambda: (
            "lock: acquired" in b.progress() or held_by_other(db_kind, database_url, a.process.pid)
        ),
        b,
    )
    took = time.monotonic() - cut_at
    assert a.process.poll() is None, "A ended before B took the lock: nothing was tested"
    release(markers)
    first, second = a.finish(timeout=120), b.finish(timeout=180)
    a_exit = time.monotonic()
    summary(
        f"{db_kind}: {how}; B took the lock {took:.1f}s later; A exit {first.code} after"
        f" {first.seconds:.1f}s, B exit {second.code} after {second.seconds:.1f}s"
    )

    assert first.code == 5, str(first)
    report = first.json()
    assert [p["check"] for p in report["problems"]] == ["lock-lost"], report
    problem = report["problems"][0]
    assert "lock" in problem["message"] and "lost" in problem["message"]
    assert SLOW in problem["message"], problem["message"]
    assert problem["help"] and "safe-upgrade" in problem["help"]
    assert "Traceback" not in first.stdout + first.stderr
    assert second.code == 0, str(second)
    assert second.json()["current"] == [REVISIONS[-1]]

    assert_never_concurrent(markers, a.process.pid, a_exit)
    assert_each_revision_once(database_url)
    committed_by_a = [s["revision"] for s in report["applied"]]
    assert committed_by_a == ([REVISIONS[0], SLOW] if db_kind == "mysql" else [REVISIONS[0]]), (
        "PostgreSQL/SQLite roll the running revision back; MariaDB commits it and stops"
    )


def idle_timeout_url(db_kind: DbKind, url: str) -> str:
    parsed = make_url(url)
    if db_kind == "mysql":
        query = {"init_command": "SET SESSION wait_timeout=3"}
    else:
        query = {"options": "-c idle_session_timeout=3000"}
    return parsed.update_query_dict(query).render_as_string(hide_password=False)


@pytest.mark.parametrize(
    "db_kind",
    [pytest.param(kind, marks=getattr(pytest.mark, kind)) for kind in SERVER_KINDS],
    indirect=True,  # SQLite has no server idle timeout: its lock is a file
)
def test_a_server_idle_timeout_does_not_take_the_lock(
    db_kind: DbKind, database_url: str, tmp_path: Path, summary: Callable[[str], None]
) -> None:
    url = idle_timeout_url(db_kind, database_url)
    env = prepare(tmp_path, url)
    markers = Path(env["SM_MARKERS"])
    a = start(tmp_path, {**env, "SM_SLOW": SLOW, "SM_PAUSE": str(PAUSE)}, "a")
    wait_until(
        "A in the slow revision",
        lambda: (markers / f"{SLOW}.{a.process.pid}.mid").exists(),
        a,
    )
    time.sleep(4)  # longer than the idle timeout: on the old code the lock is gone by now
    b = start(tmp_path, env, "b")
    # B asks for the lock while A is still in the revision (the line comes just before the
    # lock call: a moment for it to be queued), then A may finish the revision.
    wait_until("B asking for the lock", lambda: "lock: taking" in b.progress(), a, b)
    wait_for_lock_waiter(url, lambda: running("B waiting for the lock", a, b))
    assert a.process.poll() is None, "A ended before B asked for the lock: nothing was tested"
    release(markers)
    first, second = a.finish(timeout=120), b.finish(timeout=180)
    summary(
        f"{db_kind} idle timeout 3s: A exit {first.code} in"
        f" {first.seconds:.1f}s, B exit {second.code} in {second.seconds:.1f}s"
    )
    assert first.code == 0, str(first)
    assert [s["revision"] for s in first.json()["applied"]] == list(REVISIONS)
    assert second.code == 0, str(second)
    assert second.json()["applied"] == []
    assert_never_concurrent(markers, a.process.pid, time.monotonic())
    assert_each_revision_once(database_url)
