"""docs/expand-contract.md's drop-column recipe and its "release without a migration" advice,
followed as written on the three databases.

Release N maps ``users.legacy`` (NOT NULL, no server default) and ``users.nickname``
(nullable). N+1 stops mapping both (``RETIRED``); ``legacy`` is made nullable in a revision
of its own, ``nickname`` needs no migration; ``flask db snapshot`` refreshes the committed
snapshot (``flask db migrate`` writes nothing for a change the hook hides). N+2 drops both,
marked for ``drop-column``. Each release deploys with safe-upgrade (lint, the compat check
with the release before, post-verify), verifies clean and inserts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.support.apps import AppTracker, init_migrations
from tests.support.cli import invoke, invoke_json
from tests.support.revisions import revision_script, write_revision

D1, D2, D3 = (f"d{n}d{n}d{n}d{n}d{n}d{n}" for n in range(1, 4))

CREATE = revision_script(
    D1,
    None,
    """
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=50), nullable=True),
        sa.Column("legacy", sa.Integer(), nullable=False),
        sa.Column("nickname", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    """,
    'op.drop_table("users")',
)
LEGACY_NULLABLE = revision_script(
    D2,
    D1,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("legacy", existing_type=sa.Integer(), nullable=True)
    """,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("legacy", existing_type=sa.Integer(), nullable=False)
    """,
)
DROP = revision_script(
    D3,
    D2,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("legacy")  # safemigrate: ignore[drop-column] -- unmapped since N+1
        batch_op.drop_column("nickname")  # safemigrate: ignore[drop-column] -- likewise
    """,
    'raise RuntimeError("one way")',
)

RETIRED = {("users", "legacy"), ("users", "nickname")}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare: Any) -> bool:
    return not (type_ == "column" and (obj.table.name, name) in RETIRED)


class Project:
    def __init__(self, url: str, tmp_path: Path, track_app: AppTracker) -> None:
        self.url, self.tmp_path, self.track_app = url, tmp_path, track_app
        self.migrations = tmp_path / "migrations"

    def release(self, name: str) -> Flask:
        app = Flask(__name__, instance_path=str(self.tmp_path / "instance"))
        app.config.update(SQLALCHEMY_DATABASE_URI=self.url, TESTING=True, SAFEMIGRATE_BACKUP=False)
        db = SQLAlchemy()
        columns = [
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("email", sa.String(50)),
        ]
        if name == "N":
            columns += [
                sa.Column("legacy", sa.Integer(), nullable=False),
                sa.Column("nickname", sa.String(40)),
            ]
        sa.Table("users", db.metadata, *columns)
        db.init_app(app)
        self.track_app(app)
        hook = {"include_object": include_object} if name == "N+1" else {}
        SafeMigrate(app, db, directory=self.migrations, **hook)
        if not self.migrations.exists():
            init_migrations(app)
        return app

    def deploys(self, app: Flask, values: dict[str, Any]) -> None:
        code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
        assert code == 0, data
        assert data["compat"]["findings"] == 0, data
        code, verified, _ = invoke_json(app, "db", "verify", "--format", "json")
        assert (code, verified["problems"]) == (0, []), verified["problems"]
        with app.app_context():
            db = app.extensions["sqlalchemy"]
            db.session.execute(db.metadata.tables["users"].insert().values(**values))
            db.session.commit()


def test_the_drop_recipe_deploys_every_release(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    project = Project(database_url, tmp_path, track_app)
    release_n = project.release("N")
    write_revision(project.migrations, CREATE)
    assert invoke(release_n, "db", "snapshot").exit_code == 0
    project.deploys(release_n, {"email": "a@example.com", "legacy": 1})

    # N+1: the models stop mapping both; autogenerate (the hook hides them) writes nothing,
    # so the committed snapshot still maps them and verify says so...
    release_n1 = project.release("N+1")
    versions = project.migrations / "versions"
    before = set(versions.iterdir())
    migrated = invoke(release_n1, "db", "migrate", "-m", "nothing")
    assert migrated.exit_code == 0, migrated.output
    assert set(versions.iterdir()) == before
    # (and, the revision that makes legacy nullable not written yet, that N+1's inserts
    # would fail: the recipe's first step)
    code, data, _ = invoke_json(release_n1, "db", "verify", "--format", "json")
    assert code == 1
    assert [(p["check"], p.get("column")) for p in data["problems"]] == [
        ("models-snapshot-stale", None),
        ("unmapped-required-column", "legacy"),
    ]
    # ... until `flask db snapshot` refreshes it.
    assert invoke(release_n1, "db", "snapshot").exit_code == 0
    code, data, _ = invoke_json(release_n1, "db", "verify", "--format", "json")
    assert [p["check"] for p in data["problems"]] == ["unmapped-required-column"]
    write_revision(project.migrations, LEGACY_NULLABLE)
    project.deploys(release_n1, {"email": "b@example.com"})

    # N+2: the drop, marked for lint; nothing the release before maps breaks.
    release_n2 = project.release("N+2")
    write_revision(project.migrations, DROP)
    assert invoke(release_n2, "db", "snapshot").exit_code == 0
    project.deploys(release_n2, {"email": "c@example.com"})
