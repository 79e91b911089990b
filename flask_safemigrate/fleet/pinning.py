"""In a fleet's child process: point the app at one target before safe-upgrade runs.

The child (``safe-upgrade --fleet-target KEY``, started by :mod:`.runner`) exists only to
migrate that target, so it changes its own app in place and nothing else sees it: the
default engine in Flask-SQLAlchemy's engine mapping becomes an unpooled engine on the
target's URL (what the stock ``env.py`` connects with), ``SQLALCHEMY_DATABASE_URI`` names it
(for the tool's own connections and an ``env.py`` that reads the config), and for a schema
target ``SAFEMIGRATE_SCHEMA`` is the schema, so the version table, the ledger and the
migration lock are the schema's own (:mod:`flask_safemigrate.dedicated_schema`).
"""

from __future__ import annotations

from collections.abc import MutableMapping

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.pool import NullPool

from flask_safemigrate import database, dedicated_schema
from flask_safemigrate.errors import ConfigError, PreflightError
from flask_safemigrate.fleet.targets import FleetTarget, find, load

__all__ = ["pin", "pin_key"]


def pin_key(app: Flask, key: str) -> FleetTarget:
    """Find the target ``key`` among ``SAFEMIGRATE_TARGETS`` and :func:`pin` it."""
    settings = app.extensions["safemigrate"].get_settings(app)
    target = find(load(app, settings), key)
    pin(app, target)
    return target


def pin(app: Flask, target: FleetTarget) -> None:
    """Make ``target`` the app's database for the rest of this process (app context needed)."""
    db = app.extensions["migrate"].db
    engines = db.engines
    if not isinstance(engines, MutableMapping):
        raise ConfigError(
            "--fleet needs Flask-SQLAlchemy 3's engine mapping, which this app's db does not have",
            hint="upgrade Flask-SQLAlchemy to 3.x",
        )
    if target.schema is not None:
        _require_schema(engines[None].url, target.schema, app)
    written = target.url_on(engines[None].url)
    url = written
    if database.dialect_of(url) == "mysql" and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})  # as Flask-SQLAlchemy does
    options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
    kwargs = {"connect_args": options["connect_args"]} if "connect_args" in options else {}
    previous = engines[None]
    engines[None] = sa.create_engine(url, poolclass=NullPool, **kwargs)
    previous.dispose()
    # The URL as the target gives it, as an app's own config holds it: reports name the
    # database as written, without the charset only its engine has (``as_configured``).
    app.config["SQLALCHEMY_DATABASE_URI"] = written.render_as_string(hide_password=False)
    if target.schema is not None:
        app.config["SAFEMIGRATE_SCHEMA"] = target.schema
    app.extensions["safemigrate"].reload_settings(app)
    dedicated_schema.install(app)


def _require_schema(app_url: sa.URL, schema: str, app: Flask) -> None:
    """A schema target's schema must exist: its run puts it first on ``search_path``, and a
    missing one would leave the connection without a default schema (every model table
    "outside" it). Pre-flight reads only, so the fleet never creates it: the tenant's
    provisioning does. :class:`PreflightError` (exit 3, nothing changed) otherwise."""
    settings = app.extensions["safemigrate"].get_settings(app)
    query = sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :schema")
    with database.connect(
        app_url, timeout=settings.connect_timeout, retries=settings.connect_retries
    ) as conn:
        found = conn.execute(query, {"schema": schema}).first() is not None
    if not found:
        raise PreflightError(
            f"schema {schema!r} (a target of SAFEMIGRATE_TARGETS) does not exist in"
            f" {database.mask_url(app_url)}",
            hint=f"create it when the tenant is created (CREATE SCHEMA {schema}), or stop"
            " returning it from the targets callable; nothing was changed",
            data={"schema": schema},
        )
