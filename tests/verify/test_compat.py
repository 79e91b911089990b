"""``flask db verify --compat-with REF`` (issue #19 step 2): the previous release's models
snapshot against the schema the migrations build on a scratch database."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_safemigrate import models_snapshot
from flask_safemigrate.checks.compat import ADVICE
from flask_safemigrate.text import display_path
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import table_names
from tests.support.verify import (
    ITEMS,
    ITEMS_SCRIPT,
    USERS_SCRIPT,
    VerifyApp,
    base_models,
    problems,
    run_verify,
    script,
)

CHANGE = "e5e5e5e5e5e5"

#: One revision with every kind of break the check knows.
BREAKING_SCRIPT = script(
    CHANGE,
    ITEMS,
    """
    op.drop_table("items")
    mood = sa.Enum("happy", "sad", name="mood")
    mood.create(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("age", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("nickname", sa.String(40), nullable=False))
        batch_op.add_column(sa.Column("mood", mood, nullable=True))
        batch_op.alter_column(
            "email", existing_type=sa.String(50), type_=sa.String(20), existing_nullable=False
        )
        batch_op.create_unique_constraint("uq_users_nickname", ["nickname"])
    """,
    'raise RuntimeError("one way: the test only upgrades")',
)

#: The expand/contract versions of the same changes: nothing the running release relies on.
SAFE_SCRIPT = script(
    CHANGE,
    ITEMS,
    """
    op.drop_table("items")
    mood = sa.Enum("happy", "sad", "sadder", "glad", name="mood")
    mood.create(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("age", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("nickname", sa.String(40), nullable=False))
        batch_op.add_column(sa.Column("mood", mood, nullable=True))
        batch_op.alter_column(
            "email", existing_type=sa.String(50), type_=sa.String(100), existing_nullable=False
        )
    """,
    'raise RuntimeError("one way: the test only upgrades")',
)


def running_release(metadata: sa.MetaData) -> None:
    """The models of the release running before BREAKING_SCRIPT: it maps items, a legacy
    column the migrations no longer have, a nullable nickname it does not set, three moods."""
    base_models(metadata)
    users = metadata.tables["users"]
    users.append_column(sa.Column("legacy", sa.Integer))
    users.append_column(sa.Column("nickname", sa.String(40)))
    users.append_column(sa.Column("mood", sa.Enum("happy", "sad", "sadder", name="mood")))


def expanded_release(metadata: sa.MetaData) -> None:
    """The release before SAFE_SCRIPT: items and legacy no longer mapped (the contract
    step), nickname always set by a Python default."""
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(50), nullable=False),
        sa.Column("nickname", sa.String(40), default="anon"),
        sa.Column("mood", sa.Enum("happy", "sad", "sadder", name="mood")),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )


def snapshot_text(models: Callable[[sa.MetaData], None]) -> str:
    metadata = sa.MetaData()
    models(metadata)
    data = {
        "format": models_snapshot.FORMAT,
        "databases": [{"bind": None, "tables": models_snapshot.describe_metadata(metadata)}],
    }
    return models_snapshot.render(data)


def breaks(data: dict[str, object]) -> set[tuple[str, str, str | None, str]]:
    return {
        (p["change"], p["table"], p["column"], p["severity"])
        for p in problems(data, "breaks-previous-release")  # type: ignore[arg-type]
    }


@pytest.mark.usefixtures("db_kind")
def test_each_break_is_named_with_its_expand_contract_advice(
    verify_app: VerifyApp, database_url: str, tmp_path: Path
) -> None:
    old = tmp_path / "release-1.json"
    old.write_text(snapshot_text(running_release), encoding="utf-8")
    app = verify_app(database_url, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, BREAKING_SCRIPT])
    code, data, _ = run_verify(app, "--no-db", "--compat-with", str(old))
    assert code == 1
    assert breaks(data) == {
        ("table-dropped", "items", None, "error"),
        ("column-dropped", "users", "legacy", "error"),
        ("not-null-added", "users", "age", "error"),
        ("made-not-null", "users", "nickname", "error"),
        ("type-narrowed", "users", "email", "error"),
        ("type-narrowed", "users", "mood", "error"),
        ("unique-added", "users", "nickname", "warning"),
    }
    found = {(p["change"], p["column"]): p for p in problems(data, "breaks-previous-release")}
    email = found["type-narrowed", "email"]
    assert email["message"] == (
        "users.email: type narrowed: string(50) -> string(20); the previous release"
        f" ({display_path(old)})"
        " fails against the schema the migrations build"
    )
    assert email["help"] == ADVICE["type-narrowed"].format(t="users", c="email")
    assert "release N+2 drops it" in found["column-dropped", "legacy"]["help"]
    assert "sadder" in found["type-narrowed", "mood"]["message"]
    assert data["compat"] == {"with": display_path(old), "ran": True, "findings": 7}
    # The scratch database is gone, the app's own was never touched.
    assert table_names(database_url) == set()


@pytest.mark.usefixtures("db_kind")
def test_the_expand_contract_versions_report_nothing(
    verify_app: VerifyApp, database_url: str, tmp_path: Path
) -> None:
    old = tmp_path / "release-1.json"
    old.write_text(snapshot_text(expanded_release), encoding="utf-8")
    app = verify_app(database_url, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, SAFE_SCRIPT])
    code, data, result = run_verify(app, "--no-db", "--compat-with", str(old))
    assert (code, problems(data)) == (0, []), result.output
    assert data["compat"]["ran"] is True


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_a_snapshot_from_a_git_ref(verify_app: VerifyApp, tmp_path: Path) -> None:
    app = verify_app(
        f"sqlite:///{tmp_path / 'app.db'}",
        scripts=[USERS_SCRIPT, ITEMS_SCRIPT, BREAKING_SCRIPT],
    )
    migrations = Path(app.extensions["migrate"].directory)
    snapshot = migrations / "models.snapshot.json"
    snapshot.write_text(snapshot_text(running_release), encoding="utf-8")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", str(snapshot))
    git(tmp_path, "commit", "-q", "-m", "release 1")
    git(tmp_path, "tag", "v1")
    invoke_ok(app, "db", "snapshot")  # the working tree has today's models
    code, data, _ = run_verify(app, "--no-db", "--compat-with", "v1")
    assert code == 1
    label = f"v1:{display_path(snapshot)}"
    assert data["compat"]["with"] == label
    assert ("column-dropped", "users", "legacy", "error") in breaks(data)
    assert problems(data, "models-snapshot-stale") == []


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("no-such-tag", "not a file, and git cannot read it: "),
        (".", "a directory, not a snapshot file"),
    ],
)
def test_a_bad_ref_or_path_is_one_line_and_exit_2(
    verify_app: VerifyApp, tmp_path: Path, ref: str, says: str
) -> None:
    app = verify_app(f"sqlite:///{tmp_path / 'app.db'}")
    git(tmp_path, "init", "-q")
    result = invoke(app, "db", "verify", "--no-db", "--compat-with", ref)
    assert result.exit_code == 2
    first, *rest = result.stderr.splitlines()
    assert first.startswith(f"Error: --compat-with {ref}: {says}")
    assert all(line.startswith("  help: ") for line in rest)
    assert "Traceback" not in result.output


def test_a_file_that_is_not_a_snapshot_is_exit_2(verify_app: VerifyApp, tmp_path: Path) -> None:
    app = verify_app(f"sqlite:///{tmp_path / 'app.db'}")
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps({"tables": []}), encoding="utf-8")
    result = invoke(app, "db", "verify", "--no-db", "--compat-with", str(bad), "--format", "json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["message"] == (
        f"--compat-with {bad}: {display_path(bad)} is not a models snapshot (no 'databases' list)"
    )
