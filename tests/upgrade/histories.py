"""A five-revision history and matching models for the safe-upgrade tests.

Each revision creates one table (``widgets``, ``gadgets``, ``parts``, ``tools``, ``boxes``),
guarded with ``if_not_exists`` so the scripts lint clean and converge when re-run. A revision
can be made to fail after its table was created (a statement on a table that does not exist),
which shows what each database keeps of a failed revision.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from tests.support.apps import init_migrations
from tests.support.cli import invoke_json
from tests.support.databases import nullpool_engine
from tests.support.revisions import revision_script, write_revision

TABLES = ("widgets", "gadgets", "parts", "tools", "boxes")
REVISIONS = ("a1000000wid1", "b2000000gad2", "c3000000par3", "d4000000too4", "e5000000box5")
FAIL_STATEMENT = "INSERT INTO no_such_table (id) VALUES (1)"


def revision_source(index: int, *, fail: bool = False, extra_upgrade: str = "") -> str:
    """The script of revision ``index`` (0-based); ``fail=True`` makes its upgrade fail."""
    rev, table = REVISIONS[index], TABLES[index]
    down = repr(REVISIONS[index - 1]) if index else "None"
    failing = f"\n    op.execute(sa.text({FAIL_STATEMENT!r}))" if fail else ""
    extra = textwrap.indent(textwrap.dedent(extra_upgrade).strip(), "    ")
    return (
        f'"""create the {table} table\n\nRevision ID: {rev}\n"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {rev!r}\ndown_revision = {down}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n"
        f"    op.create_table(\n        {table!r},\n"
        "        sa.Column('id', sa.Integer(), nullable=False),\n"
        "        sa.Column('name', sa.String(length=50), nullable=True),\n"
        f"        sa.PrimaryKeyConstraint('id', name='pk_{table}'),\n"
        "        if_not_exists=True,\n    )"
        f"{failing}" + (f"\n{extra}" if extra else "") + "\n\n\ndef downgrade():\n"
        f"    op.drop_table({table!r}, if_exists=True)\n"
    )


#: An ``extra_upgrade`` that commits what ran so far (an ``autocommit_block``), then fails:
#: the failure leaves the revision's table on every database, so the ledger blocks the next
#: run until ``--resolved`` (a failure that left nothing is resolved by itself, issue #17).
FAIL_AFTER_COMMIT = (
    f"with op.get_context().autocommit_block():\n    pass\nop.execute(sa.text({FAIL_STATEMENT!r}))"
)


def write_history(migrations: Path, *, count: int = 5, fail_at: int | None = None) -> list[Path]:
    """Write the first ``count`` revisions; revision ``fail_at`` (0-based) fails."""
    return [write_revision(migrations, revision_source(i, fail=i == fail_at)) for i in range(count)]


def models(tables: Sequence[str] = TABLES) -> Any:
    """A ``models(db)`` callback declaring ``tables`` exactly as the history creates them."""

    def declare(db: SQLAlchemy) -> None:
        for table in tables:
            sa.Table(
                table,
                db.metadata,
                sa.Column("id", sa.Integer(), nullable=False),
                sa.Column("name", sa.String(length=50), nullable=True),
                sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
            )

    return declare


def prepare(app: Flask, *, count: int = 5, fail_at: int | None = None) -> Path:
    """``flask db init`` for the app, then the history; returns the migrations directory."""
    migrations = init_migrations(app)
    write_history(migrations, count=count, fail_at=fail_at)
    return migrations


#: A table the app had before its migrations (declared by ``models((*TABLES, LEGACY))``): a
#: database holding it is not empty, so safe-upgrade backs it up (it skips an empty one).
LEGACY = "legacy"


def seed_legacy_table(url: str) -> None:
    """Create :data:`LEGACY` in the database, shaped as :func:`models` declares its tables."""
    engine = nullpool_engine(url)
    try:
        metadata = sa.MetaData()
        models((LEGACY,))(_MetadataOnly(metadata))
        metadata.create_all(engine)
    finally:
        engine.dispose()


class _MetadataOnly:
    """What :func:`models`' callback reads of a ``SQLAlchemy``: its ``metadata``."""

    def __init__(self, metadata: sa.MetaData) -> None:
        self.metadata = metadata


def tables_of(url: str) -> set[str]:
    engine = nullpool_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def versions_of(url: str) -> list[str]:
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return []
            return sorted(
                r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            )
    finally:
        engine.dispose()


def ledger_rows(url: str) -> list[dict[str, Any]]:
    """The ledger's rows as dicts, in insertion order ([] when the table does not exist)."""
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("safemigrate_ledger"):
                return []
            rows = conn.execute(sa.text("SELECT * FROM safemigrate_ledger ORDER BY id"))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def json_of(output: str) -> dict[str, Any]:
    """The one JSON object a ``--format json`` run wrote to stdout."""
    data = json.loads(output)
    assert isinstance(data, dict)
    return data


def fail_after_widgets(
    make_app: Any, url: str, rev: str, upgrade: str
) -> tuple[Flask, dict[str, Any]]:
    """The widgets revision, then ``rev`` (``upgrade`` is its body), run by ``safe-upgrade``
    without lint: the app and the ``migration-failed`` problem of the exit-4 report."""
    app = make_app(url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    migrations = prepare(app, count=1)
    write_revision(migrations, revision_script(rev, REVISIONS[0], upgrade))
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--skip-lint", "--format", "json")
    assert code == 4, data
    (problem,) = [p for p in data["problems"] if p["check"] == "migration-failed"]
    return app, problem
