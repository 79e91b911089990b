"""A small Flask app whose schema is managed by Flask-Migrate with flask-safemigrate installed.

Run it from the repository root::

    flask --app example_app db upgrade
    flask --app example_app db current
    flask --app example_app run

The database is a SQLite file in the app's instance folder unless ``DATABASE_URL`` says
otherwise (for example ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

from flask_safemigrate import SafeMigrate

#: Every constraint and index gets a predictable name, the same on SQLite, PostgreSQL and
#: MariaDB, so that a migration can drop or alter it by name.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The package's own migrations folder, so ``flask db ...`` works from any working directory.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
safe = SafeMigrate()


def default_database_uri(instance_path: str | os.PathLike[str]) -> str:
    """The SQLite database used when nothing else is configured: ``<instance>/example.db``."""
    return f"sqlite:///{Path(instance_path) / 'example.db'}"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app.

    ``SQLALCHEMY_DATABASE_URI`` comes from, in increasing priority: the SQLite default in the
    instance folder, the ``DATABASE_URL`` environment variable, and ``config``; ``SAFEMIGRATE_*``
    keys from the environment, then from ``config``.
    """
    app = Flask(__name__)
    uri = os.environ.get("DATABASE_URL") or None
    if config is not None and config.get("SQLALCHEMY_DATABASE_URI"):
        uri = str(config["SQLALCHEMY_DATABASE_URI"])
    if uri is None:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        uri = default_database_uri(app.instance_path)
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    # SAFEMIGRATE_* settings from the environment (strings; SafeMigrate parses them).
    app.config.update({k: v for k, v in os.environ.items() if k.startswith("SAFEMIGRATE_")})
    if config is not None:
        app.config.update(config)

    # The models must be imported before anything reads db.metadata (autogenerate, verify).
    from example_app import models, views

    db.init_app(app)
    safe.init_app(app, db, directory=MIGRATIONS_DIR)
    app.register_blueprint(views.bp)
    app.shell_context_processor(lambda: {"db": db, "User": models.User, "Item": models.Item})
    return app
