"""Histories and models for the ``flask db verify`` tests.

The standard history has two revisions: ``USERS`` (table ``users`` with a unique email) and
``ITEMS`` (table ``items`` with a foreign key to ``users`` and an index on ``slug``); the
standard models describe exactly that schema. Tests change one piece to provoke one check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import click.testing
import sqlalchemy as sa
from flask import Flask

from tests.support.cli import invoke_json
from tests.support.revisions import revision_script

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
    """A revision script; ``downgrade=None`` writes no downgrade function at all."""
    return revision_script(rev, down, upgrade, downgrade, message=message)


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
    """Signature of the ``verify_app`` fixture's factory."""

    def __call__(
        self,
        database_url: str,
        *,
        models: Models | None = ...,
        scripts: Sequence[str] | None = ...,
        config: Mapping[str, Any] | None = ...,
        migrate_kwargs: Mapping[str, Any] | None = ...,
    ) -> Flask: ...


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
