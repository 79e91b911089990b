"""Generating the v1 and v2 migrations with the real ``flask db migrate``, and reading schemas."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.autogen import models
from tests.support.apps import AppTracker, init_migrations, sqlalchemy_of
from tests.support.cli import invoke_ok

Hook = Callable[[MigrationContext, Any, list[ops.MigrationScript]], None]
REVISION = re.compile(r"^revision = '([0-9a-f]+)'$", re.MULTILINE)


@dataclass(frozen=True)
class Scenario:
    """Two apps (v1 and v2 models) on one database and one migrations directory."""

    v1: Flask
    v2: Flask
    migrations: Path
    first: Path  # the initial migration (v1)
    second: Path  # v1 -> v2

    @property
    def revisions(self) -> tuple[str, str]:
        return revision_of(self.first), revision_of(self.second)


def revision_of(script: Path) -> str:
    found = REVISION.search(script.read_text(encoding="utf-8"))
    assert found is not None, script
    return found.group(1)


def new_script(migrations: Path, before: set[Path]) -> Path:
    (created,) = set((migrations / "versions").glob("*.py")) - before
    return created


def migrate(app: Flask, migrations: Path, message: str) -> Path:
    before = set((migrations / "versions").glob("*.py"))
    invoke_ok(app, "db", "migrate", "-m", message)
    return new_script(migrations, before)


def build_app(
    database_url: str,
    migrations: Path,
    models_of: Callable[[SQLAlchemy], None],
    track_app: AppTracker,
    *,
    hook: Hook | None = models.compare_check_constraints,
    config: Mapping[str, Any] | None = None,
    migrate_kwargs: Mapping[str, Any] | None = None,
) -> Flask:
    """An app as a project has it: ``Migrate(app, db, <hook>)``, then ``SafeMigrate(app, db)``."""
    app = Flask(__name__, instance_path=str(migrations.parent / "instance"))
    app.config.update(SQLALCHEMY_DATABASE_URI=database_url, TESTING=True, **(config or {}))
    db = SQLAlchemy()
    models_of(db)
    db.init_app(app)
    track_app(app)
    extra = dict(migrate_kwargs or {})
    if hook is not None:
        extra["process_revision_directives"] = hook
    Migrate(app, db, directory=str(migrations), **extra)
    SafeMigrate(app, db)
    return app


def generate(database_url: str, tmp_path: Path, track_app: AppTracker, **config: Any) -> Scenario:
    """``flask db init``, migrate to v1, upgrade, migrate to v2 (left unapplied)."""
    migrations = tmp_path / "migrations"
    v1 = build_app(database_url, migrations, models.v1, track_app, config=config)
    init_migrations(v1)
    first = migrate(v1, migrations, "create users and posts")
    invoke_ok(v1, "db", "upgrade")
    v2 = build_app(database_url, migrations, models.v2, track_app, config=config)
    second = migrate(v2, migrations, "add tags, handles and editors")
    return Scenario(v1, v2, migrations, first, second)


def snapshot(app: Flask) -> dict[str, Any]:
    """Everything the migrations create, as comparable data (order of columns aside)."""
    with app.app_context(), sqlalchemy_of(app).engine.connect() as conn:
        return schema_of(conn)


def schema_of(conn: sa.Connection) -> dict[str, Any]:
    """:func:`snapshot` of the database behind ``conn``."""
    inspector = sa.inspect(conn)
    tables: dict[str, Any] = {}
    for name in sorted(inspector.get_table_names()):
        if name == "alembic_version":
            continue
        tables[name] = {
            "columns": sorted(
                (c["name"], str(c["type"]), bool(c["nullable"]))
                for c in inspector.get_columns(name)
            ),
            "pk": sorted(inspector.get_pk_constraint(name)["constrained_columns"]),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(name)
            ),
            "uniques": sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(name)
            ),
            "foreign_keys": sorted(
                (
                    f["name"],
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                )
                for f in inspector.get_foreign_keys(name)
            ),
            "checks": sorted(c["name"] for c in inspector.get_check_constraints(name)),
        }
    enums = getattr(inspector, "get_enums", None)
    types = sorted((e["name"], tuple(e["labels"])) for e in enums()) if enums else []
    return {"tables": tables, "enum_types": types}
