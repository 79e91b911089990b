"""Fixtures of the dedicated-schema tests: PostgreSQL apps whose tables live in ``app_ops``.

``db_kind`` is PostgreSQL here (the only database with schemas that SAFEMIGRATE_SCHEMA
supports); ``test_other_databases.py`` overrides it for MariaDB and SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.pool import NullPool

from tests.conftest import MakeApp, init_migrations
from tests.databases import DbKind

SCHEMA = "app_ops"


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_kind(request: pytest.FixtureRequest) -> DbKind:
    kind: DbKind = request.param
    return kind


def declare_models(schema: str | None, *, bio: bool = False) -> Callable[[SQLAlchemy], None]:
    """``users`` and ``items`` (a foreign key and its index) in ``schema``."""

    def declare(db: SQLAlchemy) -> None:
        args: dict[str, Any] = {"schema": schema} if schema else {}
        prefix = f"{schema}." if schema else ""

        class User(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "users"
            __table_args__ = args
            id = sa.Column(sa.Integer, primary_key=True)
            name = sa.Column(sa.String(50), nullable=False)
            if bio:
                biography = sa.Column(sa.Text, nullable=True)

        class Item(db.Model):  # type: ignore[name-defined,misc]
            __tablename__ = "items"
            __table_args__ = (sa.Index("ix_items_user_id", "user_id"), args)
            id = sa.Column(sa.Integer, primary_key=True)
            user_id = sa.Column(sa.ForeignKey(f"{prefix}users.id"), nullable=False)

    return declare


def users_revision(schema: str | None = SCHEMA, revision: str = "a1") -> str:
    """A hand-written revision creating ``users`` and ``items`` like :func:`declare_models`."""
    kw = f", schema={schema!r}" if schema else ""
    prefix = f"{schema}." if schema else ""
    return f'''
        """create users and items"""
        from alembic import op
        import sqlalchemy as sa

        revision = {revision!r}
        down_revision = None
        branch_labels = None
        depends_on = None


        def upgrade():
            op.create_table(
                "users",
                sa.Column("id", sa.Integer(), nullable=False),
                sa.Column("name", sa.String(length=50), nullable=False),
                sa.PrimaryKeyConstraint("id"){kw},
            )
            op.create_table(
                "items",
                sa.Column("id", sa.Integer(), nullable=False),
                sa.Column("user_id", sa.Integer(), nullable=False),
                sa.ForeignKeyConstraint(["user_id"], ["{prefix}users.id"]),
                sa.PrimaryKeyConstraint("id"){kw},
            )
            op.create_index("ix_items_user_id", "items", ["user_id"], unique=False{kw})


        def downgrade():
            op.drop_index("ix_items_user_id", table_name="items"{kw})
            op.drop_table("items"{kw})
            op.drop_table("users"{kw})
    '''


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


def tables_by_schema(url: str) -> dict[str, set[str]]:
    """Every user table of the database, by schema (system schemas left out)."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                schema: set(inspector.get_table_names(schema=schema))
                for schema in inspector.get_schema_names()
                if schema not in ("information_schema",) and not schema.startswith("pg_")
            }
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    """Run SQL on the test database (autocommit)."""
    engine = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def scalars(url: str, query: str) -> list[Any]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.exec_driver_sql(query).scalars())
    finally:
        engine.dispose()
