"""The migration lock: one migrator at a time per database and version table.

Deploys start many replicas at once and each runs ``safe-upgrade``; without a lock two of them
apply the same revision concurrently. Each backend gets the lock that dies with its holder, so a
killed deploy never leaves a lock behind that someone must clean up by hand:

- PostgreSQL: a session-level advisory lock on a connection of its own (AUTOCOMMIT, so it is
  never "idle in transaction"), taken by polling ``pg_try_advisory_lock``; the server drops it
  when the session ends.
- MySQL/MariaDB: ``GET_LOCK`` on a connection of its own; dropped with the connection.
- SQLite: ``flock`` on ``<database file>.safemigrate-lock``; the kernel drops it with the process.

A lock that dies with its connection can also die under a live holder (a server idle timeout,
a ``KILL``, a deleted lock file): :meth:`HeldLock.still_held` says so, and
:mod:`.lock_guard` keeps the connection busy and stops the upgrade when it answers False.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url

from flask_safemigrate import sessions
from flask_safemigrate.database import connect, dialect_of, mask_text, mask_url
from flask_safemigrate.errors import ConfigError, LockTimeout, PreflightError

#: Suffix of the SQLite lock file, next to the database file.
LOCK_FILE_SUFFIX = ".safemigrate-lock"
#: MySQL/MariaDB refuse ``GET_LOCK`` names longer than this.
MYSQL_NAME_LIMIT = 64
#: MariaDB/MySQL's largest ``wait_timeout`` on Linux (a year): the lock connection is idle
#: by design while revisions run, and a server default of minutes would end it and free the lock.
MYSQL_IDLE_SECONDS = 31_536_000


@dataclass(frozen=True)
class HeldLock:
    """What the with-block holds: enough to report it and to check it is still held.

    ``mechanism`` is ``pg_advisory_lock``, ``GET_LOCK``, ``file`` or ``none`` (in-memory SQLite,
    which no other process can see). ``key`` is the PostgreSQL advisory key, ``path`` the SQLite
    lock file, ``waited`` the seconds spent waiting for it. ``session_id`` is what a waiter's
    timeout names as the holder: the backend pid (PostgreSQL), the connection id (MySQL), or
    the process id (SQLite).
    """

    name: str
    mechanism: str
    where: str
    waited: float
    session_id: int | None = None
    key: int | None = None
    path: Path | None = None
    _probe: Callable[[], bool] = field(default=lambda: True, repr=False, compare=False)

    def still_held(self) -> bool:
        """False when the lock was lost (its connection died); call between long steps."""
        try:
            return self._probe()
        except (sa.exc.SQLAlchemyError, OSError):
            return False


def lock_name(
    url: str | URL, *, version_table: str = "alembic_version", schema: str | None = None
) -> str:
    """Stable name for (database, schema, version table): other schemas or databases, other locks.

    Host, port, user and password are left out on purpose: replicas that spell the same
    server differently (``localhost`` / ``127.0.0.1``, another login) must still share the lock.
    """
    parsed = _parse(url)
    dialect = dialect_of(parsed) or parsed.get_backend_name()
    database = parsed.database or ""
    if dialect == "sqlite":
        file = sqlite_database_file(parsed)
        database = str(file) if file is not None else ":memory:"
    elif dialect == "mysql" and schema:
        # A MySQL "schema" is a database: db=a + schema=b is the same table as db=b.
        database, schema = schema, None
    return f"safemigrate:{dialect}:{database}:{schema or ''}:{version_table}"


@contextmanager
def migration_lock(
    url: str | URL,
    *,
    name: str,
    wait: float,
    connect_timeout: float = 10,
    connect_retries: int = 0,
    poll: float = 0.2,
) -> Iterator[HeldLock]:
    """Hold the lock for the with-block; raise errors.LockTimeout (exit 5) after ``wait`` seconds.

    The lock is released when the block ends, also on an exception, and by the server or the
    kernel when the process dies. ``poll`` paces the tries on PostgreSQL (with jitter) and
    SQLite; MySQL's ``GET_LOCK`` wakes the waiter itself the moment the lock is free.
    """
    parsed = _parse(url)
    wait = max(0.0, float(wait))
    dialect = dialect_of(parsed)
    if dialect == "postgresql":
        lock_cm = _postgresql_lock(parsed, name, wait, connect_timeout, connect_retries, poll)
    elif dialect == "mysql":
        lock_cm = _mysql_lock(parsed, name, wait, connect_timeout, connect_retries)
    elif dialect == "sqlite":
        lock_cm = _sqlite_lock(parsed, name, wait, poll)
    else:
        raise ConfigError(
            f"no migration lock for the {parsed.get_backend_name()} backend",
            where=mask_url(parsed),
            hint="flask-safemigrate supports PostgreSQL, MySQL/MariaDB and SQLite",
        )
    with lock_cm as held:
        yield held


def advisory_key(name: str) -> int:
    """The signed 64-bit PostgreSQL advisory key of a lock name (stable across processes)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def mysql_lock_name(name: str) -> str:
    """``name`` if MySQL accepts it, else a stable hash of it within the 64-character limit."""
    if len(name) <= MYSQL_NAME_LIMIT:
        return name
    return "safemigrate:" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]


def sqlite_lock_path(url: str | URL) -> Path | None:
    """The lock file beside the SQLite database file; ``None`` for an in-memory database."""
    database = sqlite_database_file(url)
    return None if database is None else database.with_name(database.name + LOCK_FILE_SUFFIX)


# --------------------------------------------------------------------------- PostgreSQL


@contextmanager
def _postgresql_lock(
    url: URL, name: str, wait: float, connect_timeout: float, retries: int, poll: float
) -> Iterator[HeldLock]:
    """``pg_try_advisory_lock`` polled, never a blocking ``pg_advisory_lock``.

    A waiter blocked inside one long statement holds a snapshot for the whole wait, and
    ``CREATE INDEX CONCURRENTLY`` in the holder's migration waits for every snapshot older
    than its own: sixteen waiting replicas would stall the very migration they wait for (and
    a lock timeout there leaves an INVALID index). Short polls hold no snapshot between tries.
    """
    key = advisory_key(name)
    where = f"{mask_url(url)}, lock {name!r} (advisory key {key})"
    with connect(url, timeout=connect_timeout, retries=retries, purpose="lock") as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        _prepare_postgresql_session(conn)
        started = time.monotonic()
        try:
            acquired = _poll(
                lambda: bool(
                    conn.execute(
                        sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
                    ).scalar()
                ),
                wait,
                poll,
            )
        except sa.exc.DBAPIError as exc:
            raise _lock_failed(url, where, exc) from None
        if not acquired:
            holder = _postgresql_holder(conn, key)
            raise _timeout(
                url,
                name,
                wait,
                where,
                holder,
                "wait for it to finish or raise SAFEMIGRATE_LOCK_WAIT; if that session is stuck,"
                f" end it with SELECT pg_terminate_backend({holder['pid'] if holder else '<pid>'})",
            )
        waited = time.monotonic() - started

        def probe() -> bool:
            row = conn.execute(
                sa.text(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND objsubid = 1"
                    " AND classid::bigint = :classid AND objid::bigint = :objid"
                ),
                _key_parts(key),
            ).first()
            return row is not None

        try:
            session = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            yield HeldLock(
                name,
                "pg_advisory_lock",
                where,
                waited,
                session_id=int(session) if session is not None else None,
                key=key,
                _probe=probe,
            )
        finally:
            # A dead connection already lost the lock with its session: nothing to release.
            with suppress(sa.exc.SQLAlchemyError):
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def _poll(attempt: Callable[[], bool], wait: float, poll: float) -> bool:
    """``attempt()`` until it succeeds or ``wait`` seconds have passed (at least one try)."""
    deadline = time.monotonic() + wait
    while True:
        if attempt():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(remaining, poll * random.uniform(0.5, 1.5)))


def _prepare_postgresql_session(conn: Connection) -> None:
    """Name the session for ``pg_stat_activity`` and keep server timeouts off our wait."""
    label = sessions.label("lock")
    conn.execute(sa.text("SELECT set_config('application_name', :v, false)"), {"v": label})
    conn.execute(sa.text("SET statement_timeout = 0"))
    version = conn.execute(sa.text("SHOW server_version_num")).scalar()
    if int(str(version)) >= 140000:
        # A role default idle_session_timeout would end this idle session mid-migration and
        # silently free the lock while the upgrade still runs.
        conn.execute(sa.text("SET idle_session_timeout = 0"))


def _key_parts(key: int) -> dict[str, int]:
    """How ``pg_locks`` shows a bigint advisory key: high and low 32 bits, ``objsubid`` 1."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return {"classid": unsigned >> 32, "objid": unsigned & 0xFFFFFFFF}


def _postgresql_holder(conn: Connection, key: int) -> dict[str, Any] | None:
    try:
        row = (
            conn.execute(
                sa.text(
                    "SELECT a.pid, a.usename AS user, a.application_name,"
                    " host(a.client_addr) AS client_addr, a.backend_start, a.state"
                    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                    " AND l.database = (SELECT oid FROM pg_database"
                    "                   WHERE datname = current_database())"
                    " AND l.classid::bigint = :classid AND l.objid::bigint = :objid"
                ),
                _key_parts(key),
            )
            .mappings()
            .first()
        )
    except sa.exc.SQLAlchemyError:
        return None
    return None if row is None else _jsonable(row)


# --------------------------------------------------------------------------- MySQL / MariaDB


@contextmanager
def _mysql_lock(
    url: URL, name: str, wait: float, connect_timeout: float, retries: int
) -> Iterator[HeldLock]:
    server_name = mysql_lock_name(name)
    shown = name if server_name == name else f"{name} (as {server_name})"
    where = f"{mask_url(url)}, lock {shown!r}"
    with connect(url, timeout=connect_timeout, retries=retries, purpose="lock") as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        _prepare_mysql_session(conn)
        started = time.monotonic()
        try:
            got = conn.execute(
                sa.text("SELECT GET_LOCK(:name, :wait)"), {"name": server_name, "wait": wait}
            ).scalar()
        except sa.exc.DBAPIError as exc:
            raise _lock_failed(url, where, exc) from None
        if got != 1:  # 0: timed out; NULL: the wait was interrupted
            holder = _mysql_holder(conn, server_name)
            raise _timeout(
                url,
                name,
                wait,
                where,
                holder,
                "wait for it to finish or raise SAFEMIGRATE_LOCK_WAIT; if that connection is"
                f" stuck, end it with KILL {holder['id'] if holder else '<id>'}",
            )
        waited = time.monotonic() - started

        def probe() -> bool:
            holder_id = conn.execute(
                sa.text("SELECT IS_USED_LOCK(:name) = CONNECTION_ID()"), {"name": server_name}
            ).scalar()
            return bool(holder_id)

        try:
            session = conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar()
            yield HeldLock(
                name,
                "GET_LOCK",
                where,
                waited,
                session_id=int(session) if session is not None else None,
                _probe=probe,
            )
        finally:
            with suppress(sa.exc.SQLAlchemyError):
                conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": server_name})


def _prepare_mysql_session(conn: Connection) -> None:
    """Keep server time limits off the lock: the SELECT limit off ``GET_LOCK``'s wait, and
    ``wait_timeout`` (a server default, or ``init_command`` in the URL) off the idle session.

    The lock connection sits idle while revisions run; ending it frees ``GET_LOCK`` and lets
    a second migrator in (issue 13). :mod:`.lock_guard` also pings it every few seconds.
    """
    version = str(conn.execute(sa.text("SELECT VERSION()")).scalar() or "")
    variable = "max_statement_time" if "mariadb" in version.lower() else "max_execution_time"
    with suppress(sa.exc.DBAPIError):
        conn.execute(sa.text(f"SET SESSION {variable} = 0"))
    conn.execute(
        sa.text(
            f"SET SESSION wait_timeout = {MYSQL_IDLE_SECONDS},"
            f" interactive_timeout = {MYSQL_IDLE_SECONDS}"
        )
    )


def _mysql_holder(conn: Connection, server_name: str) -> dict[str, Any] | None:
    try:
        holder_id = conn.execute(
            sa.text("SELECT IS_USED_LOCK(:name)"), {"name": server_name}
        ).scalar()
        if holder_id is None:
            return None
        row = (
            conn.execute(
                sa.text(
                    "SELECT ID AS id, USER AS user, HOST AS host, DB AS db,"
                    " COMMAND AS command, TIME AS seconds, STATE AS state"
                    " FROM information_schema.PROCESSLIST WHERE ID = :id"
                ),
                {"id": holder_id},
            )
            .mappings()
            .first()
        )
    except sa.exc.SQLAlchemyError:
        return None
    # Without the PROCESS privilege other users' rows are hidden: the id still helps.
    return {"id": int(holder_id)} if row is None else _jsonable(row)


# --------------------------------------------------------------------------- SQLite


@contextmanager
def _sqlite_lock(url: URL, name: str, wait: float, poll: float) -> Iterator[HeldLock]:
    """``flock`` on the lock file, held through an fd that must stay the file at that path.

    Deleting or replacing the lock file would let a second migrator lock a new file at the
    same path while this one still runs: the probe compares the path's device and inode with
    the open fd's, so :meth:`HeldLock.still_held` turns False the moment that happens.
    """
    path = sqlite_lock_path(url)
    if path is None:
        # Nothing outside this process can open an in-memory database: nothing to exclude.
        yield HeldLock(name, "none", mask_url(url), 0.0)
        return
    where = f"lock file {path}"
    started = time.monotonic()
    try:
        fd = _flock_within(path, wait, max(0.01, poll))
    except OSError as exc:
        raise PreflightError(
            f"cannot take the migration lock: {exc.strerror or exc}",
            where=where,
            hint="the directory of the SQLite file must be writable, on a filesystem with flock",
            data={"database": mask_url(url), "lock": name, "lock_file": str(path)},
        ) from None
    if fd is None:
        holder = _read_holder(path)
        raise _timeout(
            url,
            name,
            wait,
            where,
            holder,
            "wait for it to finish or raise SAFEMIGRATE_LOCK_WAIT; the lock goes with the"
            f" holding process (find it with `fuser {path}`); deleting the file does not"
            " help: the holder stops with lock-lost",
        )
    try:
        waited = time.monotonic() - started
        _write_holder(fd)
        yield HeldLock(
            name,
            "file",
            where,
            waited,
            session_id=os.getpid(),
            path=path,
            _probe=lambda: _same_file(path, fd),
        )
    finally:
        with suppress(OSError):
            _write_holder(fd, clear=True)
        os.close(fd)  # closing the last fd of the open file releases the flock


def _flock_within(path: Path, wait: float, poll: float) -> int | None:
    """An fd of ``path`` with an exclusive ``flock`` on it, or ``None`` after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        fd = _try_flock(path)
        if fd is not None:
            return fd
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        time.sleep(min(remaining, poll * random.uniform(0.5, 1.5)))


def _try_flock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:
        os.close(fd)
        raise
    if not _same_file(path, fd):
        # Deleted or replaced between our open and our flock: the lock guards nothing.
        os.close(fd)
        return None
    return fd


def _same_file(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not deleted, not replaced)."""
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _write_holder(fd: int, *, clear: bool = False) -> None:
    """Record who holds the file lock in the lock file itself, for a waiter's timeout message.

    Best effort, through our own fd (never the path, which may name a successor's file):
    the lock is the ``flock``, never the file's content.
    """
    text = (
        ""
        if clear
        else json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
    )
    with suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode("utf-8"), 0)


def _read_holder(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data else None


def sqlite_database_file(url: str | URL) -> Path | None:
    """The database file of a SQLite URL (absolute), ``None`` when it lives in memory."""
    url = _parse(url)
    database = url.database or ""
    if database.startswith("file:"):  # a URI filename (``?uri=true``)
        if "mode=memory" in database or "memory" in str(url.query.get("mode", "")):
            return None
        database = database[len("file:") :].split("?", 1)[0]
        if database.startswith("//"):  # file://host/path or file:///path
            database = "/" + database[2:].split("/", 1)[-1]
    if database in ("", ":memory:"):
        return None
    return Path(database).expanduser().absolute()


# --------------------------------------------------------------------------- shared


def _parse(url: str | URL) -> URL:
    try:
        return make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise ConfigError(
            "cannot take the migration lock: the database URL cannot be parsed",
            hint="check SQLALCHEMY_DATABASE_URI",
        ) from None


def _jsonable(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        str(key): value.isoformat(timespec="seconds") if isinstance(value, datetime) else value
        for key, value in row.items()
        if value not in (None, "")
    }


def _describe(holder: Mapping[str, Any] | None) -> str:
    if not holder:
        return "held by another migrator (it could not be identified; it may just have finished)"
    return "held by " + ", ".join(f"{key} {value}" for key, value in holder.items())


def _timeout(
    url: URL,
    name: str,
    wait: float,
    where: str,
    holder: dict[str, Any] | None,
    hint: str,
) -> LockTimeout:
    return LockTimeout(
        mask_text(f"migration lock not obtained within {wait:g}s: {_describe(holder)}", url),
        where=mask_text(where, url),
        hint=f"another migrator is running on this database; {hint}",
        data={"database": mask_url(url), "lock": name, "waited": wait, "holder": holder},
    )


def _lock_failed(url: URL, where: str, exc: sa.exc.DBAPIError) -> PreflightError:
    text = str(exc.orig or exc).strip().splitlines()
    return PreflightError(
        "cannot take the migration lock: " + mask_text(text[0] if text else repr(exc), url),
        where=mask_text(where, url),
        hint="check that the database login may take locks (and see the error above)",
        data={"database": mask_url(url)},
    )
