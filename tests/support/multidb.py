"""Two-bind apps on Flask-Migrate's multi-database template, on real database pairs.

The ``binds`` fixture gives two fresh databases per test: the default one and the ``logs`` bind,
as SQLite + SQLite (no server needed), SQLite + PostgreSQL and PostgreSQL + MariaDB. A module
whose tests need a server on the ``logs`` bind (killing its session, cutting its lock) pins
``SERVER_PAIRS`` with ``pytest.mark.parametrize("binds", SERVER_PAIRS, indirect=True)``.
``multidb_app`` builds an app on them with ``flask db init --multidb`` migrations and the two
revisions below (or the scripts given).

History: ``FIRST`` creates ``users`` (default) and ``events`` (logs); ``SECOND`` adds
``users.name`` (default) and creates ``audit`` (logs). ``second_script(fail=True)`` ends the
logs half of ``SECOND`` with an insert into a table that does not exist: the failure on the
second bind, after the default bind ran both revisions and the logs bind ran ``FIRST``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate, ledger
from tests.support.apps import AppTracker
from tests.support.cli import invoke_json
from tests.support.databases import DbKind, connection_to
from tests.support.revisions import multidb_script, write_revision

FIRST = "f1f1f1f1f1f1"
SECOND = "f2f2f2f2f2f2"


@dataclass(frozen=True)
class Binds:
    """The two databases of one test: kinds and URLs (passwords included)."""

    kinds: tuple[DbKind, DbKind]
    default: str
    logs: str


SERVER_PAIRS = [
    pytest.param(("sqlite", "postgresql"), marks=pytest.mark.postgresql, id="sqlite+postgresql"),
    pytest.param(
        ("postgresql", "mysql"),
        marks=[pytest.mark.postgresql, pytest.mark.mysql],
        id="postgresql+mariadb",
    ),
]
#: Every pair; SQLite + SQLite runs the multi-database pipeline where no server is.
PAIRS = [pytest.param(("sqlite", "sqlite"), id="sqlite+sqlite"), *SERVER_PAIRS]


FIRST_SCRIPT = multidb_script(
    FIRST,
    None,
    """
    op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True))
    ---
    op.drop_table("users")
    """,
    """
    op.create_table("events", sa.Column("id", sa.Integer(), primary_key=True))
    ---
    op.drop_table("events")
    """,
    "users and events",
)


def second_script(*, fail: bool = False, guarded: bool = False) -> str:
    """``SECOND``; ``fail`` makes its logs half fail after creating ``audit``; ``guarded``
    skips creating ``audit`` when it is there (the fix after MariaDB kept it)."""
    create = 'op.create_table("audit", sa.Column("id", sa.Integer(), primary_key=True))'
    if guarded:
        create = f'if guards.table_missing("audit"):\n    {create}'
    failing = '\nop.execute("INSERT INTO no_such_table (id) VALUES (1)")' if fail else ""
    return multidb_script(
        SECOND,
        FIRST,
        """
        with op.batch_alter_table("users") as batch_op:
            batch_op.add_column(sa.Column("name", sa.String(length=50), nullable=True))
        ---
        with op.batch_alter_table("users") as batch_op:
            batch_op.drop_column("name")
        """,
        textwrap.dedent(create) + failing + '\n---\nop.drop_table("audit")',
        "names and audit",
    )


def models(db: SQLAlchemy) -> None:
    """The models at head: what post-upgrade verification compares each bind with."""
    db.Table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=True),
    )
    db.Table("events", sa.Column("id", sa.Integer, primary_key=True), bind_key="logs")
    db.Table("audit", sa.Column("id", sa.Integer, primary_key=True), bind_key="logs")


def multidb_app(
    binds: Binds,
    tmp_path: Path,
    track_app: AppTracker,
    *,
    scripts: Sequence[str] | None = None,
    logs_url: str | None = None,
    config: dict[str, Any] | None = None,
) -> Flask:
    """An app with a default database and a ``logs`` bind; migrations made once per test."""
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(
        SQLALCHEMY_DATABASE_URI=binds.default,
        SQLALCHEMY_BINDS={"logs": logs_url or binds.logs},
        TESTING=True,
        SAFEMIGRATE_CONNECT_TIMEOUT=2,
        SAFEMIGRATE_CONNECT_RETRIES=0,
        **(config or {}),
    )
    db = SQLAlchemy()
    models(db)
    db.init_app(app)
    track_app(app)
    directory = tmp_path / "migrations"
    SafeMigrate(app, db, directory=directory)
    if not directory.exists():
        with app.app_context():
            flask_migrate.init(str(directory), multidb=True)
    for source in (FIRST_SCRIPT, second_script()) if scripts is None else scripts:
        write_revision(directory, source)
    return app


def safe_upgrade(app: Flask, *args: str) -> tuple[int, dict[str, Any]]:
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json", *args)
    return code, data


@dataclass(frozen=True)
class State:
    """What one database holds: revision, tables (ledger and version table aside), ledger."""

    current: tuple[str, ...]
    tables: set[str]
    ledger: list[tuple[str, str, bool]]  # (revision, direction, success)
    columns: dict[str, set[str]]


def state_of(url: str) -> State:
    with connection_to(url) as connection:
        inspector = sa.inspect(connection)
        tables = set(inspector.get_table_names()) - {
            "alembic_version",
            "safemigrate_ledger",
            "safemigrate_release",
        }
        current: tuple[str, ...] = ()
        if inspector.has_table("alembic_version"):
            current = tuple(
                sorted(
                    str(row[0])
                    for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")
                )
            )
        entries = ledger.read_entries(connection)
        return State(
            current=current,
            tables=tables,
            ledger=[(e.revision, e.direction, e.success) for e in entries],
            columns={t: {c["name"] for c in inspector.get_columns(t)} for t in tables},
        )
