"""The pre-upgrade backup: a restorable copy of the database, written before anything changes.

A backup only helps if it is complete and private, so every backend writes into a temporary
file created with mode 0600 beside the final name and renames it into place only once the dump
succeeded; a failure removes it. Server dumps run ``pg_dump`` / ``mariadb-dump`` with an
argument list (no shell) and hand the password over in the child's environment, where ``ps``
and a CI log cannot see it.

Each dialect is a small strategy class (:mod:`.base`): :mod:`.sqlite` (the online backup API),
:mod:`.postgresql` (``pg_dump``), :mod:`.mysql` (``mariadb-dump``/``mysqldump``), on the file
handling of :mod:`.files` and the dump-tool runner of :mod:`.tools`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from flask_safemigrate import app_engine_options
from flask_safemigrate.backup.base import BackupJob, DatabaseBackup
from flask_safemigrate.backup.files import NO_BACKUP, backups_of
from flask_safemigrate.backup.mysql import MYSQL_QUERY_ARGS, MYSQL_TOOLS, MysqlBackup
from flask_safemigrate.backup.postgresql import PG_QUERY_ENV, POSTGRESQL_TOOLS, PostgresqlBackup
from flask_safemigrate.backup.sqlite import SqliteBackup
from flask_safemigrate.backup.tools import STDERR_LINES
from flask_safemigrate.database import dialect_of, mask_url
from flask_safemigrate.errors import BackupFailed

__all__ = [
    "BACKUPS",
    "DEFAULT_TOOL_TIMEOUT",
    "MYSQL_TOOLS",
    "POSTGRESQL_TOOLS",
    "STDERR_LINES",
    "backup_database",
    "by_default",
    "prune_backups",
]

#: Seconds a dump tool may run before it is killed (``SAFEMIGRATE_BACKUP_TIMEOUT``'s default).
DEFAULT_TOOL_TIMEOUT = 3600.0

#: The backup strategy of each dialect (:func:`flask_safemigrate.database.dialect_of`'s names).
BACKUPS: dict[str, type[DatabaseBackup]] = {
    "sqlite": SqliteBackup,
    "postgresql": PostgresqlBackup,
    "mysql": MysqlBackup,
}


def backup_database(
    url: str | URL,
    directory: Path,
    *,
    label: str,
    timeout: float = 10,
    environ: Mapping[str, str] | None = None,
    tool_timeout: float | None = DEFAULT_TOOL_TIMEOUT,
) -> Path:
    """Back the database up into ``directory`` (created with mode 0700); returns the new file.

    The name is ``<database>-<UTC timestamp>-<label>`` plus ``.sqlite3`` (SQLite online backup
    API), ``.dump`` (``pg_dump --format=custom``, restore with ``pg_restore``) or ``.sql``
    (``mariadb-dump``/``mysqldump``, restore with the ``mariadb``/``mysql`` client).
    ``timeout`` bounds waiting for the database (connecting, SQLite's busy lock, PostgreSQL's
    table locks), not the length of the dump. ``tool_timeout`` bounds the dump tool's whole
    run (``SAFEMIGRATE_BACKUP_TIMEOUT``; ``None`` or 0 = no limit): a tool still running then
    is killed with its whole process group. ``environ`` is the dump tool's environment and
    ``PATH`` (default: this process's). A dump that does not look like one of its format (an
    empty file, no ``PGDMP`` archive header, no ``mariadb-dump`` header and trailer) is
    refused. Raises :class:`BackupFailed` (exit 3) with nothing left behind.
    """
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise BackupFailed(
            "backup failed: the database URL cannot be parsed", hint="check the database URL"
        ) from None
    parsed = _with_connect_args(parsed)
    strategy = BACKUPS.get(dialect_of(parsed) or "")
    if strategy is None:
        raise BackupFailed(
            f"backup failed: no backup method for the {parsed.get_backend_name()} backend",
            where=mask_url(parsed),
            hint=f"back the database up yourself, {NO_BACKUP}",
        )
    env = dict(os.environ if environ is None else environ)
    job = BackupJob(directory, datetime.now(UTC), label, timeout, tool_timeout)
    return strategy(parsed, env).write(job)


#: A backup's name: ``<stem>-<stamp>-<identity tag>-<label>[-n]<suffix>`` (``files.partial_file``).
_NAME = re.compile(r"(?P<stem>.+)-\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}-.+")


def prune_backups(latest: Path, url: str | URL, keep: int) -> list[Path]:
    """Remove the oldest backups of ``latest``'s database beyond ``keep``; the removed files.

    ``latest`` is the backup a run just wrote, and counts among the ``keep``; it is never
    removed, nor is a file of another database (another stem, identity tag or suffix), one
    named otherwise, or anything when ``keep`` is 0. A file that cannot be removed is left
    (the next run tries again): pruning never fails the run that made a good backup.
    """
    if keep <= 0:
        return []
    named = _NAME.fullmatch(latest.name)
    if named is None:
        return []
    parsed = _with_connect_args(make_url(url))
    found = backups_of(latest.parent, named["stem"], parsed, latest.suffix)
    older = [path for path in found if path != latest]
    excess = len(older) + 1 - keep
    removed = []
    for path in older[: max(excess, 0)]:
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def by_default(dialect: str | None) -> bool:
    """Whether safe-upgrade backs ``dialect`` up when nothing says (SQLite only)."""
    strategy = BACKUPS.get(dialect or "")
    return strategy is not None and strategy.by_default


def _with_connect_args(url: URL) -> URL:
    """The URL plus what the app's ``connect_args`` say about logging in, for the dump tool.

    ``SQLALCHEMY_ENGINE_OPTIONS["connect_args"]`` may hold the login, the password or TLS
    files (:mod:`.app_engine_options`); the dump tools take those from the URL's parts and
    query here (the password through the environment, as always). Anything else in
    ``connect_args`` has no dump-tool equivalent and is left out.
    """
    args = app_engine_options.connect_args_for(url)
    if not args:
        return url
    user = args.get("user", args.get("username"))
    password = args.get("password", args.get("passwd"))
    if user is not None:
        url = url.set(username=str(user))
    if password is not None:
        url = url.set(password=str(password))
    if args.get("host") is not None:
        url = url.set(host=str(args["host"]))
    if args.get("port") is not None:
        url = url.set(port=int(args["port"]))
    extra = {
        key: str(args[key])
        for key in (*PG_QUERY_ENV, *MYSQL_QUERY_ARGS, "charset", "unix_socket")
        if isinstance(args.get(key), str | int)
    }
    ssl = args.get("ssl")
    if isinstance(ssl, Mapping):  # PyMySQL's ssl={"ca": ..., "cert": ..., "key": ...}
        extra.update({f"ssl_{k}": str(ssl[k]) for k in ("ca", "cert", "key") if ssl.get(k)})
    return url.update_query_dict(extra) if extra else url
