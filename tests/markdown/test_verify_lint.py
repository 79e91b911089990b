"""``flask db verify --format markdown`` (with the release-compatibility result) and
``flask db lint`` / ``safemigrate lint --format markdown``."""

from __future__ import annotations

import shutil
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

import example_app
from flask_safemigrate import models_snapshot
from flask_safemigrate.console import main
from tests.markdown.support import headings, paragraphs, tables
from tests.support.apps import AppTracker
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import sqlite_url

FIXTURES = Path(__file__).resolve().parent.parent / "lint" / "fixtures"


def previous_release(path: Path) -> Path:
    """A snapshot of a release whose models still map ``users.legacy`` (NOT NULL), which the
    migrations never create: the new schema breaks it."""
    metadata = sa.MetaData()
    for table in example_app.db.metadata.tables.values():
        table.to_metadata(metadata)
    metadata.tables["users"].append_column(sa.Column("legacy", sa.Integer, nullable=False))
    data = {
        "format": models_snapshot.FORMAT,
        "databases": [{"bind": None, "tables": models_snapshot.describe_metadata(metadata)}],
    }
    path.write_text(models_snapshot.render(data), encoding="utf-8")
    return path


def test_verify_markdown_shows_checks_and_release_compatibility(
    tmp_path: Path, track_app: AppTracker
) -> None:
    app = track_app(
        example_app.create_app(
            {"SQLALCHEMY_DATABASE_URI": sqlite_url(tmp_path / "e.db"), "TESTING": True}
        )
    )
    invoke_ok(app, "db", "safe-upgrade", "--no-backup")
    old = previous_release(tmp_path / "old.snapshot.json")
    result = invoke(app, "db", "verify", "--compat-with", str(old), "--format", "markdown")
    assert result.exit_code == 1, result.output  # the previous release breaks: checks failed
    document = result.stdout
    assert headings(document, 3) == ["flask-safemigrate verify: ❌ failed"]
    (compat,) = [h for h in headings(document, 4) if h.startswith("Release compatibility")]
    assert compat.startswith("Release compatibility with ")
    assert compat.endswith("old.snapshot.json")  # the previous release, as verify names it
    (table,) = tables(document)
    assert table.header == ["Code", "Severity", "Where", "Message", "Instead"]
    (row,) = [r for r in table.rows if r[0] == "breaks-previous-release"]
    assert "users.legacy" in row[3]
    assert row[4]  # the expand/contract advice
    # The same command without --compat-with: passes, and says nothing of compatibility.
    clean = invoke(app, "db", "verify", "--format", "markdown")
    assert clean.exit_code == 0, clean.output
    assert headings(clean.stdout, 3) == ["flask-safemigrate verify: ✅ passed"]
    assert headings(clean.stdout, 4) == []
    assert "No findings." in paragraphs(clean.stdout)


def test_lint_markdown_per_file_with_the_safe_alternative(
    tmp_path: Path, track_app: AppTracker
) -> None:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    shutil.copy(FIXTURES / "drop-column.py", versions / "a1_drop_column.py")
    result = CliRunner().invoke(
        main, ["lint", "--format", "markdown", "--select", "SM102", str(tmp_path / "migrations")]
    )
    assert result.exit_code == 1, result.output
    document = result.stdout
    assert headings(document, 3) == ["flask-safemigrate lint: ❌ failed"]
    assert paragraphs(document)[1].startswith("1 file checked: ")
    (file_heading,) = headings(document, 4)
    assert file_heading.endswith("a1_drop_column.py")
    (table,) = tables(document)
    assert table.rows
    for code, severity, where, message, instead in table.rows:
        assert code == "SM102 drop-column"
        assert severity.endswith("error")
        assert where.startswith("a1_drop_column.py:")
        assert message and instead  # what is wrong, and the safe alternative

    # flask db lint gives the same document for the app's migrations.
    app = track_app(
        example_app.create_app(
            {"SQLALCHEMY_DATABASE_URI": sqlite_url(tmp_path / "e.db"), "TESTING": True}
        )
    )
    flask_lint = invoke(app, "db", "lint", "--format", "markdown")
    assert flask_lint.exit_code == 0, flask_lint.output
    assert headings(flask_lint.stdout, 3) == ["flask-safemigrate lint: ✅ passed"]
    assert paragraphs(flask_lint.stdout)[1] == "4 files checked: no findings."
