"""The one skeleton of a server-side migration lock; each dialect says only its statements.

A server lock lives on a connection of its own (AUTOCOMMIT, so it is never "idle in
transaction") and dies with that session, so a killed migrator never leaves it behind. The
skeleton connects, prepares the session, waits for the lock, names the holder on a timeout,
checks the lock is still held (:meth:`.HeldLock.still_held`) and releases it;
:class:`ServerLock` subclasses (:mod:`.postgresql`, :mod:`.mysql`) give the statements.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from flask_safemigrate.database import connect
from flask_safemigrate.locks.common import HeldLock, lock_failed, timeout_error

__all__ = ["ServerLock", "hold"]


class ServerLock(ABC):
    """How one server dialect takes, checks and releases the lock called ``name``."""

    #: ``HeldLock.mechanism``: the server's name for the lock.
    mechanism: ClassVar[str]

    def __init__(self, url: URL, name: str) -> None:
        self.url = url
        self.name = name

    @property
    @abstractmethod
    def where(self) -> str:
        """How errors name the lock (the URL masked by the caller)."""

    @property
    def key(self) -> int | None:
        """A numeric key of the lock, where the server has one."""
        return None

    @abstractmethod
    def prepare(self, conn: Connection) -> None:
        """Label the session and keep server time limits off the wait and the idle hold."""

    @abstractmethod
    def acquire(self, conn: Connection, wait: float, poll: float) -> bool:
        """Take the lock within ``wait`` seconds; False when another session holds it."""

    @abstractmethod
    def holder(self, conn: Connection) -> dict[str, Any] | None:
        """Who holds it (for the timeout message), ``None`` when that cannot be seen."""

    @abstractmethod
    def end_hint(self, holder: dict[str, Any] | None) -> str:
        """How to end a stuck holder, in the server's words."""

    @abstractmethod
    def still_ours(self, conn: Connection) -> bool:
        """Whether this session still holds the lock."""

    @abstractmethod
    def session_id(self, conn: Connection) -> int | None:
        """The session's id as the server shows it (what a waiter names as the holder)."""

    def witness(self, conn: Connection) -> str | None:
        """:attr:`.HeldLock.witness` of the lock just taken on ``conn``; ``None``: none."""
        return None

    @abstractmethod
    def release(self, conn: Connection) -> None:
        """Give the lock back (a dead session already lost it)."""


@contextmanager
def hold(
    lock: ServerLock, *, wait: float, connect_timeout: float, retries: int, poll: float
) -> Iterator[HeldLock]:
    """Hold ``lock`` for the with-block; :class:`LockTimeout` (exit 5) after ``wait``."""
    url, where = lock.url, lock.where
    with connect(url, timeout=connect_timeout, retries=retries, purpose="lock") as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        lock.prepare(conn)
        started = time.monotonic()
        try:
            acquired = lock.acquire(conn, wait, poll)
        except sa.exc.DBAPIError as exc:
            raise lock_failed(url, where, exc) from None
        if not acquired:
            holder = lock.holder(conn)
            hint = f"wait for it to finish or raise SAFEMIGRATE_LOCK_WAIT; {lock.end_hint(holder)}"
            raise timeout_error(url, lock.name, wait, where, holder, hint)
        waited = time.monotonic() - started
        try:
            yield HeldLock(
                lock.name,
                lock.mechanism,
                where,
                waited,
                session_id=lock.session_id(conn),
                key=lock.key,
                probe=lambda: lock.still_ours(conn),
                witness=lock.witness(conn),
            )
        finally:
            # A dead connection already lost the lock with its session: nothing to release.
            with suppress(sa.exc.SQLAlchemyError):
                lock.release(conn)
