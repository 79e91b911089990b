"""The revisions not yet applied to an app's database (``flask db lint --pending``).

Below the CLI because it connects to the database: the command only asks for the set.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from flask_safemigrate import app_engine_options, database, history
from flask_safemigrate.errors import PreflightError
from flask_safemigrate.settings import Settings

__all__ = ["pending_revisions"]


def pending_revisions(app: Flask, settings: Settings, locations: list[Path]) -> set[str]:
    """The revisions between the default database's revision and the heads.

    Raises :class:`PreflightError` (exit 3) when the database is at a revision the scripts
    do not know, and :class:`~flask_safemigrate.errors.DatabaseUnreachable` when it cannot
    be reached.
    """
    state = app.extensions["migrate"]
    configure = state.configure_args
    with (
        app_engine_options.applied(app.config),
        database.connect(
            state.db.engine.url,
            timeout=settings.connect_timeout,
            retries=settings.connect_retries,
            read_only=True,
        ) as connection,
    ):
        current = database.current_revisions(
            connection,
            version_table=configure.get("version_table", "alembic_version"),
            schema=configure.get("version_table_schema"),
        )
    graph = history.load_graph(locations)
    try:
        return {script.revision for script in graph.path(current, "heads")}
    except history.RevisionLookupError as exc:
        raise PreflightError(
            f"the database is at a revision the scripts do not know: {exc}",
            hint="deploy the code that holds that revision, or run `flask db verify`",
        ) from None
