"""Flask-Migrate's multi-database template: every bind is verified (and roundtripped)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import flask_migrate
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.support.apps import AppTracker
from tests.support.cli import invoke_ok
from tests.support.databases import empty_sqlite, sqlite_url
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
    logs = empty_sqlite(tmp_path / "logs.db")
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


def test_compat_with_checks_every_bind(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    """The snapshot has one entry per bind, and ``--compat-with`` compares each bind's own
    tables: the previous release mapped ``events.kind`` on ``logs``, which the history lacks."""
    logs = sqlite_url(tmp_path / "logs.db")
    previous = multidb_app(database_url, logs, tmp_path, track_app, extra=True)
    invoke_ok(previous, "db", "snapshot")
    snapshot = tmp_path / "migrations" / "models.snapshot.json"
    release = tmp_path / "release-1.json"
    snapshot.rename(release)
    data = json.loads(release.read_text(encoding="utf-8"))
    assert [(d["bind"], sorted(d["tables"])) for d in data["databases"]] == [
        (None, ["users"]),
        ("logs", ["events"]),
    ]
    app = multidb_app(database_url, logs, tmp_path, track_app)
    code, report, _ = run_verify(app, "--no-db", "--compat-with", str(release))
    assert code == 1
    [found] = problems(report, "breaks-previous-release")
    assert (found["table"], found["column"], found["bind"]) == ("events", "kind", "logs")
    assert found["message"].startswith("events.kind (bind 'logs'): column dropped or renamed")
    # The release that no longer maps it (the expand/contract's first step) is compatible.
    invoke_ok(app, "db", "snapshot")
    code, report, _ = run_verify(app, "--no-db", "--compat-with", str(snapshot))
    assert (code, report["problems"]) == (0, [])
