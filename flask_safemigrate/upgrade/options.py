"""What a safe-upgrade run is asked (:class:`Options`) and tells as it goes (:class:`Progress`):
the types the command and tests use. It returns a :class:`~flask_safemigrate.report.Result`,
as every command does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from flask_safemigrate import history
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.report import Report

__all__ = ["STAGES", "Options", "Progress", "RunConfigError", "Stage"]

Stage = Literal["preflight", "lock", "backup", "upgrade", "verify", "done"]
STAGES: Final[tuple[Stage, ...]] = ("preflight", "lock", "backup", "upgrade", "verify", "done")


@dataclass(frozen=True)
class Options:
    """What the command line asked for (``flask db safe-upgrade --help``)."""

    revision: str = "heads"
    dry_run: bool = False
    sql: bool = False
    backup: bool | None = None
    auto_merge: bool = False
    skip_lint: bool = False
    verify: bool = True
    resolved: tuple[str, ...] = ()


class Progress:
    """Receives progress as it happens; the command prints it, tests may record it.

    ``bind`` names the target a step runs on in a multi-database app (``"default"`` or the
    bind key); it is ``None`` for a single-database app.
    """

    def stage(self, stage: Stage, message: str) -> None:
        """A stage finished a notable part of its work."""

    def step_started(
        self, position: int, total: int, script: history.Script, *, bind: str | None = None
    ) -> None:
        """Revision ``position`` (0-based) of ``total`` is about to run."""

    def step_finished(
        self, position: int, total: int, revision: str, seconds: float, *, bind: str | None = None
    ) -> None:
        """It committed (multi-database: it ran; see :func:`.apply.apply`'s commit policy)."""

    def step_failed(
        self, position: int, total: int, seconds: float, *, bind: str | None = None
    ) -> None:
        """It failed (and was rolled back where the database can)."""

    def waiting(self, message: str) -> None:
        """Something takes time that is not the user's migration (a lock, a retry)."""


class RunConfigError(ConfigError):
    """A :class:`ConfigError` met once the run began, with the run's report.

    Text output shows it as the usual one ``Error:`` line; JSON output prints ``report``, so
    that every exit of safe-upgrade keeps the documented shape (``stage`` and all).
    """

    def __init__(self, error: ConfigError, report: Report) -> None:
        super().__init__(error.message, where=error.where, hint=error.hint, data=error.data)
        self.report = report
