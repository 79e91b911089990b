"""What a safe-upgrade run is asked (:class:`Options`): the types the command and tests use.
It returns a :class:`~flask_safemigrate.report.Result`, as every command does; what it tells as
it goes: :mod:`.events`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from flask_safemigrate.errors import ConfigError
from flask_safemigrate.report import Report

__all__ = ["STAGES", "Options", "RunConfigError", "Stage"]

Stage = Literal["preflight", "lock", "backup", "upgrade", "verify", "done"]
STAGES: Final[tuple[Stage, ...]] = ("preflight", "lock", "backup", "upgrade", "verify", "done")


@dataclass(frozen=True)
class Options:
    """What the command line asked for (``flask db safe-upgrade --help``).

    ``revision``, ``directory``, ``x_args`` and ``tag`` mean what they mean to
    ``flask db upgrade``: Alembic reads the revision (``heads``, ``+1``, ``branch@head``).
    """

    revision: str = "heads"
    dry_run: bool = False
    sql: bool = False
    backup: bool | None = None
    auto_merge: bool = False
    skip_lint: bool = False
    verify: bool = True
    resolved: tuple[str, ...] = ()
    #: Deploy even when the release running now would break (``SAFEMIGRATE_COMPAT = "block"``).
    allow_breaking: bool = False
    #: The migrations directory (``flask db -d``); ``None``: the app's.
    directory: str | Path | None = None
    #: ``-x`` arguments for ``env.py`` (``context.get_x_argument()``).
    x_args: tuple[str, ...] = ()
    #: ``--tag`` for ``env.py`` (``context.get_tag_argument()``).
    tag: str | None = None
    #: With ``dry_run``: each revision's SQL and its statements' locks on every dialect in
    #: the report's ``revisions`` fact (what ``--format markdown`` shows; never in JSON).
    plan_details: bool = False


class RunConfigError(ConfigError):
    """A :class:`ConfigError` met once the run began, with the run's report.

    Text output shows it as the usual one ``Error:`` line; JSON output prints ``report``, so
    that every exit of safe-upgrade keeps the documented shape (``stage`` and all).
    """

    def __init__(self, error: ConfigError, report: Report) -> None:
        super().__init__(error.message, where=error.where, hint=error.hint, data=error.data)
        self.report = report
