"""verify/suite.py, the pytest plugin's built-in tests as functions: what the projects of
tests/pytest_plugin do not reach in a subprocess (``lint-pending``'s base as a git ref)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from flask_safemigrate.errors import ConfigError
from flask_safemigrate.project import setup_of
from flask_safemigrate.verify import suite
from tests.support.apps import migrations_dir
from tests.support.databases import sqlite_url
from tests.support.revisions import write_revision
from tests.support.verify import ITEMS, ITEMS_SCRIPT, USERS, USERS_SCRIPT, VerifyApp


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_pending_since_a_git_ref_or_a_revision(verify_app: VerifyApp, tmp_path: Path) -> None:
    app = verify_app(sqlite_url(tmp_path / "app.db"), scripts=[USERS_SCRIPT])
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "first release")
    git(tmp_path, "tag", "v1")
    write_revision(migrations_dir(app), ITEMS_SCRIPT)  # not committed: new on this branch
    with app.app_context():
        setup = setup_of(app)
    assert suite.pending_since(setup, "v1") == {ITEMS}
    assert suite.pending_since(setup, USERS) == {ITEMS}
    assert suite.pending_since(setup, ITEMS) == set()
    with pytest.raises(ConfigError, match="neither a revision of the history nor a git ref"):
        suite.pending_since(setup, "no-such-ref")
