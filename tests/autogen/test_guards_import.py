"""Issue #17 item 10: scripts written by ``flask db revision``/``migrate`` import ``guards``,
so a guard written by hand as the README shows runs at deploy time."""

from __future__ import annotations

import stat
from pathlib import Path

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate.autogen import add_guards_import
from flask_safemigrate.lint import LintConfig, lint
from tests.autogen import models
from tests.autogen.scenario import build_app, migrate, new_script
from tests.support.apps import AppTracker, init_migrations
from tests.support.cli import invoke_ok
from tests.support.databases import table_names

IMPORT = "from flask_safemigrate import guards"

HAND_WRITTEN = """
    if guards.table_missing("tags"):
        op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True))
"""


def _no_models(db: SQLAlchemy) -> None:
    sa.Table("tags", db.metadata, sa.Column("id", sa.Integer, primary_key=True))


def _revision(app: object, migrations: Path, message: str) -> Path:
    before = set((migrations / "versions").glob("*.py"))
    invoke_ok(app, "db", "revision", "-m", message)  # type: ignore[arg-type]
    return new_script(migrations, before)


def _codes(path: Path) -> list[str]:
    report = lint([path], LintConfig())
    return [finding.code or "" for finding in report.findings if finding.code == "SM322"]


def test_a_hand_written_guard_in_a_new_revision_runs(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, _no_models, track_app, hook=None)
    init_migrations(app)
    script = _revision(app, migrations, "add the tags table by hand")
    text = script.read_text(encoding="utf-8")
    assert text.count(IMPORT) == 1
    lines = text.splitlines()
    # After the template's own imports, before the revision identifiers.
    assert lines.index(IMPORT) > lines.index("import sqlalchemy as sa")
    assert lines.index(IMPORT) < next(
        i for i, line in enumerate(lines) if line.startswith("revision")
    )

    script.write_text(text.replace("def upgrade():\n    pass\n", "def upgrade():" + HAND_WRITTEN))
    assert _codes(script) == []
    invoke_ok(app, "db", "safe-upgrade", "--no-backup")
    assert "tags" in table_names(database_url)


def test_migrate_writes_the_import_once(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, models.v1, track_app)
    init_migrations(app)
    script = migrate(app, migrations, "create users and posts")
    assert script.read_text(encoding="utf-8").count(IMPORT) == 1


def test_without_idempotent_an_empty_revision_gets_no_import(
    tmp_path: Path, track_app: AppTracker
) -> None:
    migrations = tmp_path / "migrations"
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = build_app(
        url, migrations, _no_models, track_app, hook=None, config={"SAFEMIGRATE_IDEMPOTENT": False}
    )
    init_migrations(app)
    script = _revision(app, migrations, "add the tags table by hand")
    assert IMPORT not in script.read_text(encoding="utf-8")


def test_lint_reports_guards_without_the_import(tmp_path: Path) -> None:
    """What a script from before SafeMigrate looks like once a guard is added by hand."""
    script = tmp_path / "versions" / "1a2b3c4d5e6f_add_tags.py"
    script.parent.mkdir()
    script.write_text(
        '"""add tags"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        "revision = '1a2b3c4d5e6f'\ndown_revision = None\n\n\ndef upgrade():"
        + HAND_WRITTEN
        + "\n\ndef downgrade():\n    pass\n"
    )
    assert _codes(script) == ["SM322"]
    result = invoke_lint(script)
    assert result[0] == 1 and "SM322" in result[1] and "never imports guards" in result[1]
    assert add_guards_import(script)
    assert _codes(script) == []


def invoke_lint(path: Path) -> tuple[int, str]:
    from click.testing import CliRunner

    from flask_safemigrate.console import main

    result = CliRunner().invoke(main, ["lint", "--select", "guards-not-imported", str(path)])
    return result.exit_code, result.output


def test_add_guards_import_keeps_endings_mode_and_existing_imports(tmp_path: Path) -> None:
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(b'"""doc"""\r\nimport sqlalchemy as sa\r\n\r\nrevision = "x"\r\n')
    crlf.chmod(0o640)
    assert add_guards_import(crlf)
    assert crlf.read_bytes() == (
        b'"""doc"""\r\nimport sqlalchemy as sa\r\n'
        + IMPORT.encode()
        + b'\r\n\r\nrevision = "x"\r\n'
    )
    assert stat.S_IMODE(crlf.stat().st_mode) == 0o640
    assert not add_guards_import(crlf)  # already there: unchanged

    docstring_only = tmp_path / "doc.py"
    docstring_only.write_text('"""only a docstring"""\nrevision = "y"\n')
    assert add_guards_import(docstring_only)
    assert docstring_only.read_text().splitlines()[1] == IMPORT

    broken = tmp_path / "broken.py"
    broken.write_text("def upgrade(:\n")
    assert not add_guards_import(broken)
    assert broken.read_text() == "def upgrade(:\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.py", "crlf.py", "doc.py"]

    aliased = tmp_path / "aliased.py"
    aliased.write_text("import flask_safemigrate.guards as guards\n")
    assert not add_guards_import(aliased)
    unused = tmp_path / "unused.py"
    unused.write_text("import os\n")
    assert not add_guards_import(unused, only_when_used=True)
