"""The example app's migrations pass `flask db verify` and `--roundtrip` on every database."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from flask import Flask

import example_app
from flask_safemigrate import models_snapshot
from flask_safemigrate.project import setup_of
from tests.support.apps import REPO_ROOT, AppTracker
from tests.support.cli import invoke, invoke_ok, run_flask
from tests.support.databases import empty_sqlite, engine_for, table_names
from tests.support.verify import problems, run_verify

HEAD = "50b556ad4f8b"


def make(database_url: str, track_app: AppTracker) -> Flask:
    return track_app(
        example_app.create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    )


def test_example_app_verifies_with_roundtrip(database_url: str, track_app: AppTracker) -> None:
    app = make(database_url, track_app)
    invoke_ok(app, "db", "upgrade")
    code, data, _ = run_verify(app, "--roundtrip")
    assert (code, data["problems"]) == (0, [])
    assert data == {
        "schema_version": 1,
        "ok": True,
        "heads": [HEAD],
        "current": [HEAD],
        "roundtrip": data["roundtrip"],
        "problems": [],
    }
    assert data["roundtrip"]["revisions"] == 4
    text = invoke(app, "db", "verify")
    assert text.exit_code == 0
    assert text.stdout.splitlines()[-1] == "All checks passed."


def test_example_app_with_server_defaults_compared(
    database_url: str, track_app: AppTracker
) -> None:
    """Its ``false``/``now()`` defaults are no drift on MariaDB either."""
    app = make(database_url, track_app)
    app.extensions["migrate"].configure_args["compare_server_default"] = True
    invoke_ok(app, "db", "upgrade")
    code, data, _ = run_verify(app)
    assert (code, data["problems"]) == (0, [])


def test_example_app_a_revision_behind(database_url: str, track_app: AppTracker) -> None:
    app = make(database_url, track_app)
    invoke_ok(app, "db", "upgrade", "7ae4db413f4c")
    code, data, _ = run_verify(app)
    assert code == 1
    (problem,) = data["problems"]
    assert problem["check"] == "not-at-head"
    assert problem["pending"] == [{"revision": HEAD, "message": "make items.slug not null"}]


def test_real_flask_binary(tmp_path: Path) -> None:
    """End to end through the real ``flask`` executable (SQLite, no server needed)."""
    env = {
        "DATABASE_URL": empty_sqlite(tmp_path / "e2e.db"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    before = run_flask(["db", "verify", "--format", "json"], app="example_app", env=env)
    assert before.returncode == 1, before.stderr
    assert json.loads(before.stdout)["problems"][0]["check"] == "not-at-head"
    assert run_flask(["db", "upgrade"], app="example_app", env=env).returncode == 0
    after = run_flask(["db", "verify", "--roundtrip"], app="example_app", env=env, cwd=tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr
    assert "All checks passed." in after.stdout
    assert "Traceback" not in after.stderr
    assert table_names(env["DATABASE_URL"]) == {"alembic_version", "users", "items"}
    with engine_for(env["DATABASE_URL"]) as engine, engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD


def test_flask_db_migrate_on_the_example_app_refreshes_its_snapshot(
    database_url: str, track_app: AppTracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #19's acceptance, on the example app itself: its migrations copied without the
    last revision (items.slug made NOT NULL, which the models say), `flask db migrate` writes
    that revision and the snapshot of the models beside it, which verify then finds fresh."""
    migrations = tmp_path / "migrations"
    shutil.copytree(
        example_app.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__")
    )
    (migrations / "versions" / f"{HEAD}_make_items_slug_not_null.py").unlink()
    monkeypatch.setattr(example_app, "MIGRATIONS_DIR", migrations)
    app = make(database_url, track_app)
    invoke_ok(app, "db", "upgrade")
    snapshot = migrations / "models.snapshot.json"
    assert not snapshot.exists()

    invoke_ok(app, "db", "migrate", "-m", "make items slug not null")

    (written,) = [p for p in (migrations / "versions").glob("*.py") if "slug_not_null" in p.name]
    assert "nullable=False" in written.read_text(encoding="utf-8")
    with app.app_context():
        expected = models_snapshot.render(models_snapshot.models_of(setup_of(app)))
    assert snapshot.read_text(encoding="utf-8") == expected
    assert (
        json.loads(expected)["databases"][0]["tables"]["items"]["columns"]["slug"]["nullable"]
        is False
    )
    invoke_ok(app, "db", "upgrade")
    code, data, _ = run_verify(app)
    assert problems(data, "models-snapshot-stale") == []
    assert code == 0, data
