"""The pre-upgrade backup: a restorable copy of the database, written before anything changes.

A backup only helps if it is complete and private, so every backend writes into a temporary
file created with mode 0600 beside the final name and renames it into place only once the dump
succeeded; a failure removes it. Server dumps run ``pg_dump`` / ``mariadb-dump`` with an
argument list (no shell) and hand the password over in the child's environment, where ``ps``
and a CI log cannot see it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from flask_safemigrate import app_engine_options
from flask_safemigrate.database import dialect_of, mask_text, mask_url
from flask_safemigrate.errors import BackupFailed
from flask_safemigrate.locks import sqlite_database_file

#: Dump tools tried in order; the first found on ``PATH`` runs.
POSTGRESQL_TOOLS = ("pg_dump",)
MYSQL_TOOLS = ("mariadb-dump", "mysqldump")
#: Lines of a failing tool's stderr kept in the error message (all of them go into ``data``).
STDERR_LINES = 3
#: Seconds a dump tool may run before it is killed (``SAFEMIGRATE_BACKUP_TIMEOUT``'s default).
DEFAULT_TOOL_TIMEOUT = 3600.0
#: How much of a dump's start and end the plausibility check reads.
_PEEK = 64 * 1024

_NO_BACKUP = "or run with --no-backup to upgrade without one"
#: libpq reads these from the environment; the URL query of a psycopg URL may set them.
_PG_QUERY_ENV = {
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
#: PyMySQL URL query options and the dump tool's equivalent.
_MYSQL_QUERY_ARGS = {"ssl_ca": "--ssl-ca", "ssl_cert": "--ssl-cert", "ssl_key": "--ssl-key"}


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
    env = dict(os.environ if environ is None else environ)
    dialect = dialect_of(parsed)
    started = datetime.now(UTC)
    if dialect == "sqlite":
        source = _sqlite_source(parsed)
        target = _prepare_directory(directory, parsed)
        with _partial_file(target, source.stem, started, label, ".sqlite3", parsed) as tmp:
            _copy_sqlite(source, tmp, timeout, parsed)
        return tmp.final
    if dialect == "postgresql":
        tool = _find_tool(POSTGRESQL_TOOLS, env, parsed)
        target = _prepare_directory(directory, parsed)
        stem = parsed.database or parsed.username or "postgres"
        with _partial_file(target, stem, started, label, ".dump", parsed) as tmp:
            argv, child_env = _pg_dump_command(tool, parsed, tmp.path, timeout, env)
            _run(argv, child_env, parsed, stdout=None, limit=tool_timeout)
            _check_plausible(tmp.path, "pg_dump", parsed)
        return tmp.final
    if dialect == "mysql":
        tool = _find_tool(MYSQL_TOOLS, env, parsed)
        if not parsed.database:
            raise BackupFailed(
                "backup failed: the database URL names no database",
                where=mask_url(parsed),
                hint=f"add the database name to the URL, {_NO_BACKUP}",
            )
        target = _prepare_directory(directory, parsed)
        with _partial_file(target, parsed.database, started, label, ".sql", parsed) as tmp:
            argv, child_env = _mysql_dump_command(tool, parsed, parsed.database, env)
            _run(argv, child_env, parsed, stdout=tmp.fd, limit=tool_timeout)
            _check_plausible(tmp.path, Path(tool).name, parsed)
        return tmp.final
    raise BackupFailed(
        f"backup failed: no backup method for the {parsed.get_backend_name()} backend",
        where=mask_url(parsed),
        hint=f"back the database up yourself, {_NO_BACKUP}",
    )


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
        for key in (*_PG_QUERY_ENV, *_MYSQL_QUERY_ARGS, "charset", "unix_socket")
        if isinstance(args.get(key), str | int)
    }
    ssl = args.get("ssl")
    if isinstance(ssl, Mapping):  # PyMySQL's ssl={"ca": ..., "cert": ..., "key": ...}
        extra.update({f"ssl_{k}": str(ssl[k]) for k in ("ca", "cert", "key") if ssl.get(k)})
    return url.update_query_dict(extra) if extra else url


# --------------------------------------------------------------------------- files


class _Partial:
    """The temporary file a backup is written to, and the name it will get."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        self.final = path


def _slug(text: str, fallback: str) -> str:
    """``text`` safe as part of a file name (no separators, no leading dot or dash)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip(".-")[:64] or fallback


def _prepare_directory(directory: Path, url: URL) -> Path:
    directory = Path(directory).expanduser().absolute()
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not directory.is_dir():
            raise _directory_error(directory, "it exists and is not a directory", url) from None
    except OSError as exc:
        raise _directory_error(directory, exc.strerror or str(exc), url) from None
    else:
        with suppress(OSError):
            directory.chmod(0o700)  # mkdir's mode is filtered through the umask
    return directory


def _directory_error(directory: Path, reason: str, url: URL) -> BackupFailed:
    return BackupFailed(
        f"backup failed: cannot use the backup directory: {reason}",
        where=str(directory),
        hint=f"set SAFEMIGRATE_BACKUP_DIR to a writable directory, {_NO_BACKUP}",
        data={"database": mask_url(url), "directory": str(directory)},
    )


_HOST = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname() or "host")
_PARTIAL_OWNER = re.compile(
    r"\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[^.]+\.partial(?:-journal)?$"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove_stale_partials(directory: Path, stem: str) -> None:
    """Delete temporary files that a killed backup of this database left behind.

    SIGKILL skips every cleanup, so the next backup (which runs under the migration lock)
    sweeps them: only files of this database written on this host by a process that is gone.
    A partial file of another host, or of a live process, is left alone.
    """
    for path in directory.glob(f".{stem}-*.partial*"):
        owner = _PARTIAL_OWNER.search(path.name)
        if owner is None or owner["host"] != _HOST or _alive(int(owner["pid"])):
            continue
        with suppress(OSError):
            path.unlink()


@contextmanager
def _partial_file(
    directory: Path, stem: str, started: datetime, label: str, suffix: str, url: URL
) -> Iterator[_Partial]:
    """A 0600 temporary file in ``directory``; renamed on success, removed on any failure."""
    stamp = started.strftime("%Y%m%dT%H%M%S.%fZ")
    base = f"{_slug(stem, 'database')}-{stamp}-{_slug(label, 'backup')}"
    _remove_stale_partials(directory, _slug(stem, "database"))
    owner = f"{_HOST}.{os.getpid()}"
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{base}.{owner}.", suffix=".partial")
    except OSError as exc:
        raise _directory_error(directory, exc.strerror or str(exc), url) from None
    partial = _Partial(fd, Path(name))
    try:
        yield partial
        if os.fstat(fd).st_size == 0:
            raise BackupFailed(
                "backup failed: the dump is empty",
                where=str(directory),
                hint=f"check the database and the dump tool, {_NO_BACKUP}",
            )
        os.fsync(fd)
        final = directory / f"{base}{suffix}"
        counter = 1
        while final.exists():  # same microsecond: keep both, in order
            counter += 1
            final = directory / f"{base}-{counter}{suffix}"
        partial.path.replace(final)  # atomic: never a half-written backup under its name
        partial.final = final
        _fsync_directory(directory)
    except OSError as exc:
        with suppress(OSError):
            partial.path.unlink()
        raise BackupFailed(
            f"backup failed: cannot write the backup: {exc.strerror or exc}",
            where=str(directory),
            hint=f"free some space or set SAFEMIGRATE_BACKUP_DIR elsewhere, {_NO_BACKUP}",
            data={"database": mask_url(url), "directory": str(directory)},
        ) from None
    except BaseException:
        with suppress(OSError):
            partial.path.unlink()
        raise
    finally:
        with suppress(OSError):
            os.close(fd)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (best effort: not every filesystem allows it)."""
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- SQLite


def _sqlite_source(url: URL) -> Path:
    source = sqlite_database_file(url)
    if source is None:
        raise BackupFailed(
            "backup failed: an in-memory SQLite database cannot be backed up",
            where=mask_url(url),
            hint=f"it vanishes with the process anyway; {_NO_BACKUP}",
        )
    if not source.is_file():
        raise BackupFailed(
            "backup failed: the SQLite database file does not exist",
            where=str(source),
            hint=f"check the database URL, {_NO_BACKUP}",
        )
    return source


class _StillBusy(Exception):
    """Raised from the backup progress callback to give up on a locked source."""


def _copy_sqlite(source: Path, partial: _Partial, timeout: float, url: URL) -> None:
    """The online backup API: a consistent copy even while other connections read or write."""
    deadline = time.monotonic() + timeout

    def progress(status: int, remaining: int, total: int) -> None:
        if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) and time.monotonic() > deadline:
            raise _StillBusy

    try:
        src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True, timeout=timeout)
        try:
            dst = sqlite3.connect(partial.path, timeout=timeout)
            try:
                src.backup(dst, progress=progress, sleep=0.05)
            finally:
                dst.close()
        finally:
            src.close()
    except _StillBusy:
        raise BackupFailed(
            f"backup failed: the SQLite database stayed locked for {timeout:g}s",
            where=str(source),
            hint=f"another process is writing to it; retry when it is done, {_NO_BACKUP}",
            data={"database": mask_url(url)},
        ) from None
    except sqlite3.Error as exc:
        raise BackupFailed(
            f"backup failed: {exc}",
            where=str(source),
            hint=f"check the database file and the backup directory, {_NO_BACKUP}",
            data={"database": mask_url(url)},
        ) from None


# --------------------------------------------------------------------------- dump tools


def _find_tool(names: tuple[str, ...], env: Mapping[str, str], url: URL) -> str:
    search = env.get("PATH", os.defpath)
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    wanted = " or ".join(names)
    install = (
        f"install the PostgreSQL client tools ({names[0]} at least as new as the server)"
        if names == POSTGRESQL_TOOLS
        else "install the MariaDB or MySQL client tools"
    )
    raise BackupFailed(
        f"backup failed: {wanted} not found on PATH",
        where=mask_url(url),
        hint=f"{install}, {_NO_BACKUP}",
        data={"database": mask_url(url), "tools": list(names)},
    )


def _query_value(url: URL, key: str) -> str | None:
    value = url.query.get(key)
    if value is None:
        return None
    return ",".join(value) if isinstance(value, tuple) else str(value)


def _password(url: URL) -> str | None:
    """The login's password: from ``user:password@``, else from the URL's query.

    psycopg and PyMySQL also take it as ``?password=`` (PyMySQL as ``?passwd=``); the dump
    tool must log in as the app does, and gets it in its environment like any password.
    """
    if url.password is not None:
        return str(url.password)
    for key in ("password", "passwd"):
        value = _query_value(url, key)
        if value is not None:
            return value
    return None


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
    host = url.host or _query_value(url, "host")
    port = url.port or _query_value(url, "port")
    if host:
        argv.append(f"--host={host}")
    if port:
        argv.append(f"--port={port}")
    if url.username:
        argv.append(f"--username={url.username}")
    if url.database:
        argv.append(f"--dbname={_pg_dbname(url.database)}")
    child = dict(env)
    for key, variable in _PG_QUERY_ENV.items():
        value = _query_value(url, key)
        if value is not None:
            child[variable] = value
    child["PGCONNECT_TIMEOUT"] = str(max(2, round(timeout)))
    child["PGAPPNAME"] = "flask-safemigrate backup"
    password = _password(url)
    if password is not None:
        child["PGPASSWORD"] = password
    return argv, child


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
        f"--default-character-set={_query_value(url, 'charset') or 'utf8mb4'}",
    ]
    socket_path = _query_value(url, "unix_socket")
    if socket_path:
        argv += ["--protocol=socket", f"--socket={socket_path}"]
    else:  # PyMySQL always uses TCP; the client would pick the socket for "localhost"
        argv += ["--protocol=tcp", f"--host={url.host or 'localhost'}"]
        argv.append(f"--port={url.port or 3306}")
    if url.username:
        argv.append(f"--user={url.username}")
    for key, option in _MYSQL_QUERY_ARGS.items():
        value = _query_value(url, key)
        if value:
            argv.append(f"{option}={value}")
    argv += ["--", database]
    child = dict(env)
    child.pop("MYSQL_PWD", None)  # the URL decides, as it does for the app
    password = _password(url)
    if password is not None:
        child["MYSQL_PWD"] = password
    return argv, child


def _run(
    argv: list[str], env: dict[str, str], url: URL, *, stdout: int | None, limit: float | None
) -> None:
    """Run the dump tool in a process group of its own, killed whole after ``limit`` seconds.

    A hung ``pg_dump`` (a lock it waits for, a server that stopped answering, an SSH tunnel
    gone) would otherwise hold the migration lock forever. ``pg_dump --jobs`` and wrappers
    fork helpers, so the whole group is killed, not only the first process.
    """
    tool = Path(argv[0]).name
    try:
        process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if stdout is None else stdout,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise BackupFailed(
            f"backup failed: cannot run {tool}: {exc.strerror or exc}",
            where=mask_url(url),
            hint=f"check the client tools' installation, {_NO_BACKUP}",
            data={"database": mask_url(url)},
        ) from None
    try:
        _, stderr = process.communicate(timeout=limit or None)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise BackupFailed(
            f"backup failed: {tool} did not finish within {limit:g}s"
            " (SAFEMIGRATE_BACKUP_TIMEOUT); it and its child processes were killed and the"
            " partial file removed",
            where=mask_url(url),
            hint="check what the dump waits for (a lock, the network, the server's load) or"
            f" raise SAFEMIGRATE_BACKUP_TIMEOUT for a large database, {_NO_BACKUP}",
            data={"database": mask_url(url), "tool": tool, "timeout": limit, "pid": process.pid},
        ) from None
    except BaseException:
        _kill_group(process)
        raise
    if process.returncode == 0:
        return
    text = mask_text(stderr.decode("utf-8", errors="replace"), url)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    shown = "; ".join(lines[:STDERR_LINES]) or "no error output"
    raise BackupFailed(
        f"backup failed: {tool} exited with status {process.returncode}: {shown}",
        where=mask_url(url),
        hint=f"fix the cause above (login, privileges, client version) and retry, {_NO_BACKUP}",
        data={"database": mask_url(url), "tool": tool, "stderr": lines[:20]},
    )


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the tool's process group and reap the tool (its stderr pipe may stay open)."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    if process.stderr is not None:
        with suppress(OSError):
            process.stderr.close()


def _check_plausible(path: Path, tool: str, url: URL) -> None:
    """Refuse a dump that does not look like one: a tool that lies about success is no backup.

    ``pg_dump --format=custom`` starts with ``PGDMP`` and its table of contents always holds
    the ``ENCODING`` entry; ``mariadb-dump``/``mysqldump`` start with a ``-- MariaDB dump`` /
    ``-- MySQL dump`` comment (after MariaDB's sandbox-mode line) and end with
    ``-- Dump completed`` (written only when the dump ran to its end).
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(_PEEK)
        handle.seek(max(0, size - _PEEK))
        tail = handle.read()
    if tool == "pg_dump":
        problem = (
            None
            if head.startswith(b"PGDMP") and b"ENCODING" in head
            else "no pg_dump archive header (PGDMP with its ENCODING entry)"
        )
    elif not re.search(rb"(?m)^-- (?:MariaDB|MySQL) dump", head[:4096]):
        problem = "no '-- MariaDB dump' / '-- MySQL dump' header"
    elif b"-- Dump completed" not in tail:
        problem = "no '-- Dump completed' line at the end: the dump stopped early"
    else:
        problem = None
    if size == 0:
        problem = "it is empty"
    if problem is None:
        return
    raise BackupFailed(
        f"backup failed: {tool} exited 0 but wrote no plausible dump ({size} bytes): {problem}",
        where=mask_url(url),
        hint=f"check that {tool} on PATH is the real client tool and works by hand, {_NO_BACKUP}",
        data={"database": mask_url(url), "tool": tool, "bytes": size},
    )
