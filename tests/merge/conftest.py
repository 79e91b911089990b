"""Histories for the ``flask db auto-merge-heads`` tests.

:func:`rev` writes one revision script; the standard history is a root that creates ``users``
(``id``, ``email``) and branches that each do one thing to it. Tests build the branches they
need; nothing here touches a database.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import click.testing
import pytest
from flask import Flask

from tests.conftest import MakeApp, init_migrations, invoke_json, write_revision
from tests.databases import sqlite_url

ROOT = "a0a0a0a0a0a0"

ROOT_UPGRADE = """
op.create_table(
    "users",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("email", sa.String(length=50), nullable=True),
    sa.PrimaryKeyConstraint("id", name="pk_users"),
)
"""


def rev(
    migrations: Path,
    revision: str,
    down: str | Sequence[str] | None,
    upgrade: str = "pass",
    downgrade: str = "pass",
    *,
    message: str | None = None,
    labels: Sequence[str] | None = None,
    header: str = "",
) -> Path:
    """Write a revision script into ``migrations/versions``; bodies are dedented here."""
    down_literal = repr(tuple(down) if isinstance(down, list | tuple) else down)
    labels_literal = repr(tuple(labels)) if labels else "None"
    up = textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")
    back = textwrap.indent(textwrap.dedent(downgrade).strip(), "    ")
    source = (
        f'"""{message or f"step {revision}"}\n\nRevision ID: {revision}\n"""\n'
        f"import sqlalchemy as sa\nfrom alembic import op\n{header}\n"
        f'revision = "{revision}"\ndown_revision = {down_literal}\n'
        f"branch_labels = {labels_literal}\ndepends_on = None\n\n\n"
        f"def upgrade():\n{up}\n\n\ndef downgrade():\n{back}\n"
    )
    return write_revision(migrations, source)


def root(migrations: Path) -> Path:
    return rev(migrations, ROOT, None, ROOT_UPGRADE, 'op.drop_table("users")', message="users")


def snapshot(migrations: Path) -> dict[str, str]:
    """``name -> sha256`` of every script in ``versions/``: scripts must never change."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((migrations / "versions").glob("*.py"))
    }


class MergeApp(Protocol):
    def __call__(self, database_url: str | None = ...) -> tuple[Flask, Path]: ...


@pytest.fixture
def merge_app(make_app: MakeApp, tmp_path: Path) -> MergeApp:
    """An app with stock (single-database) migrations and no revisions yet.

    Without ``database_url`` it runs on a SQLite file that the merge never opens.
    """

    def make(database_url: str | None = None) -> tuple[Flask, Path]:
        app = make_app(database_url or sqlite_url(tmp_path / "unused.db"))
        return app, init_migrations(app)

    return make


def run_merge(app: Flask, *args: str) -> tuple[int, dict[str, Any], click.testing.Result]:
    """``flask db auto-merge-heads --format json ARGS``: exit code, the JSON, the raw result."""
    return invoke_json(app, "db", "auto-merge-heads", "--format", "json", *args)


def new_scripts(before: dict[str, str], migrations: Path) -> list[str]:
    return sorted(set(snapshot(migrations)) - set(before))
