"""Histories for the ``flask db auto-merge-heads`` tests.

:func:`rev` writes one revision script; the standard history is a root that creates ``users``
(``id``, ``email``) and branches that each do one thing to it. Tests build the branches they
need; nothing here touches a database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import click.testing
from flask import Flask

from tests.support.cli import invoke_json
from tests.support.revisions import revision_script, write_revision

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
    """Write a revision script into ``migrations/versions`` (see :func:`revision_script`)."""
    source = revision_script(
        revision, down, upgrade, downgrade, message=message, labels=labels, header=header
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
    """Signature of the ``merge_app`` fixture's factory."""

    def __call__(self, database_url: str | None = ...) -> tuple[Flask, Path]: ...


def run_merge(app: Flask, *args: str) -> tuple[int, dict[str, Any], click.testing.Result]:
    """``flask db auto-merge-heads --format json ARGS``: exit code, the JSON, the raw result."""
    return invoke_json(app, "db", "auto-merge-heads", "--format", "json", *args)


def new_scripts(before: dict[str, str], migrations: Path) -> list[str]:
    return sorted(set(snapshot(migrations)) - set(before))
