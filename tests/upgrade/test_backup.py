"""The pre-upgrade backup: private, restorable, and all-or-nothing, on the three databases.

Real databases and the real dump tools throughout; a few tests put a tiny fake ``pg_dump`` /
``mariadb-dump`` first on ``PATH`` to see the exact argv and environment a tool receives.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from flask_safemigrate.backup import backup_database
from flask_safemigrate.errors import BackupFailed, ExitCode, PreflightError
from tests.support.apps import MakeApp
from tests.support.cli import invoke_json
from tests.support.databases import (
    DbKind,
    nullpool_engine,
    scratch_database,
    server_url,
    sqlite_url,
)
from tests.support.timing import TIMING
from tests.upgrade.histories import models, prepare, seed_legacy_table, versions_of

# The timing group holds only the tests that bound a wait (a writer racing the copy, a locked
# file, a hung dump tool); the rest dump and restore a database of their own at any speed.

SECRET = "s3cr3t p@ss;$(true)"

SUFFIXES = {"sqlite": ".sqlite3", "postgresql": ".dump", "mysql": ".sql"}


def fill(url: str) -> None:
    """Two related tables with awkward values (quotes, accents, bytes, NULL)."""
    metadata = sa.MetaData()
    users = sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(120), nullable=False, unique=True),
        sa.Column("avatar", sa.LargeBinary, nullable=True),
    )
    items = sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(80)),
    )
    engine = nullpool_engine(url)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(
                users.insert(),
                [
                    {"id": 1, "email": "ann@example.com", "avatar": b"\x00\xff\x10"},
                    {"id": 2, "email": "o'brien@example.com", "avatar": None},
                ],
            )
            conn.execute(
                items.insert(),
                [
                    {"id": 1, "user_id": 1, "name": "crème brûlée"},
                    {"id": 2, "user_id": 2, "name": 'say "hi"; DROP'},
                ],
            )
    finally:
        engine.dispose()


def snapshot(url: str | URL) -> dict[str, list[tuple[Any, ...]]]:
    """Every table and its rows, in primary key order."""
    engine = nullpool_engine(url)
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return {
                name: [tuple(row) for row in conn.execute(sa.select(table).order_by(*table.c))]
                for name, table in sorted(metadata.tables.items())
            }
    finally:
        engine.dispose()


def client_args(url: URL) -> list[str]:
    return [f"--host={url.host or '127.0.0.1'}", f"--port={url.port or 0}"]


@contextmanager
def restored(db_kind: DbKind, backup: Path, tmp_path: Path) -> Iterator[str]:
    """A fresh database holding what ``backup`` restores to, with its URL."""
    if db_kind == "sqlite":
        copy = tmp_path / "restored.db"
        shutil.copyfile(backup, copy)
        yield sqlite_url(copy)
        return
    with scratch_database(db_kind, server_url(db_kind)) as url:
        if db_kind == "postgresql":
            command = [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                *client_args(url),
                f"--username={url.username}",
                f"--dbname={url.database}",
                str(backup),
            ]
            subprocess.run(command, check=True, capture_output=True, timeout=120)
        else:
            client = shutil.which("mariadb") or shutil.which("mysql")
            assert client is not None, "the mariadb/mysql client is needed to restore"
            with backup.open("rb") as dump:
                subprocess.run(
                    [
                        client,
                        "--protocol=tcp",
                        *client_args(url),
                        f"--user={url.username}",
                        str(url.database),
                    ],
                    stdin=dump,
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
        yield url.render_as_string(hide_password=False)


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def assert_private(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- real backups


def test_backup_is_private_and_restorable(
    db_kind: DbKind, database_url: str, tmp_path: Path
) -> None:
    fill(database_url)
    expected = snapshot(database_url)
    directory = tmp_path / "deploy" / "backups"

    path = backup_database(database_url, directory, label="at-4f2a9c1b")

    assert path.parent == directory
    assert path.name.endswith(f"-at-4f2a9c1b{SUFFIXES[db_kind]}")
    assert_private(path)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert names_in(directory) == [path.name], "a temporary file was left behind"
    with restored(db_kind, path, tmp_path) as url:
        assert snapshot(url) == expected


def test_backup_names_sort_by_time_and_never_collide(
    db_kind: DbKind, database_url: str, tmp_path: Path
) -> None:
    fill(database_url)
    paths = [backup_database(database_url, tmp_path, label="x") for _ in range(3)]
    assert len(set(paths)) == 3
    assert sorted(paths) == paths
    stem = "test" if db_kind == "sqlite" else make_url(database_url).database
    assert all(p.name.startswith(f"{stem}-20") for p in paths)


@TIMING
def test_sqlite_backup_while_another_connection_writes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "app.db")
    fill(url)
    expected = snapshot(url)
    writer = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO items (id, user_id, name) VALUES (3, 1, 'uncommitted')")
        path = backup_database(url, tmp_path / "backups", label="live", timeout=5)
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert_private(path)
    with restored("sqlite", path, tmp_path) as copy:
        assert snapshot(copy) == expected  # a consistent copy: committed rows only


@TIMING
def test_sqlite_backup_gives_up_on_a_locked_database(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "app.db")
    fill(url)
    holder = sqlite3.connect(tmp_path / "app.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(BackupFailed) as info:
            backup_database(url, tmp_path / "backups", label="x", timeout=0.5)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in info.value.message
    assert names_in(tmp_path / "backups") == []


@pytest.mark.parametrize(
    "db_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def test_failing_dump_reports_the_tool_error_and_leaves_nothing(
    db_kind: DbKind, database_url: str, tmp_path: Path
) -> None:
    missing = make_url(database_url).set(database="sm_missing_database")
    if db_kind == "postgresql":  # trusts every login; MariaDB would refuse this one first
        missing = missing.set(password=SECRET)
    with pytest.raises(BackupFailed) as info:
        backup_database(missing, tmp_path / "backups", label="x")
    error = info.value
    assert error.exit_code == ExitCode.PREFLIGHT
    assert isinstance(error, PreflightError)
    assert "sm_missing_database" in error.message
    assert "exited with status" in error.message
    assert "\n" not in error.message
    assert SECRET not in json.dumps(error.to_dict())
    assert names_in(tmp_path / "backups") == []


# --------------------------------------------------------------------------- refusals


def test_missing_sqlite_file_and_memory_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BackupFailed, match="in-memory"):
        backup_database("sqlite://", tmp_path / "b", label="x")
    with pytest.raises(BackupFailed, match="does not exist"):
        backup_database(sqlite_url(tmp_path / "nope.db"), tmp_path / "b", label="x")
    assert not (tmp_path / "b").exists()
    assert not (tmp_path / "nope.db").exists()


def test_unwritable_directory_fails_and_writes_nothing(
    db_kind: DbKind, database_url: str, tmp_path: Path
) -> None:
    fill(database_url)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the backup directory should be")
    for directory in (blocker, blocker / "backups"):
        with pytest.raises(BackupFailed) as info:
            backup_database(database_url, directory, label="x")
        assert info.value.exit_code == 3
        assert "backup directory" in info.value.message
        assert "SAFEMIGRATE_BACKUP_DIR" in (info.value.hint or "")
    assert blocker.read_text() == "a file where the backup directory should be"
    left = ["not-a-directory", "test.db"] if db_kind == "sqlite" else ["not-a-directory"]
    assert names_in(tmp_path) == left


@pytest.mark.parametrize(
    ("url", "tools"),
    [
        (f"postgresql+psycopg://app:{SECRET}@db.example/shop", "pg_dump"),
        (f"mysql+pymysql://app:{SECRET}@db.example/shop", "mariadb-dump or mysqldump"),
    ],
    ids=["postgresql", "mysql"],
)
def test_missing_tool_is_a_clear_error(url: str, tools: str, tmp_path: Path) -> None:
    with pytest.raises(BackupFailed) as info:
        backup_database(url, tmp_path / "b", label="x", environ={"PATH": ""})
    assert info.value.message == f"backup failed: {tools} not found on PATH"
    assert "--no-backup" in (info.value.hint or "")
    assert SECRET not in json.dumps(info.value.to_dict())
    assert not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- what the tool sees

FAKE_TOOL = """\
#!{python}
import json, os, sys
with open(os.environ["FAKE_RECORD"], "w") as out:
    json.dump({{"argv": sys.argv, "env": dict(os.environ)}}, out)
if os.environ.get("FAKE_MODE") == "fail":
    sys.stdout.write("-- half a dump")
    sys.stdout.flush()
    secret = os.environ.get("PGPASSWORD") or os.environ.get("MYSQL_PWD")
    sys.stderr.write(f"error: password authentication failed ({{secret}})\\nsecond line\\n")
    sys.exit(2)
target = [a[len("--file="):] for a in sys.argv if a.startswith("--file=")]
mode = os.environ.get("FAKE_MODE")
if mode == "hang":  # a helper of its own, then wait forever, like a dump stuck on a lock
    import subprocess, time
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(os.environ["FAKE_PIDS"], "w") as out:
        out.write(f"{{os.getpid()}} {{helper.pid}}")
    if target:
        with open(target[0], "w") as out:
            out.write("PGDMP half")
    else:
        sys.stdout.write("-- MariaDB dump half")
        sys.stdout.flush()
    time.sleep(600)
if mode == "lie":  # exit 0 after 13 bytes
    if target:
        with open(target[0], "w") as out:
            out.write("PGDMP-13bytes")
    else:
        sys.stdout.write("-- fake dump\\n")
    sys.exit(0)
if target:
    with open(target[0], "w") as out:
        out.write(PG_FAKE)
else:
    sys.stdout.write(MYSQL_FAKE)
"""
#: What the fake tools write by default: the smallest thing the plausibility check accepts.
PG_FAKE = "PGDMP fake ENCODING"
MYSQL_FAKE = "-- MariaDB dump fake\n-- Dump completed\n"


def fake_tool(tmp_path: Path, name: str) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    source = FAKE_TOOL.format(python=sys.executable)
    source = source.replace("PG_FAKE", repr(PG_FAKE)).replace("MYSQL_FAKE", repr(MYSQL_FAKE))
    tool.write_text(source)
    tool.chmod(0o755)
    return bin_dir


def secret_url(kind: str) -> URL:
    driver = "postgresql+psycopg" if kind == "postgresql" else "mysql+pymysql"
    return URL.create(
        driver, username="app", password=SECRET, host="db.example", port=6543, database="shop"
    )


@pytest.mark.parametrize("tool", ["pg_dump", "mariadb-dump", "mysqldump"])
def test_password_goes_through_the_environment_only(tool: str, tmp_path: Path) -> None:
    kind = "postgresql" if tool == "pg_dump" else "mysql"
    url = secret_url(kind)
    if kind == "postgresql":
        url = url.update_query_dict({"sslmode": "require"})
    record = tmp_path / "record.json"
    environ = {
        "PATH": str(fake_tool(tmp_path, tool)),
        "FAKE_RECORD": str(record),
        "MYSQL_PWD": "inherited-and-ignored",
    }

    path = backup_database(url, tmp_path / "backups", label="x", environ=environ)

    seen = json.loads(record.read_text())
    argv, env = seen["argv"], seen["env"]
    assert not any(SECRET in arg or "p@ss" in arg for arg in argv)
    assert_private(path)
    if kind == "postgresql":
        assert env["PGPASSWORD"] == SECRET
        assert env["PGSSLMODE"] == "require"
        for arg in ("--format=custom", "--no-password", "--host=db.example", "--port=6543"):
            assert arg in argv
        assert "--username=app" in argv
        assert "--dbname=shop" in argv
        assert path.read_text() == PG_FAKE
    else:
        assert env["MYSQL_PWD"] == SECRET
        assert argv[1] == "--no-defaults"
        for arg in ("--single-transaction", "--routines", "--triggers", "--user=app"):
            assert arg in argv
        assert "--host=db.example" in argv
        assert argv[-2:] == ["--", "shop"]
        assert path.read_text() == MYSQL_FAKE


def test_mysql_without_password_drops_an_inherited_one(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    environ = {
        "PATH": str(fake_tool(tmp_path, "mariadb-dump")),
        "FAKE_RECORD": str(record),
        "MYSQL_PWD": "not-the-app's",
    }
    backup_database("mysql+pymysql://root@db.example/shop", tmp_path, label="x", environ=environ)
    assert "MYSQL_PWD" not in json.loads(record.read_text())["env"]


@pytest.mark.parametrize("tool", ["pg_dump", "mariadb-dump"])
def test_tool_failure_is_masked_and_leaves_no_partial_file(tool: str, tmp_path: Path) -> None:
    url = secret_url("postgresql" if tool == "pg_dump" else "mysql")
    environ = {
        "PATH": str(fake_tool(tmp_path, tool)),
        "FAKE_RECORD": str(tmp_path / "record.json"),
        "FAKE_MODE": "fail",
    }
    with pytest.raises(BackupFailed) as info:
        backup_database(url, tmp_path / "backups", label="x", environ=environ)
    error = info.value
    shown = json.dumps(error.to_dict())
    assert SECRET not in shown
    assert error.message == (
        f"backup failed: {tool} exited with status 2:"
        " error: password authentication failed (***); second line"
    )
    assert "***" in (error.where or "")
    assert names_in(tmp_path / "backups") == []


def test_label_and_name_cannot_escape_the_directory(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "app.db")
    fill(url)
    path = backup_database(url, tmp_path / "b", label="../../etc/passwd x")
    assert path.parent == tmp_path / "b"
    assert "/" not in path.name.removeprefix("app-")
    assert path.name.endswith("-etc-passwd-x.sqlite3")


# --------------------------------------------------------------------------- hung or lying tools


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its parent, itself killed) is dead.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[1].startswith("Z"))


@TIMING
@pytest.mark.parametrize("tool", ["pg_dump", "mariadb-dump"])
def test_a_hung_tool_is_killed_with_its_helpers(tool: str, tmp_path: Path) -> None:
    """Issue #13 item 12: the whole process group goes, the partial file too; exit 3."""
    url = secret_url("postgresql" if tool == "pg_dump" else "mysql")
    environ = {
        "PATH": str(fake_tool(tmp_path, tool)),
        "FAKE_RECORD": str(tmp_path / "record.json"),
        "FAKE_PIDS": str(tmp_path / "pids"),
        "FAKE_MODE": "hang",
    }
    with pytest.raises(BackupFailed) as info:
        backup_database(url, tmp_path / "backups", label="x", environ=environ, tool_timeout=2)
    assert info.value.exit_code == ExitCode.PREFLIGHT
    assert info.value.message == (
        f"backup failed: {tool} did not finish within 2s (SAFEMIGRATE_BACKUP_TIMEOUT); it and"
        " its child processes were killed and the partial file removed"
    )
    assert SECRET not in json.dumps(info.value.to_dict())
    pids = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 2
    # SIGKILL is delivered asynchronously: give the kernel a moment to finish the job.
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids), pids
    assert names_in(tmp_path / "backups") == []


@pytest.mark.parametrize("tool", ["pg_dump", "mariadb-dump"])
def test_a_tool_that_exits_0_after_13_bytes_is_refused(tool: str, tmp_path: Path) -> None:
    url = secret_url("postgresql" if tool == "pg_dump" else "mysql")
    environ = {
        "PATH": str(fake_tool(tmp_path, tool)),
        "FAKE_RECORD": str(tmp_path / "record.json"),
        "FAKE_MODE": "lie",
    }
    with pytest.raises(BackupFailed) as info:
        backup_database(url, tmp_path / "backups", label="x", environ=environ)
    assert info.value.exit_code == ExitCode.PREFLIGHT
    assert info.value.message.startswith(
        f"backup failed: {tool} exited 0 but wrote no plausible dump (13 bytes): no "
    )
    assert names_in(tmp_path / "backups") == []


SERVER_KINDS = pytest.mark.parametrize(
    "db_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
    indirect=True,
)


@TIMING
@SERVER_KINDS
@pytest.mark.parametrize("mode", ["hang", "lie"])
def test_safe_upgrade_stops_before_upgrading_on_a_hung_or_lying_tool(
    db_kind: DbKind,
    database_url: str,
    make_app: MakeApp,
    mode: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real app, database and CLI, the dump tool replaced: exit 3, nothing changed."""
    tool = "pg_dump" if db_kind == "postgresql" else "mariadb-dump"
    bin_dir = fake_tool(tmp_path, tool)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RECORD", str(tmp_path / "record.json"))
    monkeypatch.setenv("FAKE_PIDS", str(tmp_path / "pids"))
    monkeypatch.setenv("FAKE_MODE", mode)
    backups = tmp_path / "backups"
    config = {"SAFEMIGRATE_BACKUP_DIR": str(backups), "SAFEMIGRATE_BACKUP_TIMEOUT": 2}
    app = make_app(database_url, models=models(), config=config)
    prepare(app)
    seed_legacy_table(database_url)  # an empty database is not backed up
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--backup", "--format", "json")
    assert code == 3, data
    assert data["stage"] == "backup" and data["applied"] == [] and data["backup"] is None
    (problem,) = data["problems"]
    expected = "did not finish within 2s" if mode == "hang" else "wrote no plausible dump"
    assert expected in problem["message"], problem
    assert versions_of(database_url) == []
    assert names_in(backups) == []
