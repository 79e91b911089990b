"""Flask apps of the tests: their SQLAlchemy instance, engines and migrations directory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import flask_migrate
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

#: The repository root (``example_app`` lives here).
REPO_ROOT = Path(__file__).resolve().parent.parent.parent

Models = Callable[[SQLAlchemy], None]


class MakeApp(Protocol):
    """Signature of the ``make_app`` fixture's factory."""

    def __call__(
        self,
        database_url: str,
        *,
        migrations: Path | None = None,
        config: Mapping[str, Any] | None = None,
        models: Models | None = None,
    ) -> Flask: ...


def sqlalchemy_of(app: Flask) -> SQLAlchemy:
    """The Flask-SQLAlchemy instance registered on ``app``."""
    db = app.extensions["sqlalchemy"]
    assert isinstance(db, SQLAlchemy)
    return db


def dispose_app(app: Flask) -> None:
    """Close every pooled connection of the app's engines (safe to call more than once)."""
    db = app.extensions.get("sqlalchemy")
    if db is None:
        return
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


class AppTracker:
    """Apps whose engines must be disposed before their database is dropped."""

    def __init__(self) -> None:
        self.apps: list[Flask] = []

    def __call__(self, app: Flask) -> Flask:
        self.apps.append(app)
        return app

    def dispose_all(self) -> None:
        for app in self.apps:
            dispose_app(app)


def migrations_dir(app: Flask) -> Path:
    """The directory Flask-Migrate uses for ``app``."""
    return Path(app.extensions["migrate"].directory)


def init_migrations(app: Flask) -> Path:
    """Run Flask-Migrate's ``init`` (stock single-database template); returns the directory."""
    directory = migrations_dir(app)
    with app.app_context():
        flask_migrate.init(str(directory))
    return directory
