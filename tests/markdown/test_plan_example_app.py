"""``flask db safe-upgrade --dry-run --format markdown`` on the example app, on every database:
the plan of a pull request (issue #21) with SQL, lock levels and table sizes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

import example_app
from tests.markdown.support import code_blocks, headings, paragraphs, tables
from tests.support.apps import AppTracker
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import execute, scalars

FIRST, SLUG, BACKFILL, NOT_NULL = ["eac99d14dc58", "9cc6a16d2bc0", "7ae4db413f4c", "50b556ad4f8b"]
DIALECT_NAME = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL", "sqlite": "SQLite"}


def at_first_revision(database_url: str, track_app: AppTracker, rows: int) -> Flask:
    """The example app at its first revision with ``rows`` items (three revisions pending)."""
    app = track_app(
        example_app.create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    )
    invoke_ok(app, "db", "safe-upgrade", FIRST, "--no-backup")
    execute(
        database_url,
        sa.text("INSERT INTO users (id, username, email) VALUES (1, 'ann', 'ann@example.com')"),
        *(
            sa.text(f"INSERT INTO items (owner_id, title) VALUES (1, 'item {n}')")
            for n in range(rows)
        ),
    )
    return app


def dialect_of(database_url: str) -> str:
    name = sa.make_url(database_url).get_backend_name()
    return "mysql" if name == "mariadb" else name


def test_plan_shows_sql_locks_and_sizes(database_url: str, track_app: AppTracker) -> None:
    app = at_first_revision(database_url, track_app, rows=3)
    dialect = dialect_of(database_url)
    result = invoke(app, "db", "safe-upgrade", "--dry-run", "--format", "markdown")
    assert result.exit_code == 0, result.output
    document = result.stdout
    assert "preflight:" not in document  # progress goes to stderr: stdout is the document

    (title,) = headings(document, 3)
    assert title.startswith(
        f"flask-safemigrate plan: 3 pending revisions on {DIALECT_NAME[dialect]}"
    )
    assert "pre-flight passed" in title
    sections = headings(document, 4)
    assert sections[0] == "Table sizes"
    revisions = [s for s in sections if s[:1].isdigit()]
    assert revisions == [
        f"1. {SLUG} add items.slug with index",
        f"2. {BACKFILL} backfill items.slug from title",
        f"3. {NOT_NULL} make items.slug not null",
    ]

    found = tables(document)
    sizes = found[0]
    assert sizes.header == ["Table", "Size now"]
    assert sizes.rows[0][0] == "items"
    assert "3 rows" in sizes.rows[0][1]  # the rows inserted above, read live

    statements = [t for t in found if t.header[:4] == ["Line", "Statement", "Table", "Size"]]
    assert len(statements) == 2  # the backfill touches no table by a statement lint reads
    lock_columns = statements[0].header[4:]
    assert lock_columns == [
        name + (" (this database)" if key == dialect else "") for key, name in DIALECT_NAME.items()
    ]
    add_column = next(row for row in statements[0].rows if row[1].startswith("add_column"))
    assert add_column[2] == "items"
    assert add_column[3] == sizes.rows[0][1]
    postgresql, mysql, sqlite = add_column[4:]
    assert postgresql.startswith("ACCESS EXCLUSIVE:")
    assert mysql.startswith("metadata lock, INSTANT or INPLACE:")
    assert sqlite.startswith("database write lock: brief")
    # postgresql_concurrently=True is PostgreSQL's: MariaDB's column is the plain index build.
    create_index = next(row for row in statements[0].rows if row[1].startswith("create_index"))
    assert create_index[5].startswith("metadata lock, LOCK=NONE: online")

    blocks = code_blocks(document)
    slug_sql = next(content for info, content in blocks if f"-> {SLUG}" in content)
    assert "ALTER TABLE items ADD" in slug_sql
    assert f"version_num='{SLUG}'" in slug_sql
    assert f"version_num='{BACKFILL}'" not in slug_sql  # one revision's SQL per section
    # The backfill reads rows in Python: no SQL, the reason --sql gives instead.
    text = paragraphs(document)
    assert any(
        p.startswith(f"SQL not shown: revision {BACKFILL} (backfill items.slug from title)")
        for p in text
    )
    not_null = document.split(f"#### 3. `{NOT_NULL}`")[1]
    if dialect == "sqlite":
        # The batch block copies the table: --sql cannot write it, and the plan says so.
        (note,) = [p for p in paragraphs(not_null) if p.startswith("SQL not shown:")]
        assert f"revision {NOT_NULL} (make items.slug not null) cannot be written as SQL" in note
        assert "its batch_alter_table block on SQLite recreates the table" in note
        assert "copies the table (batch mode recreates it" in statements[1].rows[-1][6]
    else:
        (sql,) = [content for _, content in code_blocks(not_null)]
        assert f"-> {NOT_NULL}" in sql
        assert "NOT NULL" in sql

    # The JSON contract is unchanged: the dry run's JSON has no Markdown-only facts.
    as_json = invoke(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert "revisions" not in json.loads(as_json.stdout)


def test_markdown_needs_dry_run(database_url: str, track_app: AppTracker) -> None:
    app = at_first_revision(database_url, track_app, rows=0)
    result = invoke(app, "db", "safe-upgrade", "--format", "markdown")
    assert result.exit_code == 2
    assert "--format markdown is the plan of a dry run: it needs --dry-run" in result.output
    assert "Traceback" not in result.output
    # Nothing applied: the version table still holds the first revision.
    assert scalars(database_url, "SELECT version_num FROM alembic_version") == [FIRST]


DROP_TITLE = '''"""drop items.title

Revision ID: d1d1d1d1d1d1
Revises: 50b556ad4f8b
"""
from alembic import op

revision = "d1d1d1d1d1d1"
down_revision = "50b556ad4f8b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_column("title")


def downgrade():
    pass
'''


def test_a_blocked_plan_still_shows_each_revision_with_its_findings(
    database_url: str, track_app: AppTracker, tmp_path: Path
) -> None:
    """Pre-flight refuses a revision lint finds destructive (exit 3): the plan is what the
    reviewer needs most then, with the finding under the revision that causes it."""
    migrations = tmp_path / "migrations"
    shutil.copytree(example_app.MIGRATIONS_DIR, migrations)
    (migrations / "versions" / "d1d1d1d1d1d1_drop_items_title.py").write_text(DROP_TITLE)
    app = at_first_revision(database_url, track_app, rows=2)
    result = invoke(
        app, "db", "safe-upgrade", "-d", str(migrations), "--dry-run", "--format", "markdown"
    )
    assert result.exit_code == 3, result.output
    document = result.stdout
    (title,) = headings(document, 3)
    assert title.startswith("flask-safemigrate plan: 4 pending revisions")
    assert title.endswith("(❌ pre-flight failed)")
    last = document.split("#### 4. `d1d1d1d1d1d1`")[1]
    (statements, lint) = tables(last)
    assert statements.rows[0][1] == "drop_column (batch)"
    assert "2 rows" in statements.rows[0][3]
    codes = {row[0] for row in lint.rows}
    assert "SM102 drop-column" in codes
    row = next(row for row in lint.rows if row[0] == "SM102 drop-column")
    assert row[1].endswith("error")
    assert row[2] == "d1d1d1d1d1d1_drop_items_title.py:16"  # the drop_column line
    assert "items.title" in row[3]
    assert row[4]  # the safe alternative
    # The earlier revisions carry no finding of that script.
    assert "SM102" not in document.split("#### 4.")[0]
