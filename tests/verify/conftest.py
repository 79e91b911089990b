"""Fixtures of the ``flask db verify`` tests (histories and models: :mod:`tests.support.verify`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.support.apps import AppTracker, init_migrations
from tests.support.revisions import write_revision
from tests.support.verify import ITEMS_SCRIPT, USERS_SCRIPT, Models, VerifyApp, base_models


@pytest.fixture
def verify_app(tmp_path: Path, track_app: AppTracker) -> VerifyApp:
    """An app with its own ``SQLAlchemy``, ``SafeMigrate(**migrate_kwargs)``, stock migrations.

    ``scripts`` default to the standard two revisions; ``models`` to :func:`base_models`.
    """
    counter = iter(range(1000))

    def make(
        database_url: str,
        *,
        models: Models | None = base_models,
        scripts: Sequence[str] | None = None,
        config: Mapping[str, Any] | None = None,
        migrate_kwargs: Mapping[str, Any] | None = None,
    ) -> Flask:
        n = next(counter)
        app = Flask(__name__, instance_path=str(tmp_path / f"instance{n}"))
        app.config.update(
            SQLALCHEMY_DATABASE_URI=database_url,
            TESTING=True,
            SAFEMIGRATE_CONNECT_TIMEOUT=2,
            SAFEMIGRATE_CONNECT_RETRIES=0,
        )
        app.config.update(config or {})
        db = SQLAlchemy()
        if models is not None:
            models(db.metadata)
        db.init_app(app)
        track_app(app)
        SafeMigrate(app, db, directory=tmp_path / f"migrations{n}", **(migrate_kwargs or {}))
        migrations = init_migrations(app)
        for source in (USERS_SCRIPT, ITEMS_SCRIPT) if scripts is None else scripts:
            write_revision(migrations, source)
        return app

    return make
