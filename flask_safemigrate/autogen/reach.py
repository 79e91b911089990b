"""Before ``flask db migrate`` (or ``revision --autogenerate``) compares: can it connect?

Autogenerate reads every database its ``env.py`` migrates. Flask-Migrate lets a refused
login or a server that is down escape as a traceback of a hundred lines or more (with exit
1); connecting first, as verify and safe-upgrade do (the app's timeout, retries and connect
options), turns it into their one line: :class:`~flask_safemigrate.errors.DatabaseUnreachable`,
exit 3, the URL masked.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from flask_safemigrate import app_engine_options, database, project

__all__ = ["require_reachable"]


def require_reachable(app: Flask, directory: Path | None = None) -> None:
    """Connect to the app's database (and each bind the multi-database template migrates).

    Raises :class:`~flask_safemigrate.errors.DatabaseUnreachable` for the first one that
    cannot be reached or refuses the login; returns quietly when all answer.
    """
    settings = app.extensions["safemigrate"].get_settings(app)
    engines = app.extensions["migrate"].db.engines
    binds: list[str | None] = [None]
    if project.uses_multidb(app, directory):
        binds += sorted(key for key in engines if key is not None)
    with app_engine_options.applied(app.config):
        for bind in binds:
            with database.connect(
                engines[bind].url,
                timeout=settings.connect_timeout,
                retries=settings.connect_retries,
            ):
                pass
