"""`flask db lint` and `safemigrate lint`: options, configuration, formats, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import sqlite_url
from tests.support.revisions import write_revision

SAFEMIGRATE = Path(sys.executable).parent / "safemigrate"

HEADER = '''\
"""{message}

Revision ID: {rev}
Revises: {down}
Create Date: 2026-01-01 00:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = {down_literal}
branch_labels = None
depends_on = None
'''


def script(rev: str, down: str | None, upgrade: str, downgrade: str, message: str = "") -> str:
    head = HEADER.format(
        message=message or f"step {rev}",
        rev=rev,
        down=down or "",
        down_literal=repr(down),
    )
    return f"{head}\n\ndef upgrade():\n{upgrade}\n\n\ndef downgrade():\n{downgrade}\n"


CREATE = script(
    "a1a1a1a1a1a1",
    None,
    '    op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True),'
    " if_not_exists=True)",
    '    op.drop_table("users", if_exists=True)',
    message="create users",
)
DROP = script(
    "b2b2b2b2b2b2",
    "a1a1a1a1a1a1",
    '    op.drop_column("users", "email", if_exists=True)',
    '    op.add_column("users", sa.Column("email", sa.String(120)), if_not_exists=True)',
    message="drop users.email",
)


@pytest.fixture
def app(make_app: MakeApp, tmp_path: Path) -> Flask:
    app = make_app(sqlite_url(tmp_path / "app.db"))
    directory = init_migrations(app)
    write_revision(directory, CREATE)
    return app


def test_findings_grouped_by_file_with_severity_and_help(app: Flask) -> None:
    path = write_revision(Path(app.extensions["migrate"].directory), DROP)
    result = invoke(app, "db", "lint")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    number = next(n for n, ln in enumerate(lines) if "SM102" in ln)
    line = lines[number]
    assert line.startswith("  18:5 error   SM102 [drop-column] ")
    assert "users.email" in line
    header = max(n for n in range(number) if not lines[n].startswith(" "))
    assert lines[header].endswith(path.name)  # the file's header line above its findings
    assert lines[number + 1].startswith("    help: ")
    assert all(
        ln.split()[1] in {"error", "warning", "info"}
        for ln in lines[header + 1 :]
        if ln.startswith("  ") and not ln.startswith("    ")
    )  # severity on every finding line
    assert lines[-1].startswith("Found ") and "SM102 x1" in lines[-1]


def test_clean_history_exits_0(app: Flask) -> None:
    result = invoke_ok(app, "db", "lint")
    assert "All checks passed." in result.output


def test_json_output(app: Flask) -> None:
    write_revision(Path(app.extensions["migrate"].directory), DROP)
    result = invoke(app, "db", "lint", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["summary"]["files"] == 2
    assert data["summary"]["errors"] >= 1
    codes = {f["code"] for f in data["findings"]}
    assert "SM102" in codes
    drop = next(f for f in data["findings"] if f["code"] == "SM102")
    assert set(drop) >= {"code", "rule", "severity", "path", "line", "col", "message"}


def test_select_ignore_and_fail_on(app: Flask, make_app: MakeApp, tmp_path: Path) -> None:
    directory = Path(app.extensions["migrate"].directory)
    write_revision(directory, DROP)
    assert invoke(app, "db", "lint", "--ignore", "drop-column").exit_code == 0
    assert invoke(app, "db", "lint", "--ignore", "SM1").exit_code == 0
    only = invoke(app, "db", "lint", "--select", "SM102", "--format", "json")
    assert {f["code"] for f in json.loads(only.stdout)["findings"]} == {"SM102"}

    lowered = make_app(
        sqlite_url(tmp_path / "lowered.db"),
        migrations=directory,
        config={"SAFEMIGRATE_LINT_SEVERITY": {"drop-column": "warning"}},
    )
    assert invoke(lowered, "db", "lint", "--select", "drop-column").exit_code == 0
    failing = invoke(lowered, "db", "lint", "--select", "drop-column", "--fail-on", "warning")
    assert failing.exit_code == 1


def test_unknown_rule_is_a_usage_error(app: Flask) -> None:
    result = invoke(app, "db", "lint", "--select", "no-such-rule")
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == "Error: unknown lint rule 'no-such-rule'"
    assert "Traceback" not in result.output


def test_a_misspelt_rule_gets_the_names_it_is_close_to(app: Flask) -> None:
    """As `--explain` does: the typo is named, with the rule it is close to (was only the
    generic advice)."""
    for option in ("--select", "--ignore"):
        result = invoke(app, "db", "lint", option, "drop-colum")
        assert result.exit_code == 2
        assert result.stderr.splitlines()[1] == (
            "  help: did you mean drop-column? use a rule name such as drop-column or a code"
            " such as SM102; `flask db lint --explain RULE` describes one"
        )


def test_explain(app: Flask) -> None:
    result = invoke_ok(app, "db", "lint", "--explain", "SM102")
    assert result.output.startswith("SM102 drop-column")
    assert "## Use instead" in result.output
    assert invoke(app, "db", "lint", "--explain", "nope").exit_code == 2


def test_explain_a_misspelt_rule_suggests_the_name(app: Flask) -> None:
    """The help pointed at docs/rules.md, which an installed package does not have."""
    result = invoke(app, "db", "lint", "--explain", "drop-colum")
    assert result.exit_code == 2
    assert "  help: did you mean drop-column" in result.output
    assert "docs/rules.md" not in invoke(app, "db", "lint", "--explain", "nope").output


def test_missing_migrations_directory(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(sqlite_url(tmp_path / "x.db"), migrations=tmp_path / "absent")
    result = invoke(app, "db", "lint")
    assert result.exit_code == 2
    assert "no migrations directory" in result.output


def test_invalid_setting_is_exit_2(make_app: MakeApp, tmp_path: Path) -> None:
    app = make_app(sqlite_url(tmp_path / "x.db"), config={"SAFEMIGRATE_LINT_FAIL_ON": "fatal"})
    init_migrations(app)
    result = invoke(app, "db", "lint")
    assert result.exit_code == 2
    assert "SAFEMIGRATE_LINT_FAIL_ON" in result.output.splitlines()[0]


def test_pyproject_and_flask_config(make_app: MakeApp, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.safemigrate.lint]\nignore = ["drop-column"]\nfail-on = "info"\n'
    )
    app = make_app(sqlite_url(tmp_path / "p.db"), migrations=project / "migrations")
    directory = init_migrations(app)
    write_revision(directory, CREATE)
    write_revision(directory, DROP)
    assert invoke(app, "db", "lint", "--select", "drop-column").exit_code == 0

    flask_wins = make_app(
        sqlite_url(tmp_path / "q.db"),
        migrations=directory,
        config={"SAFEMIGRATE_LINT_IGNORE": []},
    )
    assert invoke(flask_wins, "db", "lint", "--select", "drop-column").exit_code == 1


def test_suppressions(app: Flask) -> None:
    directory = Path(app.extensions["migrate"].directory)
    write_revision(
        directory,
        DROP.replace(
            "if_exists=True)\n\n\ndef downgrade",
            "if_exists=True)  # safemigrate: ignore[drop-column] -- unused since v2\n\n\n"
            "def downgrade",
        ),
    )
    assert invoke(app, "db", "lint", "--select", "drop-column").exit_code == 0
    unused = write_revision(
        directory,
        script(
            "c3c3c3c3c3c3",
            "b2b2b2b2b2b2",
            "    pass  # safemigrate: ignore[drop-table]",
            "    pass",
            message="nothing",
        ),
    )
    result = invoke(app, "db", "lint", "--report-unused-ignores", "--format", "json")
    unused_findings = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "SM900"]
    assert [Path(f["path"]).name for f in unused_findings] == [unused.name]


def test_since_and_pending(app: Flask) -> None:
    directory = Path(app.extensions["migrate"].directory)
    write_revision(directory, DROP)
    since = invoke(app, "db", "lint", "--since", "a1a1a1a1a1a1", "--format", "json")
    assert {Path(f["path"]).name for f in json.loads(since.stdout)["findings"]} == {
        "b2b2b2b2b2b2_test.py"
    }
    invoke_ok(app, "db", "upgrade", "a1a1a1a1a1a1")
    pending = invoke(app, "db", "lint", "--pending", "--format", "json")
    assert json.loads(pending.stdout)["summary"]["files"] == 1
    invoke(app, "db", "stamp", "head")
    assert json.loads(invoke(app, "db", "lint", "--pending", "--format", "json").stdout)[
        "summary"
    ] == {"files": 0, "errors": 0, "warnings": 0, "infos": 0}
    bad = invoke(app, "db", "lint", "--since", "zzzz")
    assert bad.exit_code == 2


def test_since_and_pending_report_a_new_script_that_does_not_parse(app: Flask) -> None:
    """Its revision cannot be read, so it is not known to be old or applied: a gate on the
    new scripts that left it out would check nothing and pass a script that breaks the
    upgrade (a newcomer's trial)."""
    directory = Path(app.extensions["migrate"].directory)
    invoke_ok(app, "db", "stamp", "a1a1a1a1a1a1")  # before Alembic meets the broken script
    broken = directory / "versions" / "c3c3c3c3c3c3_broken.py"
    broken.write_text(
        'revision = "c3c3c3c3c3c3"\ndown_revision = "a1a1a1a1a1a1"\n\n\n'
        "def upgrade():\n    op.add_column('t', sa.Column('x', sa.Integer())\n",
        encoding="utf-8",
    )
    for gate in (("--pending",), ("--since", "a1a1a1a1a1a1")):
        result = invoke(app, "db", "lint", *gate, "--format", "json")
        assert result.exit_code == 1, (gate, result.output)
        found = json.loads(result.stdout)["findings"]
        assert [(Path(f["path"]).name, f["code"]) for f in found] == [(broken.name, "SM313")], gate


def test_malformed_files_become_findings(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "syntax.py").write_text("def upgrade(:\n    pass\n")
    (versions / "latin1.py").write_bytes(b'"""caf\xe9"""\nrevision = "x"\n')
    (versions / "empty.py").write_text("")
    result = subprocess.run(
        [
            str(SAFEMIGRATE),
            "lint",
            str(versions),
            "--select",
            "unparseable-script",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert {Path(f["path"]).name for f in data["findings"]} == {"syntax.py", "latin1.py"}
    assert data["summary"]["files"] == 3


def test_thousands_of_files(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    down = None
    for i in range(2000):
        rev = f"{i:012x}"
        (versions / f"{rev}_step.py").write_text(
            script(rev, down, "    op.execute('SELECT 1')", "    op.execute('SELECT 1')")
        )
        down = rev
    (versions / "broken.py").write_text("revision = (\n")
    result = subprocess.run(
        [str(SAFEMIGRATE), "lint", str(versions), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    data = json.loads(result.stdout)
    assert data["summary"]["files"] == 2001
    assert any(f["code"] == "SM313" and f["path"].endswith("broken.py") for f in data["findings"])


def test_console_lint_exit_codes_and_formats(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "alembic.ini").write_text("[alembic]\n")
    (migrations / "versions" / "a1_test.py").write_text(CREATE)
    (migrations / "versions" / "b2_test.py").write_text(DROP)
    env = {**os.environ, "NO_COLOR": "1"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SAFEMIGRATE), "lint", *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
            env=env,
        )

    default = run()  # ./migrations
    assert default.returncode == 1
    assert "SM102 [drop-column]" in default.stdout
    github = run("--format", "github")
    assert github.stdout.startswith("::error file=")
    sarif = json.loads(run("--format", "sarif").stdout)
    assert sarif["version"] == "2.1.0"
    assert run("--ignore", "drop-column").returncode == 0
    missing = run("nowhere")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[0] == "Error: no such file or directory: nowhere"
    usage = run("--fail-on", "fatal")
    assert usage.returncode == 2
    assert "Traceback" not in usage.stderr
    # Without an app there is no `flask db history`: the advice names the heads instead.
    since = run("--since", "nosuch")
    assert since.returncode == 2
    assert "flask db" not in since.stderr, since.stderr
    assert "(each script's `revision = ` line; the heads are " in since.stderr, since.stderr


def test_flask_db_lint_says_when_the_models_still_map_a_dropped_column(
    make_app: MakeApp, tmp_path: Path
) -> None:
    def models(db: SQLAlchemy) -> None:
        class User(db.Model):  # type: ignore[name-defined, misc]
            __tablename__ = "users"
            id = db.Column(db.Integer, primary_key=True)
            email = db.Column(db.String(120))

    def without_email(db: SQLAlchemy) -> None:
        class User(db.Model):  # type: ignore[name-defined, misc]
            __tablename__ = "users"
            id = db.Column(db.Integer, primary_key=True)

    still_mapped = make_app(sqlite_url(tmp_path / "mapped.db"), models=models)
    directory = init_migrations(still_mapped)
    write_revision(directory, CREATE)
    write_revision(directory, DROP)
    args = ("db", "lint", "--select", "drop-column", "--format", "json")
    [finding] = json.loads(invoke(still_mapped, *args).stdout)["findings"]
    assert "every server: the app's models still map it" in finding["message"]
    # safe-upgrade's pre-flight says it in the same words (it had "servers whose model
    # still selects it" for the same drop): it lints with the app's models too.
    assert invoke(still_mapped, "db", "safe-upgrade", "a1a1a1a1a1a1").exit_code == 0
    preflight = invoke(still_mapped, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert preflight.exit_code == 3, preflight.output
    [problem] = [p for p in json.loads(preflight.stdout)["problems"] if p["check"] == "drop-column"]
    assert problem["message"] == finding["message"]

    # The models no longer map it (what `flask db migrate` writes the drop from): the
    # finding stays, about the servers still running the previous release.
    unmapped = make_app(
        sqlite_url(tmp_path / "unmapped.db"), models=without_email, migrations=directory
    )
    [finding] = json.loads(invoke(unmapped, *args).stdout)["findings"]
    assert finding["severity"] == "error"
    assert "servers whose model still selects it" in finding["message"]


def test_console_lint_imports_neither_flask_nor_sqlalchemy_nor_alembic(tmp_path: Path) -> None:
    """pre-commit runs `safemigrate lint` on every commit: it must not pay for the app stack
    (Flask alone is about 0.15 s of start-up), and it reads scripts without them."""
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "alembic.ini").write_text("[alembic]\n")
    (migrations / "versions" / "a1_test.py").write_text(CREATE)
    (migrations / "versions" / "b2_test.py").write_text(DROP)
    probe = (
        "import sys\n"
        "from flask_safemigrate.console import main\n"
        "try:\n"
        "    main(['lint', 'migrations'])\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules}"
        " & {'flask', 'sqlalchemy', 'alembic', 'flask_migrate', 'werkzeug', 'multiprocessing'})\n"
        "print('EXIT', code, 'HEAVY', ','.join(heavy) or '-')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert "SM102 [drop-column]" in done.stdout, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "EXIT 1 HEAVY -"


def test_flask_db_lint_gives_set_not_null_advice_for_the_app_s_database(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    """SM202's help was PostgreSQL's NOT VALID recipe on MariaDB too: the dialect is the
    app's engine's (no --dialect), and its advice is that dialect's."""
    app = make_app(database_url)
    directory = init_migrations(app)
    write_revision(directory, CREATE)
    write_revision(
        directory,
        script(
            "c3c3c3c3c3c3",
            "a1a1a1a1a1a1",
            '    op.alter_column("users", "id", existing_type=sa.Integer(), nullable=False)',
            '    op.alter_column("users", "id", existing_type=sa.Integer(), nullable=True)',
            message="users.id not null",
        ),
    )
    result = invoke(app, "db", "lint", "--select", "set-not-null", "--format", "json")
    (finding,) = json.loads(result.stdout)["findings"]
    starts = {
        "postgresql": "PostgreSQL: add CHECK (col IS NOT NULL) NOT VALID",
        "mysql": "MySQL/MariaDB: backfill the NULLs first",
        "sqlite": "SQLite: backfill the NULLs first",
    }[db_kind]
    assert finding["help"].startswith(starts), finding


def test_console_lint_outside_a_project_says_where_it_looked(tmp_path: Path) -> None:
    """With no PATH, `safemigrate lint` reads ./migrations: run from the wrong folder it says
    so, with the folder it looked in and how to name one (was: "no such file or directory:
    migrations", "check the path")."""
    result = subprocess.run(
        [str(SAFEMIGRATE), "lint"], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert result.returncode == 2
    first, *rest = result.stderr.strip().splitlines()
    assert first == (
        f"Error: no migrations directory at migrations ({tmp_path.resolve() / 'migrations'}):"
        " with no PATH, safemigrate lint reads ./migrations"
    )
    assert rest == [
        "  help: run it from the folder that holds migrations/, or name what to lint:"
        " `safemigrate lint path/to/migrations` (a migrations folder, a versions folder or"
        " scripts)"
    ]
