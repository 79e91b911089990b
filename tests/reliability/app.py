"""The app the reliability tests run ``flask db safe-upgrade`` for, in a real subprocess.

``flask --app tests.reliability.app:create_app`` (from the repository root) reads where things
are from the environment, so one module serves every test: ``SM_DATABASE_URL``,
``SM_MIGRATIONS``, ``SM_INSTANCE``, and optionally ``SM_BACKUP`` (``1``/``0``, default: the
product's default), ``SM_BACKUP_DIR``, ``SM_LOCK_WAIT`` and ``SM_LOCK_TIMEOUT`` (seconds), and
``SM_CANCEL_ORPHANS`` (``1``/``0``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.reliability.history import declare_models

#: What ``flask --app`` is given.
APP_SPEC = "tests.reliability.app:create_app"


def build_app(
    database_url: str,
    migrations: Path,
    instance: Path,
    *,
    config: Mapping[str, object] | None = None,
) -> Flask:
    """A fresh app with its own ``SQLAlchemy`` and the head models (tests may use it in-process)."""
    app = Flask(__name__, instance_path=str(instance))
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    app.config.update(config or {})
    db = SQLAlchemy()
    declare_models(db)
    db.init_app(app)
    SafeMigrate(app, db, directory=str(migrations))
    return app


def create_app() -> Flask:
    env = os.environ
    config: dict[str, object] = {}
    if "SM_BACKUP" in env:
        config["SAFEMIGRATE_BACKUP"] = env["SM_BACKUP"] == "1"
    if "SM_BACKUP_DIR" in env:
        config["SAFEMIGRATE_BACKUP_DIR"] = env["SM_BACKUP_DIR"]
    if "SM_LOCK_WAIT" in env:
        config["SAFEMIGRATE_LOCK_WAIT"] = float(env["SM_LOCK_WAIT"])
    if "SM_LOCK_TIMEOUT" in env:
        config["SAFEMIGRATE_LOCK_TIMEOUT"] = float(env["SM_LOCK_TIMEOUT"])
    if "SM_CANCEL_ORPHANS" in env:
        config["SAFEMIGRATE_CANCEL_ORPHANS"] = env["SM_CANCEL_ORPHANS"] == "1"
    return build_app(
        env["SM_DATABASE_URL"],
        Path(env["SM_MIGRATIONS"]),
        Path(env["SM_INSTANCE"]),
        config=config,
    )
