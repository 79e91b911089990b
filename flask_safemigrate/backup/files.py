"""Where a backup is written: a private temporary file, renamed into place only when complete.

Every dialect's backup (:mod:`.sqlite`, :mod:`.postgresql`, :mod:`.mysql`) writes into a file
created with mode 0600 beside the final name in a 0700 directory; a failure removes it, and a
later backup sweeps what a killed one left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import URL

from flask_safemigrate.database import mask_url
from flask_safemigrate.errors import BackupFailed

__all__ = [
    "NO_BACKUP",
    "Partial",
    "backups_of",
    "identity_tag",
    "partial_file",
    "prepare_directory",
]

#: The way out every backup error offers.
NO_BACKUP = "or run with --no-backup to upgrade without one"


class Partial:
    """The temporary file a backup is written to, and the name it will get."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        self.final = path


def _slug(text: str, fallback: str) -> str:
    """``text`` safe as part of a file name (no separators, no leading dot or dash)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", text).strip(".-")[:64] or fallback


def identity_tag(url: URL) -> str:
    """Eight hex digits naming the database a backup is of, in its file name.

    The name's stem is the database's name, which two servers (or two SQLite files in two
    directories) can share; pruning (:func:`backups_of`) must never take another database's
    backup for an old one of this database. Made from the backend, host, port and database
    (a SQLite file by its absolute path); never from the login or the password.
    """
    if url.get_backend_name() == "sqlite":
        where = str(Path(url.database or "").expanduser().absolute()) if url.database else ""
        key = f"sqlite|{where}"
    else:
        key = f"{url.get_backend_name()}|{url.host or ''}|{url.port or ''}|{url.database or ''}"
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:8]


_STAMP = r"\d{8}T\d{6}\.\d{6}Z"


def backups_of(directory: Path, stem: str, url: URL, suffix: str) -> list[Path]:
    """The finished backups of this database in ``directory``, oldest first.

    Only files named as :func:`partial_file` names them for this database (its stem, its
    :func:`identity_tag` and its suffix): a backup of another database, one written before
    names carried the tag, or any other file is never listed.
    """
    pattern = re.compile(
        rf"{re.escape(_slug(stem, 'database'))}-(?P<stamp>{_STAMP})-{identity_tag(url)}-"
        rf".+{re.escape(suffix)}"
    )
    found = []
    with suppress(OSError):
        for path in directory.iterdir():
            matched = pattern.fullmatch(path.name)
            if matched is not None and path.is_file() and not path.is_symlink():
                found.append((matched["stamp"], path.name, path))
    return [path for _, _, path in sorted(found)]


def prepare_directory(directory: Path, url: URL) -> Path:
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
        hint=f"set SAFEMIGRATE_BACKUP_DIR to a writable directory, {NO_BACKUP}",
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
def partial_file(
    directory: Path, stem: str, started: datetime, label: str, suffix: str, url: URL
) -> Iterator[Partial]:
    """A 0600 temporary file in ``directory``; renamed on success, removed on any failure."""
    stamp = started.strftime("%Y%m%dT%H%M%S.%fZ")
    base = f"{_slug(stem, 'database')}-{stamp}-{identity_tag(url)}-{_slug(label, 'backup')}"
    _remove_stale_partials(directory, _slug(stem, "database"))
    owner = f"{_HOST}.{os.getpid()}"
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=f".{base}.{owner}.", suffix=".partial")
    except OSError as exc:
        raise _directory_error(directory, exc.strerror or str(exc), url) from None
    partial = Partial(fd, Path(name))
    try:
        yield partial
        if os.fstat(fd).st_size == 0:
            raise BackupFailed(
                "backup failed: the dump is empty",
                where=str(directory),
                hint=f"check the database and the dump tool, {NO_BACKUP}",
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
            hint=f"free some space or set SAFEMIGRATE_BACKUP_DIR elsewhere, {NO_BACKUP}",
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
