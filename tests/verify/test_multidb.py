"""Flask-Migrate's multi-database template: every bind is verified (and roundtripped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask_migrate
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.support.apps import AppTracker
from tests.support.cli import invoke_ok
from tests.support.databases import sqlite_url
from tests.support.revisions import write_revision
from tests.support.verify import problems, run_verify

REVISION = "abcabcabcabc"
MULTIDB_SCRIPT = f'''\
"""users and events

Revision ID: {REVISION}
"""
import sqlalchemy as sa
from alembic import op

revision = "{REVISION}"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade_():
    op.drop_table("users")


def upgrade_logs():
    op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade_logs():
    op.drop_table("events")
'''


def multidb_app(
    database_url: str, logs_url: str, tmp_path: Path, track_app: AppTracker, *, extra: bool = False
) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_BINDS={"logs": logs_url},
        SAFEMIGRATE_CONNECT_RETRIES=0,
    )
    db = SQLAlchemy()
    db.Table("users", sa.Column("id", sa.Integer, primary_key=True))
    columns: list[sa.Column[Any]] = [sa.Column("id", sa.Integer, primary_key=True)]
    if extra:
        columns.append(sa.Column("kind", sa.String(20)))
    db.Table("events", *columns, bind_key="logs")
    db.init_app(app)
    track_app(app)
    directory = tmp_path / "migrations"
    SafeMigrate(app, db, directory=directory)
    if not directory.exists():
        with app.app_context():
            flask_migrate.init(str(directory), multidb=True)
        write_revision(directory, MULTIDB_SCRIPT)
    return app


def test_every_bind_is_checked_and_roundtripped(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    logs = sqlite_url(tmp_path / "logs.db")
    app = multidb_app(database_url, logs, tmp_path, track_app)
    code, data, _ = run_verify(app)
    assert code == 1
    behind = problems(data, "not-at-head")
    assert len(behind) == 2
    assert "(bind 'logs')" not in behind[0]["message"]
    assert behind[1]["message"].startswith(f"Database {logs} (bind 'logs') is at base")
    assert [d["bind"] for d in data["databases"]] == [None, "logs"]

    invoke_ok(app, "db", "upgrade")
    code, data, _ = run_verify(app, "--roundtrip")
    assert (code, data["problems"]) == (0, [])
    assert [d["current"] for d in data["databases"]] == [[REVISION], [REVISION]]
    assert data["roundtrip"]["revisions"] == 1
    assert data["roundtrip"]["scratch"].count("sm_verify_") == 2

    drifted = multidb_app(database_url, logs, tmp_path, track_app, extra=True)
    code, data, _ = run_verify(drifted, "--roundtrip")
    assert code == 1
    assert sorted(p["message"] for p in problems(data, "schema-drift")) == [
        f"events.kind: column missing in database (database {logs} (bind 'logs'))",
        "events.kind: column missing in database (scratch bind 'logs' after upgrading from"
        " base to head)",
    ]
