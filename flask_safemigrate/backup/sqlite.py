"""SQLite's backup: the online backup API, a consistent copy while others read or write."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy.engine import URL

from flask_safemigrate.backup.base import BackupJob, DatabaseBackup
from flask_safemigrate.backup.files import NO_BACKUP, Partial, partial_file, prepare_directory
from flask_safemigrate.database import mask_url
from flask_safemigrate.errors import BackupFailed
from flask_safemigrate.locks import sqlite_database_file

__all__ = ["SqliteBackup"]


class SqliteBackup(DatabaseBackup):
    """``<file>-<stamp>-<label>.sqlite3``; on by default (a file is cheap to copy)."""

    by_default = True

    def write(self, job: BackupJob) -> Path:
        source = _sqlite_source(self.url)
        target = prepare_directory(job.directory, self.url)
        with partial_file(target, source.stem, job.started, job.label, ".sqlite3", self.url) as tmp:
            _copy_sqlite(source, tmp, job.timeout, self.url)
        return tmp.final


def _sqlite_source(url: URL) -> Path:
    source = sqlite_database_file(url)
    if source is None:
        raise BackupFailed(
            "backup failed: an in-memory SQLite database cannot be backed up",
            where=mask_url(url),
            hint=f"it vanishes with the process anyway; {NO_BACKUP}",
        )
    if not source.is_file():
        raise BackupFailed(
            "backup failed: the SQLite database file does not exist",
            where=str(source),
            hint=f"check the database URL, {NO_BACKUP}",
        )
    return source


class _StillBusy(Exception):
    """Raised from the backup progress callback to give up on a locked source."""


def _copy_sqlite(source: Path, partial: Partial, timeout: float, url: URL) -> None:
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
            hint=f"another process is writing to it; retry when it is done, {NO_BACKUP}",
            data={"database": mask_url(url)},
        ) from None
    except sqlite3.Error as exc:
        raise BackupFailed(
            f"backup failed: {exc}",
            where=str(source),
            hint=f"check the database file and the backup directory, {NO_BACKUP}",
            data={"database": mask_url(url)},
        ) from None
