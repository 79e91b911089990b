"""Keep the migration lock while revisions run, fence out a successor, stop when it is lost.

The lock of :mod:`.locks` lives on a connection (or a file) of its own, which can die under a
holder that is still migrating: a server idle timeout, a ``KILL``, a proxy, a deleted lock
file. A second migrator then takes the lock and would run the revision the first is running.
Three defences, used together by safe-upgrade (issue 13, item 1):

- **keepalive**: a thread asks :meth:`HeldLock.still_held` every :data:`KEEPALIVE_SECONDS`,
  so the lock connection is never idle long enough for a timeout, and a loss is seen (and
  its time noted) even in the middle of a long revision;
- **checks**: :meth:`Guard.check` before each revision starts and again before it commits.
  PostgreSQL and SQLite then roll the revision back; MariaDB/MySQL (whose DDL committed
  itself) commits the finished revision and stops before the next one. On PostgreSQL the
  commit check rides on the revision's ledger insert (:meth:`Guard.witness`: the lock's
  state as ``pg_locks`` shows it, read by the migration session), and asks the lock's own
  connection only when that does not answer "held";
- **a fence on the migration session itself** (:meth:`Guard.fence`): PostgreSQL takes a
  second advisory lock and MariaDB/MySQL a second ``GET_LOCK`` on the connection that runs
  the revisions, held for that session's life; SQLite begins each revision with
  ``BEGIN IMMEDIATE``. A successor that got the lock still waits here while the old
  holder's migration session lives, so two migrators never run revisions at the same time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from flask_safemigrate.errors import LockLost, LockTimeout
from flask_safemigrate.locks import HeldLock, advisory_key

__all__ = ["KEEPALIVE_SECONDS", "Guard", "fence_name", "guarding"]

#: How often the keepalive thread touches the lock connection (far below any idle timeout).
KEEPALIVE_SECONDS: Final = 5.0

#: A revision's ``start`` check trusts a probe that found the lock held this recently (the
#: previous revision's ``commit`` check, a moment before): see :meth:`Guard.check`.
FRESH_SECONDS: Final = 0.25

Point = Literal["start", "commit", "end"]


def fence_name(name: str) -> str:
    """The name of the fence lock of migration lock ``name`` (within MySQL's 64 characters)."""
    return "safemigrate-fence:" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:40]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Guard:
    """What safe-upgrade's runner asks while it holds ``held`` (see the module docstring).

    ``wait`` bounds how long the fence waits for a previous holder's migration session.
    """

    held: HeldLock
    dialect: str | None
    wait: float
    poll: float = 0.2
    lost_at: datetime | None = None
    confirmed_at: datetime = field(default_factory=_now)
    #: Revisions committed after the loss was seen (MariaDB/MySQL only; see :meth:`check`).
    committed_unlocked: list[str] = field(default_factory=list)
    fenced: bool = False
    #: Whether :meth:`witness` is given out (turned off when it disagreed with a probe).
    witnessing: bool = True
    _mutex: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _confirmed_clock: float = field(default=float("-inf"), repr=False)

    # ------------------------------------------------------------------ is it still ours?

    def probe(self) -> bool:
        """Ask the lock (one query on its connection, or a stat of its file); note a loss."""
        with self._mutex:
            if self.lost_at is not None:
                return False  # a lost lock never comes back: a successor may have it
            if self.held.still_held():
                self.confirmed_at = _now()
                self._confirmed_clock = time.monotonic()
                return True
            self.lost_at = _now()
            return False

    def check(self, *, revision: str | None, point: Point, can_roll_back: bool = True) -> None:
        """Raise :class:`LockLost` when the lock is gone.

        ``point`` ``commit`` with ``can_roll_back=False`` (MariaDB/MySQL) lets the finished
        revision commit (the fence kept every other migrator out of it) and raises at the
        next check, before another revision starts.

        A ``start`` check within :data:`FRESH_SECONDS` of a probe that found the lock held
        asks nothing: between revisions that probe is the previous revision's ``commit``
        check, and a probe is only ever a sample (the lock can go the moment after it). A
        loss in that gap is the same as a loss just after a fresh probe: the revision's own
        ``commit`` check sees it (PostgreSQL and SQLite roll the revision back) and the fence
        keeps any successor out meanwhile. It saves one query per revision on the servers.
        """
        if point == "start" and self._fresh():
            return
        if self.probe():
            return
        if point == "commit" and not can_roll_back and revision is not None:
            self.committed_unlocked.append(revision)
            return
        raise self.lost(revision, point)

    def witness(self) -> str | None:
        """The lock's :attr:`~.HeldLock.witness`, for a ``commit`` check made inside a statement
        of the migration session; ``None``: use :meth:`check` (no witness, or a loss seen).

        The caller runs the expression just before the revision commits and hands its value
        to :meth:`witnessed`; anything but true goes on to :meth:`check` (which probes).
        """
        with self._mutex:
            if self.lost_at is not None or not self.witnessing:
                return None
            return self.held.witness

    def witnessed(self, held: bool | None) -> bool:
        """Note what :meth:`witness` evaluated to; True when that settles the ``commit`` check.

        True (the lock's session holds the lock now) counts as a probe that found it held
        (so the next ``start`` check is fresh), unless a loss was seen meanwhile (the
        keepalive's probe): then, as for anything but true, the caller calls :meth:`check`.
        """
        if held is not True:
            return False
        with self._mutex:
            if self.lost_at is not None:
                return False
            self.confirmed_at = _now()
            self._confirmed_clock = time.monotonic()
            return True

    def witness_disagreed(self) -> None:
        """The witness said "not held" and a probe then found the lock held: a server where
        this login cannot see the lock in ``pg_locks``. Ask the lock's connection from now on."""
        with self._mutex:
            self.witnessing = False

    def _fresh(self) -> bool:
        with self._mutex:
            return self.lost_at is None and time.monotonic() - self._confirmed_clock < FRESH_SECONDS

    def raise_if_lost(self) -> None:
        """After the last revision: raise if a loss was seen and let a revision commit."""
        if self.committed_unlocked:
            raise self.lost(None, "end")

    def lost(self, revision: str | None, point: Point) -> LockLost:
        lost_at = self.lost_at or _now()
        return LockLost(
            f"the migration lock was lost (found lost at"
            f" {lost_at.isoformat(timespec='seconds')}, last seen held at"
            f" {self.confirmed_at.isoformat(timespec='seconds')})",
            where=self.held.where,
            data={
                "lock": self.held.name,
                "mechanism": self.held.mechanism,
                "session": self.held.session_id,
                "revision": revision,
                "point": point,
                "lost_at": lost_at.isoformat(timespec="seconds"),
                "confirmed_at": self.confirmed_at.isoformat(timespec="seconds"),
                "committed_unlocked": list(self.committed_unlocked),
            },
        )

    # ------------------------------------------------------------------ the fence

    def fence(self, dbapi_connection: Any) -> None:
        """Take the fence on a new migration connection (once per run; see the module doc).

        Runs in the engine's ``connect`` event, on the raw DBAPI connection. A later
        connection of the same run is already covered by the first one's fence (and would
        only wait for itself). Raises :class:`LockTimeout` after ``wait`` seconds.
        """
        if self.fenced or self.dialect not in ("postgresql", "mysql"):
            return
        name = fence_name(self.held.name)
        cursor = dbapi_connection.cursor()
        try:
            if self.dialect == "postgresql":
                key = advisory_key(name)
                deadline = time.monotonic() + self.wait
                while True:
                    cursor.execute(f"SELECT pg_try_advisory_lock({key})")
                    row = cursor.fetchone()
                    dbapi_connection.commit()  # hold no snapshot between tries
                    if row and row[0]:
                        break
                    if time.monotonic() >= deadline:
                        unsigned = key & 0xFFFFFFFFFFFFFFFF
                        holder = _one(
                            cursor,
                            _PG_FENCE_HOLDER.format(
                                classid=unsigned >> 32, objid=unsigned & 0xFFFFFFFF
                            ),
                        )
                        raise self._fence_timeout(holder, "pid")
                    time.sleep(self.poll)
            else:
                cursor.execute(f"SELECT GET_LOCK('{name}', {max(0.0, self.wait):g})")
                row = cursor.fetchone()
                if not row or row[0] != 1:
                    holder = _one(cursor, f"SELECT IS_USED_LOCK('{name}')")
                    raise self._fence_timeout(holder, "connection")
        except LockTimeout:
            with suppress(Exception):
                dbapi_connection.close()
            raise
        finally:
            with suppress(Exception):
                cursor.close()
        self.fenced = True

    def _fence_timeout(self, holder: Any, kind: str) -> LockTimeout:
        who = f"{kind} {holder}" if holder is not None else f"a {kind} that has just ended"
        kill = (
            f"SELECT pg_terminate_backend({holder})"
            if kind == "pid"
            else f"KILL {holder if holder is not None else '<id>'}"
        )
        return LockTimeout(
            f"migration lock taken, but the previous holder's migration session ({who}) still"
            f" ran after {self.wait:g}s: it lost its lock while migrating and has not stopped",
            where=self.held.where,
            hint="it stops by itself before its next revision; wait and run safe-upgrade"
            f" again, or if it is stuck end it ({kill}) once you know it is not migrating",
            data={"lock": self.held.name, "waited": self.wait, "holder": holder},
        )


_PG_FENCE_HOLDER: Final = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    " AND classid::bigint = {classid} AND objid::bigint = {objid}"
)


def _one(cursor: Any, sql: str) -> Any:
    try:
        cursor.execute(sql)
        row = cursor.fetchone()
    except Exception:  # a best-effort name for the message: any driver error means "unknown"
        return None
    return row[0] if row else None


@contextmanager
def guarding(
    held: HeldLock,
    *,
    dialect: str | None,
    wait: float,
    interval: float = KEEPALIVE_SECONDS,
) -> Iterator[Guard]:
    """A :class:`Guard` for the with-block, with its keepalive thread running.

    End it before the lock is released (the thread uses the lock's connection).
    """
    guard = Guard(held, dialect, wait)
    stop = threading.Event()

    def keepalive() -> None:
        while not stop.wait(interval):
            if not guard.probe():
                return

    thread = threading.Thread(target=keepalive, name="safemigrate-lock-keepalive", daemon=True)
    thread.start()
    try:
        yield guard
    finally:
        stop.set()
        thread.join()
