"""``flask db migrate``/``revision`` refuse a message that does not say what changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from flask_safemigrate.autogen import is_vague
from tests.autogen import models
from tests.autogen.scenario import build_app
from tests.support.apps import REPO_ROOT, AppTracker, init_migrations
from tests.support.cli import invoke, run_flask
from tests.support.databases import sqlite_url

VAGUE = [
    "",
    "   ",
    "changes",
    "update",
    "fix",
    "wip",
    "WIP: db changes",
    "Update models",
    "migration 2",
]
FINE = ["add email to users", "Initial migration", "drop legacy tokens"]


@pytest.mark.parametrize("message", VAGUE)
def test_vague_words(message: str) -> None:
    assert is_vague(message)


@pytest.mark.parametrize("message", FINE)
def test_messages_that_say_something(message: str) -> None:
    assert not is_vague(message)


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    return tmp_path / "migrations"


def _app(tmp_path: Path, migrations: Path, track_app: AppTracker, **config: object) -> Flask:
    app = build_app(
        sqlite_url(tmp_path / "app.db"), migrations, models.v1, track_app, config=config
    )
    init_migrations(app)
    return app


@pytest.mark.parametrize("command", ["migrate", "revision"])
@pytest.mark.parametrize("message", [None, "", "changes", "update", "fix", "wip"])
def test_a_vague_or_missing_message_is_refused_before_anything_is_written(
    tmp_path: Path, migrations: Path, track_app: AppTracker, command: str, message: str | None
) -> None:
    app = _app(tmp_path, migrations, track_app)
    args = ["db", command] + ([] if message is None else ["-m", message])
    result = invoke(app, *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert '-m "add email to users"' in lines[0]
    assert "Traceback" not in result.output
    assert list((migrations / "versions").iterdir()) == []


def test_a_clear_message_goes_through(
    tmp_path: Path, migrations: Path, track_app: AppTracker
) -> None:
    app = _app(tmp_path, migrations, track_app)
    result = invoke(app, "db", "revision", "-m", "add email to users")
    assert result.exit_code == 0, result.output
    assert len(list((migrations / "versions").glob("*_add_email_to_users.py"))) == 1


def test_the_check_can_be_turned_off(
    tmp_path: Path, migrations: Path, track_app: AppTracker
) -> None:
    app = _app(tmp_path, migrations, track_app, SAFEMIGRATE_REQUIRE_MESSAGE=False)
    result = invoke(app, "db", "migrate", "-m", "wip")
    assert result.exit_code == 0, result.output
    assert len(list((migrations / "versions").glob("*_wip.py"))) == 1


def test_an_invalid_setting_is_reported_not_raised(
    tmp_path: Path, migrations: Path, track_app: AppTracker
) -> None:
    app = _app(tmp_path, migrations, track_app, SAFEMIGRATE_REQUIRE_MESSAGE="sometimes")
    result = invoke(app, "db", "migrate", "-m", "add email to users")
    assert result.exit_code == 2
    assert result.output.startswith("Error: invalid SAFEMIGRATE_REQUIRE_MESSAGE")
    assert list((migrations / "versions").iterdir()) == []


def test_the_real_flask_command_exits_2(tmp_path: Path) -> None:
    env = {"DATABASE_URL": sqlite_url(tmp_path / "example.db")}
    versions = REPO_ROOT / "example_app" / "migrations" / "versions"
    before = sorted(versions.iterdir())
    done = run_flask(["db", "migrate", "-m", "update"], app="example_app", env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: the message 'update' does not say what the migration changes:"
        ' name the change, e.g. -m "add email to users"'
    ]
    assert sorted(versions.iterdir()) == before


@pytest.mark.parametrize("command", ["migrate", "revision"])
@pytest.mark.parametrize(
    ("message", "what"),
    [
        ('count "views" """ done', "three double quotes"),
        ("import C:\\new\\x01 data", "a backslash"),
    ],
)
def test_a_message_the_docstring_cannot_hold_is_refused(
    tmp_path: Path,
    migrations: Path,
    track_app: AppTracker,
    command: str,
    message: str,
    what: str,
) -> None:
    """Alembic copies the message into the script's docstring unescaped: it used to write a
    script that does not parse, then fail to load it with a traceback, leaving the file."""
    app = _app(tmp_path, migrations, track_app, SAFEMIGRATE_REQUIRE_MESSAGE=False)
    result = invoke(app, "db", command, "-m", message)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("Error: the message ") and f"holds {what}" in lines[0]
    assert lines[1].startswith("  help: reword it without ")
    assert "Traceback" not in result.output
    assert list((migrations / "versions").iterdir()) == []


def test_quotes_and_unicode_that_the_docstring_holds_go_through(
    tmp_path: Path, migrations: Path, track_app: AppTracker
) -> None:
    app = _app(tmp_path, migrations, track_app)
    message = "add users.name \"quoted\" \u2013 ünïcode 'x'; DROP TABLE x; -- 日本"
    result = invoke(app, "db", "revision", "-m", message)
    assert result.exit_code == 0, result.output
    (script,) = (migrations / "versions").glob("*.py")
    assert script.read_text(encoding="utf-8").startswith(f'"""{message}\n')
    compile(script.read_text(encoding="utf-8"), str(script), "exec")


@pytest.mark.parametrize("command", ["migrate", "revision"])
def test_a_missing_migrations_directory_is_a_usage_error_naming_its_init(
    tmp_path: Path, migrations: Path, track_app: AppTracker, command: str
) -> None:
    """Flask-Migrate said "Path doesn't exist" and exited 1; every command of ours says where
    and how to create it, with the ``-d`` the command was given, and exits 2."""
    app = _app(tmp_path, migrations, track_app)
    missing = tmp_path / "nowhere"
    result = invoke(app, "db", "-d", str(missing), command, "-m", "add email to users")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"Error: no migrations directory at {missing}"), lines
    assert lines[1].startswith(f"  help: run `flask db -d {missing} init` to create it"), lines
    assert not missing.exists()
