"""Checks of the history itself, and histories that Alembic refuses to load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from flask import Flask

from tests.support.apps import migrations_dir
from tests.support.cli import invoke
from tests.support.databases import execute, sqlite_url
from tests.support.verify import (
    ITEMS,
    ITEMS_SCRIPT,
    USERS,
    USERS_SCRIPT,
    VerifyApp,
    checks,
    problems,
    run_verify,
    script,
    versions_dir,
)

BRANCH = "c3c3c3c3c3c3"
BRANCH_SCRIPT = script(
    BRANCH,
    USERS,
    'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))',
    'op.drop_table("tags")',
    message="create tags",
)
CYCLE_A = script("aaaa00000001", "aaaa00000002", "pass", "pass", message="cycle a")
CYCLE_B = script("aaaa00000002", "aaaa00000001", "pass", "pass", message="cycle b")
ORPHAN = script(
    "dddd00000001",
    "0123456789ab",
    'op.add_column("users", sa.Column("x", sa.Integer()))',
    'op.drop_column("users", "x")',
)
SYNTAX_ERROR = '"""broken"""\nrevision = "eeee00000001"\ndown_revision = None\ndef upgrade(:\n'


SqliteApp = Callable[..., Flask]


@pytest.fixture
def sqlite_app(verify_app: VerifyApp, tmp_path: Path) -> SqliteApp:
    """``verify_app`` on a SQLite file of this test."""

    def make(**kwargs: Any) -> Flask:
        return verify_app(sqlite_url(tmp_path / "app.db"), **kwargs)

    return make


def test_multiple_heads(sqlite_app: SqliteApp) -> None:
    app = sqlite_app(scripts=[USERS_SCRIPT, ITEMS_SCRIPT, BRANCH_SCRIPT])
    code, data, _ = run_verify(app, "--no-db")
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "multiple-heads"
    assert problem["message"] == (
        f"The history has 2 heads ({ITEMS}, {BRANCH}); `flask db upgrade` (to `head`) and"
        " `flask db migrate` need exactly one."
    )
    # auto-merge-heads first: `flask db merge heads` joins conflicting branches blindly
    assert problem["help"].startswith("run `flask db auto-merge-heads`")
    assert problem["revisions"] == [ITEMS, BRANCH]
    assert data["heads"] == [ITEMS, BRANCH]


def test_text_names_several_heads_as_heads(sqlite_app: SqliteApp) -> None:
    """Not ``head a, b``: counted and listed as auto-merge-heads words it."""
    app = sqlite_app(scripts=[USERS_SCRIPT, ITEMS_SCRIPT, BRANCH_SCRIPT])
    result = invoke(app, "db", "verify", "--no-db")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == f"History: 3 revisions, 2 heads ({ITEMS}, {BRANCH})."


def test_duplicate_revision(sqlite_app: SqliteApp) -> None:
    app = sqlite_app()
    copy = versions_dir(app) / "zz_copy_of_items.py"
    copy.write_text(ITEMS_SCRIPT)
    code, data, _ = run_verify(app, "--no-db")
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "duplicate-revision"
    assert f"Revision {ITEMS} is defined twice" in problem["message"]
    assert problem["path"].endswith("zz_copy_of_items.py")
    assert "new revision id" in problem["help"]


def test_missing_parent(sqlite_app: SqliteApp) -> None:
    app = sqlite_app(scripts=[USERS_SCRIPT, ITEMS_SCRIPT, ORPHAN])
    code, data, _ = run_verify(app, "--no-db")
    assert code == 1
    assert checks(data) == ["missing-parent", "multiple-heads"]
    (problem,) = problems(data, "missing-parent")
    assert (
        "has down_revision '0123456789ab', but no script has that revision" in (problem["message"])
    )
    assert problem["path"].endswith("dddd00000001_test.py")
    assert problem["line"] == 8  # the `revision = ...` line


def test_revision_cycle(sqlite_app: SqliteApp) -> None:
    app = sqlite_app(scripts=[CYCLE_A, CYCLE_B])
    code, data, _ = run_verify(app, "--no-db")
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "revision-cycle"
    assert "aaaa00000001, aaaa00000002 form a cycle" in problem["message"]


def test_unparseable_script(sqlite_app: SqliteApp) -> None:
    app = sqlite_app(scripts=[USERS_SCRIPT, ITEMS_SCRIPT])
    (versions_dir(app) / "eeee00000001_broken.py").write_text(SYNTAX_ERROR)
    code, data, _ = run_verify(app, "--no-db")
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "unparseable-script"
    assert "cannot be read: not valid Python" in problem["message"]
    assert problem["path"].endswith("eeee00000001_broken.py")
    assert problem["line"] == 4


def test_missing_downgrade_is_a_warning(sqlite_app: SqliteApp) -> None:
    no_function = script(
        ITEMS, USERS, 'op.create_table("items", sa.Column("id", sa.Integer()))', None
    )
    empty = script("c3c3c3c3c3c3", ITEMS, 'op.create_index("ix_x", "items", ["slug"])', "pass")
    merge_like = script("d4d4d4d4d4d4", "c3c3c3c3c3c3", "pass", "pass")
    app = sqlite_app(scripts=[USERS_SCRIPT, no_function, empty, merge_like])
    code, data, _ = run_verify(app, "--no-db")
    assert code == 0
    assert data["ok"] is True
    found = problems(data, "missing-downgrade")
    assert [p["revisions"] for p in found] == [[ITEMS], ["c3c3c3c3c3c3"]]
    assert {p["severity"] for p in found} == {"warning"}
    assert "has no downgrade(): `flask db downgrade` past it fails" in found[0]["message"]
    assert "has an empty downgrade()" in found[1]["message"]
    # where: the empty `def downgrade` (not the `revision =` line); the revision line when
    # there is no downgrade() at all
    (empty_path,) = (migrations_dir(app) / "versions").glob("*c3c3c3c3c3c3*.py")
    lines = empty_path.read_text().splitlines()
    assert lines[found[1]["line"] - 1].startswith("def downgrade(")
    text = invoke(app, "db", "verify", "--no-db")
    assert text.exit_code == 0
    assert f"warning[missing-downgrade]: Revision {ITEMS} (step {ITEMS})" in text.stdout
    assert "  where: " in text.stdout and "  help: write a downgrade()" in text.stdout
    assert text.stdout.splitlines()[-1] == "Found 2 problems (2 warnings)."


def test_missing_migrations_directory_is_a_usage_error(
    verify_app: VerifyApp, tmp_path: Path
) -> None:
    app = verify_app(sqlite_url(tmp_path / "app.db"))
    directory = Path(app.extensions["migrate"].directory)
    for path in sorted(directory.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    directory.rmdir()
    result = invoke(app, "db", "verify")
    assert result.exit_code == 2
    assert f"Error: no migrations directory at {directory}" in result.output
    assert "flask db init" in result.output


BROKEN_HISTORIES = {
    "duplicate": ({"a": USERS_SCRIPT, "b": USERS_SCRIPT}, ["duplicate-revision"]),
    "cycle": ({"a": USERS_SCRIPT, "b": CYCLE_A, "c": CYCLE_B}, ["revision-cycle"]),
    "syntax": ({"a": USERS_SCRIPT, "b": SYNTAX_ERROR}, ["unparseable-script"]),
    "missing-parent": (
        {"a": USERS_SCRIPT, "b": ORPHAN},
        ["missing-parent", "multiple-heads"],
    ),
}


@pytest.mark.parametrize("history", sorted(BROKEN_HISTORIES))
def test_a_history_alembic_refuses_does_not_crash_verify(
    verify_app: VerifyApp, database_url: str, history: str
) -> None:
    files, expected = BROKEN_HISTORIES[history]
    app = verify_app(database_url, scripts=[])
    for name, source in files.items():
        (versions_dir(app) / f"{name}_rev.py").write_text(source)
    with pytest.raises(Exception):  # noqa: B017 - whatever Alembic raises, it refuses
        ScriptDirectory(str(versions_dir(app).parent)).get_heads()
    # The database says it is at USERS, as if it had been migrated before the damage.
    execute(
        database_url,
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)",
        f"INSERT INTO alembic_version (version_num) VALUES ('{USERS}')",
    )
    code, data, result = run_verify(app, "--roundtrip")
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert code == 1
    assert data["current"] == [USERS]
    found = set(checks(data))
    assert set(expected) <= found
    assert found <= {*expected, "not-at-head", "schema-drift", "missing-downgrade"}
    text = invoke(app, "db", "verify", "--roundtrip")
    assert text.exit_code == 1
    assert "Roundtrip skipped: the history has problems" in text.stdout
    assert "Traceback" not in text.output
