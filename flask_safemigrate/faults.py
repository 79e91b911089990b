"""What kind of database error stopped a revision: a lock wait, a lost connection, or the script.

safe-upgrade answers each differently. A lock wait is worth a retry and names the session it
waited for; a lost connection is neither the script's fault nor the data's, and on a database
that rolled the revision back a plain re-run is the fix; anything else is the script's or the
data's problem and needs a person (``--resolved``).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

__all__ = ["is_connection_lost", "is_lock_timeout", "line_in"]

#: SQLSTATEs of a session the server ended or lost: class 08 (connection exception), and
#: 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now).
_LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
#: MySQL/MariaDB client and server codes for a connection that is gone: server has gone
#: away, lost connection during query, commands out of sync after a drop, connection killed.
_LOST_MYSQL_CODES = frozenset({1927, 2006, 2013, 2014, 2045, 2055, 4031})


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error``, the driver error it wraps, and what it was raised from (cycles cut)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        item = todo.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo += [getattr(item, "orig", None), item.__cause__, item.__context__]


def is_lock_timeout(error: BaseException) -> bool:
    """Whether the database gave up waiting for a lock (worth a retry, not a bug).

    PostgreSQL ``lock_not_available`` (55P03, what ``lock_timeout`` raises), MySQL/MariaDB 1205
    (``innodb_lock_wait_timeout``) and 1205-like metadata-lock waits (``lock_wait_timeout``,
    also 1205), and SQLite's "database is locked" (``busy_timeout`` ran out).
    """
    orig = getattr(error, "orig", None)
    if orig is None:
        return False
    if getattr(orig, "sqlstate", None) == "55P03":
        return True
    args = getattr(orig, "args", ())
    if args and args[0] == 1205:
        return True
    return "database is locked" in str(orig)


def is_connection_lost(error: BaseException) -> bool:
    """Whether the revision stopped because its connection dropped (killed, restarted, cut).

    SQLAlchemy marks an error whose connection it had to throw away
    (``connection_invalidated``, from each dialect's own disconnect test); the SQLSTATE and
    the MySQL error codes catch the same when an error reaches us another way.
    """
    for item in _chain(error):
        if getattr(item, "connection_invalidated", False):
            return True
        sqlstate = getattr(item, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate in _LOST_SQLSTATES or sqlstate[:2] == "08"):
            return True
        args = getattr(item, "args", ())
        if (
            type(item).__module__.startswith("pymysql")
            and args
            and isinstance(args[0], int)
            and args[0] in _LOST_MYSQL_CODES
        ):
            return True
    return False


def line_in(error: BaseException, path: str | Path) -> int | None:
    """The line of the file at ``path`` that ``error`` came from (its innermost frame there).

    "where: file:line" is where the operator looks first: the op or ``raise`` in
    ``upgrade()`` that failed, not the revision identifier at the top of the file.
    """
    target = Path(path).resolve()
    inside = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.lineno is not None and Path(frame.filename).resolve() == target
    ]
    return inside[-1] if inside else None
