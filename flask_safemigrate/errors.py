"""Exceptions that carry their exit code (docs/architecture.md, "Contracts") and a report's data.

Library code raises these; only ``cli.py`` and ``console.py`` turn them into output and an
exit status, so every entry point exits with the same code for the same failure.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class ExitCode(enum.IntEnum):
    """The exit codes every command shares (docs/exit-codes.md, docs/architecture.md)."""

    OK = 0
    CHECKS_FAILED = 1
    USAGE = 2
    PREFLIGHT = 3
    MIGRATION_FAILED = 4
    LOCK_TIMEOUT = 5


class SafeMigrateError(Exception):
    """Base class: a failure the user can act on, never shown as a traceback.

    ``message`` says what failed, ``where`` where (a path, a revision, a database), and
    ``hint`` what to do next; ``data`` holds structured facts for JSON output.
    """

    exit_code: ExitCode = ExitCode.CHECKS_FAILED

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        hint: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        self.data: dict[str, Any] = dict(data or {})

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready mapping (never holds a password: callers mask URLs)."""
        out: dict[str, Any] = {
            "error": type(self).__name__,
            "exit_code": int(self.exit_code),
            "message": self.message,
        }
        if self.where is not None:
            out["where"] = self.where
        if self.hint is not None:
            out["hint"] = self.hint
        out.update(self.data)
        return out


class ChecksFailed(SafeMigrateError):
    """Findings at or above the failure threshold, or a verification that did not hold."""

    exit_code = ExitCode.CHECKS_FAILED


class ConfigError(SafeMigrateError):
    """A bad option, an invalid ``SAFEMIGRATE_*`` value, or a missing migrations directory."""

    exit_code = ExitCode.USAGE


class PreflightError(SafeMigrateError):
    """Nothing was changed: the database or the history is not in a state to migrate."""

    exit_code = ExitCode.PREFLIGHT


class DatabaseUnreachable(PreflightError):
    """The database could not be reached or refused the login."""

    #: True when the server answered and refused (credentials, role, database name).
    refused: bool = False


class BackupFailed(PreflightError):
    """The pre-upgrade backup could not be written; nothing has been changed yet."""


class LockTimeout(SafeMigrateError):
    """Another migrator held the migration lock for longer than the wait limit."""

    exit_code = ExitCode.LOCK_TIMEOUT


class LockLost(SafeMigrateError):
    """The migration lock was lost while revisions ran (its connection died or its file went).

    ``data`` holds ``revision`` (the one running or about to run), ``point`` (``start``:
    before it began, ``commit``: its work was done, before its commit), ``lost_at`` and
    ``confirmed_at`` (UTC ISO times: when the loss was seen, and the last check that found
    the lock held) and ``committed_unlocked`` (revisions committed after the loss, MariaDB).
    """

    exit_code = ExitCode.LOCK_TIMEOUT
