"""Fixtures of the dedicated-schema tests: PostgreSQL apps whose tables live in ``app_ops``.

``db_kind`` is PostgreSQL here (the only database with schemas that SAFEMIGRATE_SCHEMA
supports); ``test_other_databases.py`` overrides it for MariaDB and SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from tests.support.apps import MakeApp, init_migrations
from tests.support.databases import DbKind
from tests.support.schema import SCHEMA, declare_models


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_kind(request: pytest.FixtureRequest) -> DbKind:
    kind: DbKind = request.param
    return kind


@pytest.fixture
def schema_app(database_url: str, make_app: MakeApp) -> Callable[..., Flask]:
    """``schema_app(schema=SCHEMA, models=True, migrations=None, config=None)``: an app on the
    test database with SAFEMIGRATE_SCHEMA set and its migrations directory initialised."""

    def build(
        schema: str | None = SCHEMA,
        *,
        models: Callable[[SQLAlchemy], None] | None = None,
        migrations: Path | None = None,
        config: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> Flask:
        settings: dict[str, Any] = {"SAFEMIGRATE_BACKUP": False, **(config or {})}
        if schema is not None:
            settings["SAFEMIGRATE_SCHEMA"] = schema
        app = make_app(
            url or database_url,
            migrations=migrations,
            config=settings,
            models=models if models is not None else declare_models(schema),
        )
        directory = Path(app.extensions["migrate"].directory)
        if not (directory / "env.py").exists():
            init_migrations(app)
        return app

    return build
