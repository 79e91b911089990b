"""Issue #17 item 1: the command lines SafeMigrate suggests work when copied as printed.

A run on another migrations directory (``flask db -d other ...``) suggests ``flask db -d
other ...``; copied without the ``-d``, the line fails with "no migrations directory".
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from flask_safemigrate.suggested import command_prefix, text_for
from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import sqlite_url
from tests.support.revisions import write_revision
from tests.upgrade.histories import REVISIONS, TABLES, models, prepare, revision_source

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}


def _move_to_other(migrations: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The history leaves the app's directory for ``other`` beside it (the working directory)."""
    shutil.move(migrations, migrations.parent / "other")
    monkeypatch.chdir(migrations.parent)


def _suggested(text: str) -> list[str]:
    """The `flask db ...` commands a help text suggests, as written."""
    return re.findall(r"`(flask db [^`]*)`", text)


def test_a_failed_revision_suggests_the_directory_it_ran_on(
    make_app: MakeApp, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    _move_to_other(prepare(app, fail_at=2), monkeypatch)
    code, data, result = invoke_json(app, "db", "-d", "other", "safe-upgrade", "--format", "json")
    assert code == 4, result.output
    (problem,) = [p for p in data["problems"] if p["check"] == "migration-failed"]
    assert problem["revision"] == REVISIONS[2]
    commands = _suggested(problem["help"])
    assert commands and all(c.startswith("flask db -d other safe-upgrade") for c in commands)
    assert "`flask db safe-upgrade" not in problem["help"] + data["summary"]


def test_verify_not_at_head_suggests_a_command_that_runs(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path / "app.db")
    app = make_app(url, models=models(TABLES[:2]), config=NO_BACKUP)
    _move_to_other(prepare(app, count=2), monkeypatch)
    code, data, result = invoke_json(app, "db", "-d", "other", "verify", "--format", "json")
    assert code == 1, result.output
    (problem,) = [p for p in data["problems"] if p["check"] == "not-at-head"]
    commands = _suggested(problem["help"])
    assert "flask db -d other safe-upgrade" in commands, problem["help"]
    # Copied as printed, it runs (the bare `flask db safe-upgrade` finds no migrations).
    copied = invoke(app, *shlex.split("flask db -d other safe-upgrade")[1:])
    assert copied.exit_code == 0, copied.output
    assert invoke(app, "db", "-d", "other", "verify").exit_code == 0


def test_ctrl_c_help_suggests_the_directory_it_ran_on(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path / "app.db")
    app = make_app(url, models=models(TABLES[:3]), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    write_revision(migrations, revision_source(2, extra_upgrade="raise KeyboardInterrupt"))
    _move_to_other(migrations, monkeypatch)
    code, data, result = invoke_json(app, "db", "-d", "other", "safe-upgrade", "--format", "json")
    assert code == 130, result.output
    (problem,) = data["problems"]
    assert _suggested(problem["help"]) == ["flask db -d other safe-upgrade"]
    assert "`flask db -d other verify`" in data["summary"]
    assert "help: run `flask db -d other safe-upgrade` again to go on" in result.stderr


def test_the_app_s_own_directory_keeps_the_plain_command(tmp_path: Path) -> None:
    """``-d`` naming the app's directory changes nothing; another one is quoted for a shell."""
    assert command_prefix(None, tmp_path / "migrations") == "flask db"
    assert command_prefix(tmp_path / "migrations", tmp_path / "migrations") == "flask db"
    assert command_prefix("my dir", tmp_path / "migrations") == "flask db -d 'my dir'"
    hint = "run `flask db safe-upgrade` (or `flask db -d DIR ...`); see `flask db verify`"
    assert text_for(hint, "flask db -d x") == (
        "run `flask db -d x safe-upgrade` (or `flask db -d DIR ...`); see `flask db -d x verify`"
    )
