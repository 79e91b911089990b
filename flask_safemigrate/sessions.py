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
    "strip_comment",
]

PREFIX: Final = "safemigrate "
#: PostgreSQL keeps 63 bytes of ``application_name``; the label must fit whole.
_LIMIT: Final = 63
_LABEL = re.compile(r"safemigrate (?P<purpose>[a-z-]+) pid (?P<pid>\d+) host (?P<host>\S*)")
_COMMENT = re.compile(r"^/\* safemigrate [^*]*\*/ ")


@dataclass(frozen=True)
class Label:
    """What a session's label says: why the tool opened it, and which process on which host."""

    purpose: str
    pid: int
    host: str

    def is_this_process(self) -> bool:
        return self.pid == os.getpid() and self.host == _host()

    def process_gone(self) -> bool | None:
        """True: its process is gone (same host, no such pid); None: another host, unknown."""
        if self.host != _host():
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


def label(purpose: str) -> str:
    """``safemigrate <purpose> pid <pid> host <host>`` for this process (63 characters max)."""
    return f"{PREFIX}{purpose} pid {os.getpid()} host {_host()}"[:_LIMIT]


def parse(text: str | None) -> Label | None:
    """The label in an ``application_name``, an attribute or a statement; None if none."""
    found = _LABEL.search(text or "")
    if found is None:
        return None
    return Label(found["purpose"], int(found["pid"]), found["host"])


#: Drivers known to take the label at connect time, and under which keyword.
_CONNECT_KEYWORDS: Final = {
    "psycopg": "application_name",
    "psycopg2": "application_name",
    "pg8000": "application_name",
    "pymysql": "program_name",
}


def connect_args(driver: str | None, purpose: str) -> dict[str, str]:
    """Driver connect arguments that put the label on a new connection.

    Only for drivers known to take it (``psycopg``, ``psycopg2``, ``pg8000``, ``pymysql``):
    another driver would refuse an unknown keyword and the connection would fail.
    """
    keyword = _CONNECT_KEYWORDS.get(driver or "")
    return {} if keyword is None else {keyword: label(purpose)}


def comment(purpose: str) -> str:
    """The label as a leading SQL comment (MariaDB/MySQL show it in ``PROCESSLIST.INFO``)."""
    return f"/* {label(purpose)} */ "


def strip_comment(statement: str) -> str:
    """``statement`` without the leading label comment :func:`comment` added."""
    return _COMMENT.sub("", statement, count=1)
