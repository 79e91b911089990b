"""What each dialect's backup does: one small strategy class per dialect (as the locks have).

:func:`flask_safemigrate.backup.backup_database` picks the class of the URL's dialect
(``BACKUPS``) and calls :meth:`DatabaseBackup.write`; nothing else tests the dialect.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from sqlalchemy.engine import URL

__all__ = ["BackupJob", "DatabaseBackup"]


@dataclass(frozen=True)
class BackupJob:
    """What one backup is asked: the directory, the file's time stamp and label, how long it
    may wait for the database (``timeout``) and how long the dump tool may run."""

    directory: Path
    started: datetime
    label: str
    timeout: float
    tool_timeout: float | None


class DatabaseBackup(ABC):
    """A restorable copy of one database, written into a directory."""

    #: Whether safe-upgrade backs this dialect up when neither ``--backup`` nor
    #: ``SAFEMIGRATE_BACKUP`` says (SQLite only: a server dump can take long and needs tools).
    by_default: ClassVar[bool] = False

    def __init__(self, url: URL, env: Mapping[str, str]) -> None:
        self.url = url
        #: The dump tool's environment (``PATH`` and what libpq or the client reads).
        self.env = env

    @abstractmethod
    def write(self, job: BackupJob) -> Path:
        """Write the backup into ``job.directory``; the new file (see ``backup_database``)."""
