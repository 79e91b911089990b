"""PostgreSQL's backup: ``pg_dump --format=custom`` (restore with ``pg_restore``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import URL

from flask_safemigrate.backup.base import BackupJob, DatabaseBackup
from flask_safemigrate.backup.files import partial_file, prepare_directory
from flask_safemigrate.backup.tools import (
    check_plausible,
    find_tool,
    password_of,
    query_value,
    run_tool,
)

__all__ = ["PG_QUERY_ENV", "POSTGRESQL_TOOLS", "PostgresqlBackup"]

#: Dump tools tried in order; the first found on ``PATH`` runs.
POSTGRESQL_TOOLS = ("pg_dump",)
#: libpq reads these from the environment; the URL query of a psycopg URL may set them.
PG_QUERY_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "options": "PGOPTIONS",
    "gssencmode": "PGGSSENCMODE",
    "channel_binding": "PGCHANNELBINDING",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
}


class PostgresqlBackup(DatabaseBackup):
    """``<database>-<stamp>-<label>.dump``; ``timeout`` also bounds pg_dump's lock waits."""

    def write(self, job: BackupJob) -> Path:
        url = self.url
        install = (
            f"install the PostgreSQL client tools ({POSTGRESQL_TOOLS[0]} at least as new as"
            " the server)"
        )
        tool = find_tool(POSTGRESQL_TOOLS, install, self.env, url)
        target = prepare_directory(job.directory, url)
        stem = url.database or url.username or "postgres"
        with partial_file(target, stem, job.started, job.label, ".dump", url) as tmp:
            argv, child_env = _pg_dump_command(tool, url, tmp.path, job.timeout, self.env)
            run_tool(argv, child_env, url, stdout=None, limit=job.tool_timeout)
            check_plausible(tmp.path, "pg_dump", url, _problem)
        return tmp.final


def _problem(head: bytes, tail: bytes) -> str | None:
    """A custom-format archive starts with ``PGDMP`` and its table of contents always holds
    the ``ENCODING`` entry."""
    if head.startswith(b"PGDMP") and b"ENCODING" in head:
        return None
    return "no pg_dump archive header (PGDMP with its ENCODING entry)"


def _pg_dbname(database: str) -> str:
    """``--dbname`` takes a connection string when the value has ``=`` or a URI prefix."""
    if "=" in database or database.startswith(("postgresql:", "postgres:")):
        escaped = database.replace("\\", "\\\\").replace("'", "\\'")
        return f"dbname='{escaped}'"
    return database


def _pg_dump_command(
    tool: str, url: URL, out: Path, timeout: float, env: Mapping[str, str]
) -> tuple[list[str], dict[str, str]]:
    argv = [
        tool,
        "--format=custom",
        f"--file={out}",
        "--no-password",
        f"--lock-wait-timeout={max(1, round(timeout * 1000))}",
    ]
    host = url.host or query_value(url, "host")
    port = url.port or query_value(url, "port")
    if host:
        argv.append(f"--host={host}")
    if port:
        argv.append(f"--port={port}")
    if url.username:
        argv.append(f"--username={url.username}")
    if url.database:
        argv.append(f"--dbname={_pg_dbname(url.database)}")
    child = dict(env)
    for key, variable in PG_QUERY_ENV.items():
        value = query_value(url, key)
        if value is not None:
            child[variable] = value
    child["PGCONNECT_TIMEOUT"] = str(max(2, round(timeout)))
    child["PGAPPNAME"] = "flask-safemigrate backup"
    password = password_of(url)
    if password is not None:
        child["PGPASSWORD"] = password
    return argv, child
