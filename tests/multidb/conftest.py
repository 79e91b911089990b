"""Two-bind apps on Flask-Migrate's multi-database template, on real database pairs.

``binds`` gives two fresh databases per test: the default one and the ``logs`` bind, as
SQLite + PostgreSQL and PostgreSQL + MariaDB. ``multidb_app`` builds an app on them with
``flask db init --multidb`` migrations and the two revisions below (or the scripts given).

History: ``FIRST`` creates ``users`` (default) and ``events`` (logs); ``SECOND`` adds
``users.name`` (default) and creates ``audit`` (logs). ``second_script(fail=True)`` ends the
logs half of ``SECOND`` with an insert into a table that does not exist: the failure on the
second bind, after the default bind ran both revisions and the logs bind ran ``FIRST``.
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.pool import NullPool

from flask_safemigrate import SafeMigrate, ledger
from tests.conftest import AppTracker, invoke_json, write_revision
from tests.databases import (
    PROBE_TIMEOUT,
    DbKind,
    probe,
    require_server,
    scratch_database,
    server_url,
    sqlite_url,
)

FIRST = "f1f1f1f1f1f1"
SECOND = "f2f2f2f2f2f2"


@dataclass(frozen=True)
class Binds:
    """The two databases of one test: kinds and URLs (passwords included)."""

    kinds: tuple[DbKind, DbKind]
    default: str
    logs: str


PAIRS = [
    pytest.param(("sqlite", "postgresql"), marks=pytest.mark.postgresql, id="sqlite+postgresql"),
    pytest.param(
        ("postgresql", "mysql"),
        marks=[pytest.mark.postgresql, pytest.mark.mysql],
        id="postgresql+mariadb",
    ),
]


@pytest.fixture(params=PAIRS)
def binds(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    server_probes: dict[str, str | None],
    track_app: AppTracker,
) -> Iterator[Binds]:
    kinds: tuple[DbKind, DbKind] = request.param
    with contextlib.ExitStack() as stack:
        urls = []
        for number, kind in enumerate(kinds):
            if kind == "sqlite":
                urls.append(sqlite_url(tmp_path / f"bind{number}.db"))
                continue
            url = server_url(kind)
            if kind not in server_probes:
                server_probes[kind] = probe(url, PROBE_TIMEOUT)
            error = server_probes[kind]
            if error is not None:
                require_server(kind, url, error=error)
            scratch = stack.enter_context(scratch_database(kind, url))
            urls.append(scratch.render_as_string(hide_password=False))
        stack.callback(track_app.dispose_all)  # runs first: engines go before the databases
        yield Binds(kinds, urls[0], urls[1])


def multidb_script(rev: str, down: str | None, default: str, logs: str, message: str) -> str:
    """A revision in the multi-database template's shape; bodies are ``upgrade``/``downgrade``
    pairs of source text for the default bind and the ``logs`` bind."""

    def body(text: str) -> str:
        return textwrap.indent(textwrap.dedent(text).strip(), "    ")

    up_default, down_default = default.split("---")
    up_logs, down_logs = logs.split("---")
    return (
        f'"""{message}\n\nRevision ID: {rev}\n"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        "from flask_safemigrate import guards\n\n"
        f'revision = "{rev}"\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n'
        "\n\ndef upgrade(engine_name):\n"
        '    globals()["upgrade_%s" % engine_name]()\n'
        "\n\ndef downgrade(engine_name):\n"
        '    globals()["downgrade_%s" % engine_name]()\n'
        f"\n\ndef upgrade_():\n{body(up_default)}\n"
        f"\n\ndef downgrade_():\n{body(down_default)}\n"
        f"\n\ndef upgrade_logs():\n{body(up_logs)}\n"
        f"\n\ndef downgrade_logs():\n{body(down_logs)}\n"
    )


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


@contextlib.contextmanager
def connection_to(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


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
        tables = set(inspector.get_table_names()) - {"alembic_version", "safemigrate_ledger"}
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
