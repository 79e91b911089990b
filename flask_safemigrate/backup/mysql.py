"""MariaDB/MySQL's backup: ``mariadb-dump`` or ``mysqldump`` (restore with the client)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import URL

from flask_safemigrate.backup.base import BackupJob, DatabaseBackup
from flask_safemigrate.backup.files import NO_BACKUP, partial_file, prepare_directory
from flask_safemigrate.backup.tools import (
    check_plausible,
    find_tool,
    password_of,
    query_value,
    run_tool,
)
from flask_safemigrate.database import mask_url
from flask_safemigrate.errors import BackupFailed

__all__ = ["MYSQL_QUERY_ARGS", "MYSQL_TOOLS", "MysqlBackup"]

#: Dump tools tried in order; the first found on ``PATH`` runs.
MYSQL_TOOLS = ("mariadb-dump", "mysqldump")
#: PyMySQL URL query options and the dump tool's equivalent.
MYSQL_QUERY_ARGS = {"ssl_ca": "--ssl-ca", "ssl_cert": "--ssl-cert", "ssl_key": "--ssl-key"}


class MysqlBackup(DatabaseBackup):
    """``<database>-<stamp>-<label>.sql``, one consistent snapshot (``--single-transaction``)."""

    def write(self, job: BackupJob) -> Path:
        url = self.url
        tool = find_tool(MYSQL_TOOLS, "install the MariaDB or MySQL client tools", self.env, url)
        if not url.database:
            raise BackupFailed(
                "backup failed: the database URL names no database",
                where=mask_url(url),
                hint=f"add the database name to the URL, {NO_BACKUP}",
            )
        target = prepare_directory(job.directory, url)
        with partial_file(target, url.database, job.started, job.label, ".sql", url) as tmp:
            argv, child_env = _mysql_dump_command(tool, url, url.database, self.env)
            run_tool(argv, child_env, url, stdout=tmp.fd, limit=job.tool_timeout)
            check_plausible(tmp.path, Path(tool).name, url, _problem)
        return tmp.final


def _problem(head: bytes, tail: bytes) -> str | None:
    """A dump starts with a ``-- MariaDB dump`` / ``-- MySQL dump`` comment (after MariaDB's
    sandbox-mode line) and ends with ``-- Dump completed`` (written only when it ran to its end)."""
    if not re.search(rb"(?m)^-- (?:MariaDB|MySQL) dump", head[:4096]):
        return "no '-- MariaDB dump' / '-- MySQL dump' header"
    if b"-- Dump completed" not in tail:
        return "no '-- Dump completed' line at the end: the dump stopped early"
    return None


def _mysql_dump_command(
    tool: str, url: URL, database: str, env: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    # --no-defaults: connect exactly as the URL says, like PyMySQL (no ~/.my.cnf surprises).
    argv = [
        tool,
        "--no-defaults",
        "--single-transaction",
        "--routines",
        "--triggers",
        "--hex-blob",
        "--no-tablespaces",
        f"--default-character-set={query_value(url, 'charset') or 'utf8mb4'}",
    ]
    socket_path = query_value(url, "unix_socket")
    if socket_path:
        argv += ["--protocol=socket", f"--socket={socket_path}"]
    else:  # PyMySQL always uses TCP; the client would pick the socket for "localhost"
        argv += ["--protocol=tcp", f"--host={url.host or 'localhost'}"]
        argv.append(f"--port={url.port or 3306}")
    if url.username:
        argv.append(f"--user={url.username}")
    for key, option in MYSQL_QUERY_ARGS.items():
        value = query_value(url, key)
        if value:
            argv.append(f"{option}={value}")
    argv += ["--", database]
    child = dict(env)
    child.pop("MYSQL_PWD", None)  # the URL decides, as it does for the app
    password = password_of(url)
    if password is not None:
        child["MYSQL_PWD"] = password
    return argv, child
