"""What the project's SQLAlchemy makes of an API that SQLAlchemy 2 removed.

``MetaData(bind=...)``, ``select([...])`` and a plain string to ``execute()`` run on
SQLAlchemy 1.x: on a project that still runs 1.x they are a debt (they break on the move to 2),
not a migration that fails today. The ``sqlalchemy`` lint setting (default: the installed
SQLAlchemy) says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_safemigrate.lint.model import Migration
from flask_safemigrate.report import Severity


@dataclass(frozen=True)
class RemovedApiJudgement:
    """How to report a call SQLAlchemy 2 removed: the severity cap and a message suffix."""

    at_most: Severity | None
    suffix: str


def removed_in_2(migration: Migration) -> RemovedApiJudgement:
    """An error on SQLAlchemy 2 (the call fails); below 2 at most a warning that says when it
    will."""
    major, minor = migration.config.sqlalchemy_version
    if major >= 2:
        return RemovedApiJudgement(None, "")
    return RemovedApiJudgement(
        Severity.WARNING,
        f" (runs on SQLAlchemy {major}.{minor}, the project's: breaks when you move to"
        " SQLAlchemy 2)",
    )
