"""The release record with SAFEMIGRATE_SCHEMA: written to and read from the dedicated schema,
and the next deploy compared with it (issue #19 part 3)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from tests.support.cli import invoke_json
from tests.support.databases import scalars, tables_by_schema
from tests.support.revisions import write_revision
from tests.support.schema import SCHEMA, declare_models, users_revision

AppFactory = Callable[..., Flask]

ADD_AGE = f'''
    """add users.age"""
    from alembic import op
    import sqlalchemy as sa

    revision = "b2"
    down_revision = "a1"
    branch_labels = None
    depends_on = None


    def upgrade():
        op.add_column("users", sa.Column("age", sa.Integer(), nullable=False), schema={SCHEMA!r})


    def downgrade():
        op.drop_column("users", "age", schema={SCHEMA!r})
'''


def with_age(db: SQLAlchemy) -> None:
    """The next release: ``users.age`` NOT NULL without a server default."""
    declare_models(SCHEMA)(db)
    db.metadata.tables[f"{SCHEMA}.users"].append_column(
        sa.Column("age", sa.Integer, nullable=False)
    )


def test_the_record_lives_in_the_schema_and_the_next_deploy_is_compared(
    schema_app: AppFactory, database_url: str
) -> None:
    app = schema_app()
    migrations = Path(app.extensions["migrate"].directory)
    write_revision(migrations, users_revision())
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data
    assert data["compat"]["recorded"] is True
    assert "safemigrate_release" in tables_by_schema(database_url)[SCHEMA]
    assert scalars(database_url, f"SELECT heads FROM {SCHEMA}.safemigrate_release") == ["a1"]

    write_revision(migrations, ADD_AGE)
    code, data, _ = invoke_json(
        schema_app(models=with_age), "db", "safe-upgrade", "--format", "json", "--skip-lint"
    )
    assert code == 3, data
    (problem,) = [p for p in data["problems"] if p["check"] == "breaks-previous-release"]
    assert (problem["table"], problem["column"], problem["change"]) == (
        f"{SCHEMA}.users",
        "age",
        "not-null-added",
    )
    assert data["current"] == ["a1"]


RENAME_NAME = f'''
    """rename users.name to full_name"""
    from alembic import op
    import sqlalchemy as sa

    revision = "b2"
    down_revision = "a1"
    branch_labels = None
    depends_on = None


    def upgrade():
        op.alter_column(
            "users",
            "name",
            new_column_name="full_name",
            existing_type=sa.String(length=50),
            existing_nullable=False,
            schema={SCHEMA!r},
        )


    def downgrade():
        pass
'''


def with_full_name(db: SQLAlchemy) -> None:
    """The next release: ``users.name`` (NOT NULL) is ``users.full_name``."""
    sa.Table(
        "users",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("full_name", sa.String(50), nullable=False),
        schema=SCHEMA,
    )
    sa.Table(
        "items",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.ForeignKey(f"{SCHEMA}.users.id"), nullable=False),
        sa.Index("ix_items_user_id", "user_id"),
        schema=SCHEMA,
    )


def test_a_column_renamed_in_the_schema_is_one_rename(schema_app: AppFactory) -> None:
    """The script names the table and its schema apart (``schema=``); the snapshot keys the
    table ``schema.users``: the rename is found all the same, and the new name's NOT NULL
    is not reported as a column added."""
    app = schema_app()
    migrations = Path(app.extensions["migrate"].directory)
    write_revision(migrations, users_revision())
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data

    write_revision(migrations, RENAME_NAME)
    code, data, _ = invoke_json(
        schema_app(models=with_full_name), "db", "safe-upgrade", "--format", "json", "--skip-lint"
    )
    assert code == 3, data
    (problem,) = [p for p in data["problems"] if p["check"] == "breaks-previous-release"]
    assert (problem["table"], problem["column"], problem["change"], problem["renamed_to"]) == (
        f"{SCHEMA}.users",
        "name",
        "column-renamed",
        "full_name",
    )
    assert data["current"] == ["a1"]
