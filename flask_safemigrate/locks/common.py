"""What every lock strategy shares: the held lock, polling, and the errors a waiter gets."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from flask_safemigrate.database import mask_text, mask_url
from flask_safemigrate.errors import ConfigError, LockTimeout, PreflightError

__all__ = [
    "HeldLock",
    "jsonable",
    "lock_failed",
    "parse_url",
    "poll_until",
    "timeout_error",
]


@dataclass(frozen=True)
class HeldLock:
    """What the with-block holds: enough to report it and to check it is still held.

    ``mechanism`` is ``pg_advisory_lock``, ``GET_LOCK``, ``file`` or ``none`` (in-memory SQLite,
    which no other process can see). ``key`` is the PostgreSQL advisory key, ``path`` the SQLite
    lock file, ``waited`` the seconds spent waiting for it. ``session_id`` is what a waiter's
    timeout names as the holder: the backend pid (PostgreSQL), the connection id (MySQL), or
    the process id (SQLite).

    ``witness`` (PostgreSQL, else ``None``): an SQL boolean expression that any session of the
    same database can evaluate, true exactly while the lock's own session still holds the lock
    (what :meth:`still_held` asks on the lock's connection). It lets the migration session ask
    within a statement it runs anyway: safe-upgrade's ledger insert returns it (one round trip
    per revision instead of two).
    """

    name: str
    mechanism: str
    where: str
    waited: float
    session_id: int | None = None
    key: int | None = None
    path: Path | None = None
    probe: Callable[[], bool] = field(default=lambda: True, repr=False, compare=False)
    witness: str | None = field(default=None, repr=False, compare=False)

    def still_held(self) -> bool:
        """False when the lock was lost (its connection died); call between long steps."""
        try:
            return self.probe()
        except (sa.exc.SQLAlchemyError, OSError):
            return False


def poll_until(attempt: Callable[[], bool], wait: float, poll: float) -> bool:
    """``attempt()`` until it succeeds or ``wait`` seconds have passed (at least one try);
    the pauses are jittered so that many waiters do not try in step."""
    deadline = time.monotonic() + wait
    while True:
        if attempt():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(remaining, poll * random.uniform(0.5, 1.5)))


def parse_url(url: str | URL) -> URL:
    try:
        return make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise ConfigError(
            "cannot take the migration lock: the database URL cannot be parsed",
            hint="check SQLALCHEMY_DATABASE_URI",
        ) from None


def jsonable(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A holder row for the JSON report: times as ISO text, empty values left out."""
    return {
        str(key): value.isoformat(timespec="seconds") if isinstance(value, datetime) else value
        for key, value in row.items()
        if value not in (None, "")
    }


def _describe(holder: Mapping[str, Any] | None) -> str:
    if not holder:
        return "held by another migrator (it could not be identified; it may just have finished)"
    return "held by " + ", ".join(f"{key} {value}" for key, value in holder.items())


def timeout_error(
    url: URL,
    name: str,
    wait: float,
    where: str,
    holder: dict[str, Any] | None,
    hint: str,
) -> LockTimeout:
    """Exit 5: the lock was not obtained in ``wait`` seconds; who holds it, what to do."""
    return LockTimeout(
        mask_text(f"migration lock not obtained within {wait:g}s: {_describe(holder)}", url),
        where=mask_text(where, url),
        hint=f"another migrator is running on this database; {hint}",
        data={"database": mask_url(url), "lock": name, "waited": wait, "holder": holder},
    )


def lock_failed(url: URL, where: str, exc: sa.exc.DBAPIError) -> PreflightError:
    """Exit 3: the database refused the lock statement itself (privileges, a proxy)."""
    text = str(exc.orig or exc).strip().splitlines()
    return PreflightError(
        "cannot take the migration lock: " + mask_text(text[0] if text else repr(exc), url),
        where=mask_text(where, url),
        hint="check that the database login may take locks (and see the error above)",
        data={"database": mask_url(url)},
    )
