"""Flask-Migrate's multi-database template: each bind's functions are guarded, and a migrate
with no change in any bind writes nothing (the stock hook waits for every bind's turn)."""

from __future__ import annotations

from pathlib import Path

import flask_migrate
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.autogen.scenario import migrate
from tests.support.apps import AppTracker
from tests.support.cli import invoke_ok
from tests.support.databases import sqlite_url


def multidb_app(
    database_url: str, logs_url: str, tmp_path: Path, track_app: AppTracker, *, later: bool = False
) -> Flask:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(SQLALCHEMY_DATABASE_URI=database_url, SQLALCHEMY_BINDS={"logs": logs_url})
    db = SQLAlchemy()
    db.Table("users", sa.Column("id", sa.Integer, primary_key=True), sa.Column("email", sa.Text))
    db.Table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), index=True),
        *([sa.Column("note", sa.Text)] if later else []),
        bind_key="logs",
    )
    db.init_app(app)
    track_app(app)
    SafeMigrate(app, db, directory=tmp_path / "migrations")
    return app


def test_every_bind_is_guarded_and_no_change_writes_nothing(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    app = multidb_app(database_url, sqlite_url(tmp_path / "logs.db"), tmp_path, track_app)
    migrations = tmp_path / "migrations"
    with app.app_context():
        flask_migrate.init(str(migrations), multidb=True)
    source = migrate(app, migrations, "create users and events").read_text(encoding="utf-8")
    upgrade_main = source.split("def upgrade_():", 1)[1].split("def downgrade_():", 1)[0]
    upgrade_logs = source.split("def upgrade_logs():", 1)[1].split("def downgrade_logs():")[0]
    assert "if guards.table_missing('users'):" in upgrade_main
    assert "if guards.table_missing('events'):" in upgrade_logs
    assert "if guards.index_missing('events', 'ix_events_kind'):" in upgrade_logs
    assert "if guards.table_exists('events'):" in source.split("def downgrade_logs():", 1)[1]

    invoke_ok(app, "db", "upgrade")
    invoke_ok(app, "db", "stamp", "base")
    invoke_ok(app, "db", "upgrade")  # both binds' upgrades, a second time
    before = sorted((migrations / "versions").iterdir())
    invoke_ok(app, "db", "migrate", "-m", "nothing changed anywhere")
    assert sorted((migrations / "versions").iterdir()) == before

    # A change in the second bind only: the first bind's empty turn must not drop the file.
    app = multidb_app(
        database_url, sqlite_url(tmp_path / "logs.db"), tmp_path, track_app, later=True
    )
    source = migrate(app, migrations, "add notes to events").read_text(encoding="utf-8")
    assert "if guards.column_missing('events', 'note'):" in source
