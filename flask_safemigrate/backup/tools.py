"""Running a server's dump tool: found on ``PATH``, in a process group of its own, bounded
in time, its password in the environment (never in ``argv``), its output checked."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path

from sqlalchemy.engine import URL

from flask_safemigrate.backup.files import NO_BACKUP
from flask_safemigrate.database import mask_text, mask_url
from flask_safemigrate.errors import BackupFailed

__all__ = ["STDERR_LINES", "check_plausible", "find_tool", "password_of", "query_value", "run_tool"]

#: Lines of a failing tool's stderr kept in the error message (all of them go into ``data``).
STDERR_LINES = 3
#: How much of a dump's start and end the plausibility check reads.
_PEEK = 64 * 1024


def find_tool(names: tuple[str, ...], install: str, env: Mapping[str, str], url: URL) -> str:
    """The first of ``names`` on ``PATH``; ``install`` says how to get one."""
    search = env.get("PATH", os.defpath)
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    wanted = " or ".join(names)
    raise BackupFailed(
        f"backup failed: {wanted} not found on PATH",
        where=mask_url(url),
        hint=f"{install}, {NO_BACKUP}",
        data={"database": mask_url(url), "tools": list(names)},
    )


def query_value(url: URL, key: str) -> str | None:
    value = url.query.get(key)
    if value is None:
        return None
    return ",".join(value) if isinstance(value, tuple) else str(value)


def password_of(url: URL) -> str | None:
    """The login's password: from ``user:password@``, else from the URL's query.

    psycopg and PyMySQL also take it as ``?password=`` (PyMySQL as ``?passwd=``); the dump
    tool must log in as the app does, and gets it in its environment like any password.
    """
    if url.password is not None:
        return str(url.password)
    for key in ("password", "passwd"):
        value = query_value(url, key)
        if value is not None:
            return value
    return None


def run_tool(
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
            hint=f"check the client tools' installation, {NO_BACKUP}",
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
            f" raise SAFEMIGRATE_BACKUP_TIMEOUT for a large database, {NO_BACKUP}",
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
        hint=f"fix the cause above (login, privileges, client version) and retry, {NO_BACKUP}",
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


def check_plausible(
    path: Path, tool: str, url: URL, problem_of: Callable[[bytes, bytes], str | None]
) -> None:
    """Refuse a dump that does not look like one: a tool that lies about success is no backup.

    ``problem_of(head, tail)`` is the dialect's check of the dump's first and last
    ``_PEEK`` bytes (:meth:`.base.DatabaseBackup` subclasses); ``None``: it looks right.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(_PEEK)
        handle.seek(max(0, size - _PEEK))
        tail = handle.read()
    problem = problem_of(head, tail)
    if size == 0:
        problem = "it is empty"
    if problem is None:
        return
    raise BackupFailed(
        f"backup failed: {tool} exited 0 but wrote no plausible dump ({size} bytes): {problem}",
        where=mask_url(url),
        hint=f"check that {tool} on PATH is the real client tool and works by hand, {NO_BACKUP}",
        data={"database": mask_url(url), "tool": tool, "bytes": size},
    )
