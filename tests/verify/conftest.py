"""Apps and histories for the ``flask db verify`` tests.

The standard history has two revisions: ``USERS`` (table ``users`` with a unique email) and
``ITEMS`` (table ``items`` with a foreign key to ``users`` and an index on ``slug``); the
standard models describe exactly that schema. Tests change one piece to provoke one check.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import click.testing
import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.pool import NullPool

from flask_safemigrate import SafeMigrate
from tests.conftest import AppTracker, init_migrations, invoke_json, write_revision

USERS = "a1a1a1a1a1a1"
ITEMS = "b2b2b2b2b2b2"

Models = Callable[[sa.MetaData], None]


def script(
    rev: str,
    down: str | Sequence[str] | None,
    upgrade: str,
    downgrade: str | None,
    *,
    message: str | None = None,
) -> str:
    """A revision script; ``upgrade``/``downgrade`` are function bodies (dedented here).

    ``downgrade=None`` writes no downgrade function at all.
    """
    down_literal = repr(tuple(down) if isinstance(down, list | tuple) else down)
    text = (
        f'"""{message or f"step {rev}"}\n\nRevision ID: {rev}\n"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f'revision = "{rev}"\ndown_revision = {down_literal}\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n{textwrap.indent(textwrap.dedent(upgrade).strip(), '    ')}\n"
    )
    if downgrade is not None:
        body = textwrap.indent(textwrap.dedent(downgrade).strip(), "    ")
        text += f"\n\ndef downgrade():\n{body}\n"
    return text


USERS_SCRIPT = script(
    USERS,
    None,
    """
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    """,
    'op.drop_table("users")',
    message="create users",
)

ITEMS_SCRIPT = script(
    ITEMS,
    USERS,
    """
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_items_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
    )
    op.create_index("ix_items_slug", "items", ["slug"])
    """,
    'op.drop_table("items")',
    message="create items",
)


def base_models(metadata: sa.MetaData) -> None:
    """The models that match ``USERS_SCRIPT`` + ``ITEMS_SCRIPT`` exactly."""
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(50), nullable=False),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", name="fk_items_user_id_users"),
            nullable=False,
        ),
        sa.Column("slug", sa.String(50), nullable=False),
        sa.Index("ix_items_slug", "slug"),
    )


class VerifyApp(Protocol):
    def __call__(
        self,
        database_url: str,
        *,
        models: Models | None = ...,
        scripts: Sequence[str] | None = ...,
        config: Mapping[str, Any] | None = ...,
        migrate_kwargs: Mapping[str, Any] | None = ...,
    ) -> Flask: ...


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


def versions_dir(app: Flask) -> Path:
    return Path(app.extensions["migrate"].directory) / "versions"


def script_path(app: Flask, revision: str) -> Path:
    return versions_dir(app) / f"{revision}_test.py"


def run_verify(app: Flask, *args: str) -> tuple[int, dict[str, Any], click.testing.Result]:
    """``flask db verify --format json ARGS``: exit code, parsed JSON, the raw result."""
    return invoke_json(app, "db", "verify", "--format", "json", *args)


def problems(data: Mapping[str, Any], check: str | None = None) -> list[dict[str, Any]]:
    return [p for p in data["problems"] if check is None or p["check"] == check]


def checks(data: Mapping[str, Any]) -> list[str]:
    return sorted(p["check"] for p in data["problems"])


@contextmanager
def engine_for(url: str | sa.URL) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def execute(url: str, *statements: str | sa.Executable) -> None:
    """Run statements on the database at ``url`` in one committed transaction."""
    with engine_for(url) as engine, engine.begin() as conn:
        for statement in statements:
            if isinstance(statement, str):
                conn.exec_driver_sql(statement)
            else:
                conn.execute(statement)
