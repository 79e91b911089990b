"""docs/expand-contract.md's rename recipe, followed step by step with safe-upgrade: every
release deploys (lint, the compat check with the release before, post-verify) and inserts.

Release N maps ``users.name`` (NOT NULL); N+1 adds ``display_name`` with the ``default=``
that copies ``name``, makes ``name`` nullable, and backfills in a revision of its own; N+2
maps only ``display_name`` (NOT NULL), ``name`` hidden by ``include_object``; N+3 drops
``name`` with the ``ignore[drop-column]`` marker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.support.apps import AppTracker, init_migrations
from tests.support.cli import invoke_json
from tests.support.revisions import revision_script, write_revision

R1, R2, R3, R4, R5 = (f"b{n}b{n}b{n}b{n}b{n}b{n}" for n in range(1, 6))

NAME = "sa.String(length=80)"
SCRIPTS = {
    "N": [
        revision_script(
            R1,
            None,
            f"""
            op.create_table(
                "users",
                sa.Column("id", sa.Integer(), nullable=False),
                sa.Column("name", {NAME}, nullable=False),
                sa.PrimaryKeyConstraint("id", name="pk_users"),
            )
            """,
            'op.drop_table("users")',
        )
    ],
    "N+1": [
        revision_script(
            R2,
            R1,
            f"""
            with op.batch_alter_table("users") as batch_op:
                batch_op.add_column(sa.Column("display_name", {NAME}, nullable=True))
                batch_op.alter_column("name", existing_type={NAME}, nullable=True)
            """,
            f"""
            with op.batch_alter_table("users") as batch_op:
                batch_op.alter_column("name", existing_type={NAME}, nullable=False)
                batch_op.drop_column("display_name")
            """,
        ),
        revision_script(
            R3,
            R2,
            'op.execute("UPDATE users SET display_name = name WHERE display_name IS NULL")',
            'op.execute("UPDATE users SET display_name = NULL")',
        ),
    ],
    "N+2": [
        revision_script(
            R4,
            R3,
            f"""
            with op.batch_alter_table("users") as batch_op:
                batch_op.alter_column("display_name", existing_type={NAME}, nullable=False)
            """,
            f"""
            with op.batch_alter_table("users") as batch_op:
                batch_op.alter_column("display_name", existing_type={NAME}, nullable=True)
            """,
        )
    ],
    "N+3": [
        revision_script(
            R5,
            R4,
            """
            with op.batch_alter_table("users") as batch_op:
                batch_op.drop_column("name")  # safemigrate: ignore[drop-column] -- N+2 unmapped it
            """,
            'raise RuntimeError("one way")',
        )
    ],
}


def copy_name(ctx: Any) -> Any:
    return ctx.get_current_parameters()["name"]


def columns(release: str) -> list[sa.Column[Any]]:
    if release == "N":
        return [sa.Column("name", sa.String(80), nullable=False)]
    if release == "N+1":
        return [
            sa.Column("name", sa.String(80), nullable=True),
            sa.Column("display_name", sa.String(80), default=copy_name),
        ]
    return [sa.Column("display_name", sa.String(80), nullable=False)]


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare: Any) -> bool:
    return not (type_ == "column" and (obj.table.name, name) == ("users", "name"))


def release_app(url: str, tmp_path: Path, track_app: AppTracker, release: str) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(SQLALCHEMY_DATABASE_URI=url, TESTING=True, SAFEMIGRATE_BACKUP=False)
    db = SQLAlchemy()
    sa.Table(
        "users", db.metadata, sa.Column("id", sa.Integer(), primary_key=True), *columns(release)
    )
    db.init_app(app)
    track_app(app)
    hook = {"include_object": include_object} if release == "N+2" else {}
    migrations = tmp_path / "migrations"
    SafeMigrate(app, db, directory=migrations, **hook)
    if not migrations.exists():
        init_migrations(app)
    for source in SCRIPTS[release]:
        write_revision(migrations, source)
    return app


def test_every_step_of_the_rename_recipe_deploys_and_inserts(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    for release in ("N", "N+1", "N+2", "N+3"):
        app = release_app(database_url, tmp_path, track_app, release)
        code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
        assert code == 0, (release, data)
        warned = [p["check"] for p in data["problems"] if p["severity"] != "info"]
        assert "data-and-schema-mixed" not in warned, (release, data["problems"])
        assert data["compat"]["findings"] == 0, (release, data)
        code, verified, _ = invoke_json(app, "db", "verify", "--format", "json")
        assert (code, verified["problems"]) == (0, []), (release, verified["problems"])
        values = {"name": "ann"} if release in ("N", "N+1") else {"display_name": "ann"}
        with app.app_context():
            db = app.extensions["sqlalchemy"]
            db.session.execute(db.metadata.tables["users"].insert().values(**values))
            db.session.commit()
            if release == "N+1":  # the default= wrote both
                row = db.session.execute(sa.text("SELECT name, display_name FROM users")).first()
                assert tuple(row) == ("ann", "ann")
