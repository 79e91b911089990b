"""Names for every connection the tool opens, so a server-side session tells whose it is.

A migrator killed while a statement runs leaves that statement running on the server (the
server notices the dead client only when it next talks to it). The next migrator must be
able to find it, say whose it was, and wait for it or end it: so each connection carries a
label ``safemigrate <purpose> pid <pid> host <host>``:

- PostgreSQL: as ``application_name`` (``pg_stat_activity.application_name``);
- MariaDB/MySQL: as the ``program_name`` connection attribute with PyMySQL (visible in
  ``performance_schema.session_connect_attrs`` when that is on) and, on the migration
  session, as a leading SQL comment on every statement, which ``PROCESSLIST.INFO`` shows
  even where ``performance_schema`` is off (MariaDB's default). ``executemany`` statements
  go without it: PyMySQL batches an ``INSERT ... VALUES`` into one statement only when the
  text starts with ``INSERT``.

``purpose`` is ``migrate`` for the session that runs the revisions, ``lock`` for the
migration lock's session, and ``check`` for the short reads around them.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from dataclasses import dataclass
from typing import Final

__all__ = [
    "PREFIX",
    "Label",
    "comment",
    "connect_args",
    "label",
    "parse",
    "scope_of",
    "strip_comment",
]

PREFIX: Final = "safemigrate "
#: PostgreSQL keeps 63 bytes of ``application_name``; the label must fit whole.
_LIMIT: Final = 63
_LABEL = re.compile(
    r"safemigrate (?P<purpose>[a-z-]+)(?: (?P<scope>[0-9a-f]{8}))? pid (?P<pid>\d+)"
    r" host (?P<host>\S*)"
)
_COMMENT = re.compile(r"^/\* safemigrate [^*]*\*/ ")


@dataclass(frozen=True)
class Label:
    """What a session's label says: why the tool opened it, and which process on which host."""

    purpose: str
    pid: int
    host: str
    #: :func:`scope_of` the migration lock the session worked under (``migrate`` only).
    scope: str | None = None

    def on_this_host(self) -> bool:
        # A long host name is cut to fit the 63 characters: compare what the label kept.
        return bool(self.host) and _host().startswith(self.host)

    def is_this_process(self) -> bool:
        return self.pid == os.getpid() and self.on_this_host()

    def process_gone(self) -> bool | None:
        """True: its process is gone (same host, no such pid); None: another host, unknown."""
        if not self.on_this_host():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, under another user
            return False
        return False


def _host() -> str:
    """This host's name as labels carry it (ASCII, no spaces, cut to fit the limit)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname() or "unknown")
    return name[:32]


def scope_of(lock_name: str) -> str:
    """Eight hex digits naming a migration lock: sessions under other locks are not ours.

    Two apps may migrate one PostgreSQL database at once, each in its own schema under its
    own lock; neither's running statement is the other's orphan.
    """
    return hashlib.sha256(lock_name.encode("utf-8")).hexdigest()[:8]


def label(purpose: str, scope: str | None = None) -> str:
    """``safemigrate <purpose> [<scope>] pid <pid> host <host>`` (63 characters at most)."""
    middle = f" {scope}" if scope else ""
    return f"{PREFIX}{purpose}{middle} pid {os.getpid()} host {_host()}"[:_LIMIT]


def parse(text: str | None) -> Label | None:
    """The label in an ``application_name``, an attribute or a statement; None if none."""
    found = _LABEL.search(text or "")
    if found is None:
        return None
    return Label(found["purpose"], int(found["pid"]), found["host"], found["scope"])


#: Drivers known to take the label at connect time, and under which keyword.
_CONNECT_KEYWORDS: Final = {
    "psycopg": "application_name",
    "psycopg2": "application_name",
    "pg8000": "application_name",
    "pymysql": "program_name",
}


def connect_args(driver: str | None, purpose: str, scope: str | None = None) -> dict[str, str]:
    """Driver connect arguments that put the label on a new connection.

    Only for drivers known to take it (``psycopg``, ``psycopg2``, ``pg8000``, ``pymysql``):
    another driver would refuse an unknown keyword and the connection would fail.
    """
    keyword = _CONNECT_KEYWORDS.get(driver or "")
    return {} if keyword is None else {keyword: label(purpose, scope)}


def comment(purpose: str, scope: str | None = None) -> str:
    """The label as a leading SQL comment (MariaDB/MySQL show it in ``PROCESSLIST.INFO``)."""
    return f"/* {label(purpose, scope)} */ "


def strip_comment(statement: str) -> str:
    """``statement`` without the leading label comment :func:`comment` added."""
    return _COMMENT.sub("", statement, count=1)
