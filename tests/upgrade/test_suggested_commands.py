"""Issue #17 item 1: the command lines SafeMigrate suggests work when copied as printed.

A run on another migrations directory (``flask db -d other ...``) suggests ``flask db -d
other ...``; copied without the ``-d``, the line fails with "no migrations directory".
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from flask_safemigrate.suggested import command_prefix, text_for
from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import empty_sqlite
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
    url = empty_sqlite(tmp_path / "app.db")
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
    url = empty_sqlite(tmp_path / "app.db")
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


# Every surface that suggests a command, run with `flask db -d other ...` (issue #17 item 1):
# the progress lines, the range refusal, `flask db ledger`, lint's findings, auto-merge-heads.


def _other(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, tables: int = 5
) -> Any:
    """An app on SQLite whose ``count``-revision history lives in ``other``, not its own;
    its models are the first ``tables`` of the history's."""
    app = make_app(
        empty_sqlite(tmp_path / "app.db"), models=models(TABLES[:tables]), config=NO_BACKUP
    )
    _move_to_other(prepare(app, count=count), monkeypatch)
    return app


def test_the_progress_lines_suggest_the_directory(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _other(make_app, tmp_path, monkeypatch, count=1, tables=2)
    # No downgrade(): a finding that never blocks, listed under pre-flight's lint line.
    source = revision_source(1).split("\n\n\ndef downgrade")[0] + "\n"
    write_revision(tmp_path / "other", source)
    result = invoke(app, "db", "-d", "other", "safe-upgrade", "--dry-run")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    (line,) = [line for line in lines if "[missing-downgrade]" in line]
    assert "`flask db -d other downgrade`" in line, result.stdout
    assert "`flask db downgrade`" not in result.stdout
    code, data, _ = invoke_json(app, "db", "-d", "other", "safe-upgrade", "--format", "json")
    assert code == 0, data
    (entry,) = data["review"]
    assert "`flask db -d other downgrade`" in entry["message"], entry


def test_the_range_refusal_suggests_the_directory(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _other(make_app, tmp_path, monkeypatch, count=2)
    result = invoke(app, "db", "-d", "other", "safe-upgrade", f"{REVISIONS[0]}:{REVISIONS[1]}")
    assert result.exit_code == 2, result.output
    assert f"help: run `flask db -d other safe-upgrade {REVISIONS[1]}`, or add --sql" in (
        result.stderr
    )
    code, data, _ = invoke_json(
        app, "db", "-d", "other", "safe-upgrade", "a1:b2", "--format", "json"
    )
    assert code == 2
    assert _suggested(data["problems"][0]["help"]) == ["flask db -d other safe-upgrade b2"]


def test_ledger_accept_suggests_the_directory(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _other(make_app, tmp_path, monkeypatch, count=1)
    result = invoke(app, "db", "-d", "other", "ledger", "accept", "zzzz")
    assert result.exit_code == 2, result.output
    assert "`flask db -d other history`" in result.stderr, result.stderr
    result = invoke(app, "db", "ledger", "accept", "-d", "other", "zzzz")  # its own -d
    assert "`flask db -d other history`" in result.stderr, result.stderr


def test_lint_findings_suggest_the_directory(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _other(make_app, tmp_path, monkeypatch, count=1)
    # A second head beside b2: the multiple-heads rule suggests auto-merge-heads.
    write_revision(tmp_path / "other", revision_source(1))
    fork = revision_source(2).replace(repr(REVISIONS[1]), repr(REVISIONS[0]))
    write_revision(tmp_path / "other", fork)
    for args in (("db", "-d", "other", "lint"), ("db", "lint", "-d", "other")):
        _code, data, result = invoke_json(app, *args, "--format", "json")
        helps = [f.get("help", "") for f in data["findings"] if f["rule"] == "multiple-heads"]
        assert helps and "`flask db -d other auto-merge-heads`" in helps[0], result.output
        assert "`flask db auto-merge-heads`" not in result.output
    text = invoke(app, "db", "-d", "other", "lint").output
    assert "`flask db -d other auto-merge-heads`" in text
    # A baseline written with -d keeps the rules' words, so it applies without -d too.
    assert invoke(app, "db", "-d", "other", "lint", "--write-baseline", "b.json").exit_code == 0
    assert "-d other" not in (tmp_path / "b.json").read_text()
    result = invoke(app, "db", "-d", "other", "lint", "--baseline", "b.json")
    assert result.exit_code == 0, result.output


def test_auto_merge_heads_suggests_the_directory(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _other(make_app, tmp_path, monkeypatch, count=1)
    write_revision(tmp_path / "other", revision_source(1))
    fork = revision_source(2).replace(repr(REVISIONS[1]), repr(REVISIONS[0]))
    write_revision(tmp_path / "other", fork)
    result = invoke(app, "db", "-d", "other", "auto-merge-heads", "--check")
    assert result.exit_code == 1, result.output
    assert "`flask db -d other auto-merge-heads`" in result.output
    assert "`flask db auto-merge-heads`" not in result.output


def test_an_error_s_hint_suggests_the_directory(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Errors raised before any report (here: the directory is missing) suggest it too."""
    app = _other(make_app, tmp_path, monkeypatch, count=1)
    for command in ("verify", "safe-upgrade", "lint", "auto-merge-heads"):
        result = invoke(app, "db", "-d", "nowhere", command)
        assert result.exit_code == 2, result.output
        assert "help: run `flask db -d nowhere init` to create it" in result.stderr, result.stderr


def test_an_error_s_hint_suggests_the_directory_in_json_too(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same error as JSON: safe-upgrade's report holds it as a ``usage-error`` problem,
    whose help must name the directory as the text's does (it once said `flask db init`)."""
    app = _other(make_app, tmp_path, monkeypatch, count=1)
    for command in ("verify", "safe-upgrade", "lint", "auto-merge-heads"):
        code, data, result = invoke_json(app, "db", "-d", "nowhere", command, "--format", "json")
        assert code == 2, result.output
        helps = [p.get("help", "") for p in data.get("problems", [])] + [data.get("hint", "")]
        suggested = [c for text in helps for c in _suggested(text)]
        assert "flask db -d nowhere init" in suggested, data
        assert all(c.startswith("flask db -d ") for c in suggested), data


def test_lint_since_an_unknown_revision_suggests_history_with_the_directory(
    make_app: MakeApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _other(make_app, tmp_path, monkeypatch, count=1)
    result = invoke(app, "db", "-d", "other", "lint", "--since", "nosuch")
    assert result.exit_code == 2, result.output
    assert "(`flask db -d other history` lists them)" in result.stderr, result.stderr
