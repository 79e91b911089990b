"""SQLite: ``flock`` on ``<database file>.safemigrate-lock``; the kernel drops it with the
process. No server session exists, so this is not a :class:`.server.ServerLock`."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from flask_safemigrate.database import mask_url
from flask_safemigrate.errors import PreflightError
from flask_safemigrate.locks.common import HeldLock, parse_url, poll_until, timeout_error

__all__ = ["LOCK_FILE_SUFFIX", "file_lock", "sqlite_database_file", "sqlite_lock_path"]

#: Suffix of the SQLite lock file, next to the database file.
LOCK_FILE_SUFFIX = ".safemigrate-lock"


def sqlite_lock_path(url: str | URL) -> Path | None:
    """The lock file beside the SQLite database file; ``None`` for an in-memory database."""
    database = sqlite_database_file(url)
    return None if database is None else database.with_name(database.name + LOCK_FILE_SUFFIX)


@contextmanager
def file_lock(url: URL, name: str, wait: float, poll: float) -> Iterator[HeldLock]:
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
        raise timeout_error(
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
            probe=lambda: _same_file(path, fd),
        )
    finally:
        with suppress(OSError):
            _write_holder(fd, clear=True)
        os.close(fd)  # closing the last fd of the open file releases the flock


def _flock_within(path: Path, wait: float, poll: float) -> int | None:
    """An fd of ``path`` with an exclusive ``flock`` on it, or ``None`` after ``wait`` seconds."""
    got: list[int] = []

    def attempt() -> bool:
        fd = _try_flock(path)
        if fd is not None:
            got.append(fd)
        return fd is not None

    return got[0] if poll_until(attempt, wait, poll) else None


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
    url = parse_url(url)
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
