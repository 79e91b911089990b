"""Bringing a test database to a revision in this process (seeding, not the thing under test)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.app import build_app
from tests.support.apps import dispose_app
from tests.support.cli import invoke_ok


def upgrade_in_process(url: str, migrations: Path, instance: Path, revision: str) -> None:
    """Plain ``flask db upgrade REVISION`` (Flask-Migrate's, no ledger), in this process."""
    app = build_app(url, migrations, instance)
    try:
        invoke_ok(app, "db", "upgrade", revision)
    finally:
        dispose_app(app)
