"""The example app upgrades with ``flask db safe-upgrade`` on every database."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

import example_app
from tests.support.apps import REPO_ROOT, AppTracker
from tests.support.cli import invoke, run_flask
from tests.support.databases import sqlite_url
from tests.upgrade.histories import json_of, ledger_rows

REVISIONS = ["eac99d14dc58", "9cc6a16d2bc0", "7ae4db413f4c", "50b556ad4f8b"]


def make(database_url: str, track_app: AppTracker) -> Flask:
    return track_app(
        example_app.create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    )


def test_example_app_safe_upgrade(database_url: str, track_app: AppTracker) -> None:
    app = make(database_url, track_app)
    first = invoke(app, "db", "safe-upgrade", "--no-backup", "--format", "json")
    assert first.exit_code == 0, first.output
    data = json_of(first.stdout)
    assert [step["revision"] for step in data["applied"]] == REVISIONS
    assert data["problems"] == []
    again = invoke(app, "db", "safe-upgrade", "--no-backup")
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-1] == f"Already at {REVISIONS[-1]}: nothing to apply."
    assert [row["revision"] for row in ledger_rows(database_url)] == REVISIONS
    assert invoke(app, "db", "verify").exit_code == 0


def test_real_flask_binary_backs_up_sqlite_by_default(tmp_path: Path) -> None:
    """What ``make demo`` runs, end to end, with the default backup of the SQLite file."""
    env = {
        "DATABASE_URL": sqlite_url(tmp_path / "e2e.db"),
        "SAFEMIGRATE_BACKUP_DIR": str(tmp_path / "backups"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    # A database without tables has nothing to back up (issue #17 item 9): the first run makes
    # the initial schema, the second is backed up before it applies the other three revisions.
    first = run_flask(
        ["db", "safe-upgrade", "eac99d14dc58"], app="example_app", env=env, cwd=tmp_path
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())
    done = run_flask(["db", "safe-upgrade"], app="example_app", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.splitlines()[-1].startswith("Applied 3 revisions in ")
    (backup,) = (tmp_path / "backups").iterdir()
    assert backup.stat().st_mode & 0o777 == 0o600
    assert f"backup: written to {backup}" in done.stdout
