"""``unmapped-required-column``: retiring a NOT NULL column (expand/contract step N+2 of a
rename) passed every check while the new release's inserts failed. On the three databases.

Release 1 maps ``users`` (id, email, name NOT NULL without a server default, nickname,
status); release 2 stops mapping ``name``, ``nickname`` (nullable) and ``status`` (NOT NULL
with a server default) and hides them from autogenerate with an ``include_object`` hook, as
docs/expand-contract.md says; the table ``audit`` (NOT NULL column, no model at all) is hidden
the same way. Only ``users.name`` makes release 2's inserts fail, and only it is reported:
by ``flask db verify`` on the live database, by ``verify --compat-with`` and ``--roundtrip``
on the scratch database the migrations build, and by safe-upgrade's post-verify.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from flask_safemigrate.project import setup_of
from flask_safemigrate.verify import suite
from tests.support.apps import AppTracker, init_migrations
from tests.support.cli import invoke, invoke_json
from tests.support.revisions import revision_script, write_revision

V1, V2 = "a1a1a1a1a1a1", "a2a2a2a2a2a2"

CREATE = revision_script(
    V1,
    None,
    """
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=50), nullable=True),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("nickname", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False, server_default="active"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("what", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    """,
    'op.drop_table("audit")\nop.drop_table("users")',
    message="create users",
)
#: The revision the fix asks for: before the release that stops mapping it, ``name`` nullable.
NULLABLE_NAME = revision_script(
    V2,
    V1,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("name", existing_type=sa.String(length=80), nullable=True)
    """,
    """
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("name", existing_type=sa.String(length=80), nullable=False)
    """,
    message="users name nullable",
)

RETIRED = {("users", "name"), ("users", "nickname"), ("users", "status")}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare: Any) -> bool:
    """docs/expand-contract.md's hook: the retired columns and the unmapped table hidden."""
    if type_ == "table":
        return name != "audit"
    return not (type_ == "column" and (obj.table.name, name) in RETIRED)


class Releases:
    """Releases of one project on one database and migrations directory."""

    def __init__(self, url: str, tmp_path: Path, track_app: AppTracker) -> None:
        self.url, self.tmp_path, self.track_app = url, tmp_path, track_app
        self.migrations = tmp_path / "migrations"
        self.count = 0

    def app(self, *, retired: bool, name_mapped: bool = False) -> tuple[Flask, SQLAlchemy]:
        """Release 1 (``retired=False``: every column mapped) or release 2 (``name`` mapped
        again only with ``name_mapped``)."""
        self.count += 1
        app = Flask(__name__, instance_path=str(self.tmp_path / f"instance{self.count}"))
        app.config.update(
            SQLALCHEMY_DATABASE_URI=self.url,
            TESTING=True,
            SAFEMIGRATE_BACKUP=False,
            SAFEMIGRATE_CONNECT_TIMEOUT=5,
        )
        db = SQLAlchemy()
        columns = [
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("email", sa.String(50)),
        ]
        if not retired or name_mapped:
            columns.append(sa.Column("name", sa.String(80), nullable=False))
        if not retired:
            columns += [
                sa.Column("nickname", sa.String(40)),
                sa.Column("status", sa.String(20), nullable=False, server_default="active"),
            ]
            sa.Table(
                "audit",
                db.metadata,
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("what", sa.String(40), nullable=False),
            )
        sa.Table("users", db.metadata, *columns)
        db.init_app(app)
        self.track_app(app)
        hook = {"include_object": include_object} if retired else {}
        SafeMigrate(app, db, directory=self.migrations, **hook)
        if not self.migrations.exists():
            init_migrations(app)
            write_revision(self.migrations, CREATE)
        return app, db


@pytest.fixture
def releases(database_url: str, tmp_path: Path, track_app: AppTracker) -> Releases:
    return Releases(database_url, tmp_path, track_app)


def unmapped(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in data["problems"] if p["check"] == "unmapped-required-column"]


def insert_user(app: Flask, db: SQLAlchemy) -> None:
    with app.app_context():
        db.session.execute(db.metadata.tables["users"].insert().values(email="a@example.com"))
        db.session.commit()


def test_verify_reports_the_retired_not_null_column_and_the_insert_it_predicts_fails(
    releases: Releases,
) -> None:
    first, _ = releases.app(retired=False)
    code, data, _ = invoke_json(first, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data
    app, db = releases.app(retired=True)

    code, data, result = invoke_json(app, "db", "verify", "--format", "json")

    assert code == 1, result.output
    (found,) = unmapped(data)
    assert [p["check"] for p in data["problems"]] == ["unmapped-required-column"]
    assert found["severity"] == "error"
    assert (found["table"], found["column"]) == ("users", "name")
    assert found["message"].startswith(
        "users.name: NOT NULL without a server default, and the models do not map it:"
        " every insert of theirs into users fails (database "
    )
    assert found["help"].startswith(
        "make it nullable or give it a server default in a revision before the release that"
        " stops mapping it (`op.alter_column('users', 'name', nullable=True)`"
    )
    assert found["help"].endswith("; or map it again")
    # What it predicts: the new release's insert fails on the database itself (MariaDB:
    # error 1364, "Field 'name' doesn't have a default value", an OperationalError).
    with pytest.raises((sa.exc.IntegrityError, sa.exc.OperationalError), match="name"):
        insert_user(app, db)
    # The text names the check, the column and the fix.
    text = invoke(app, "db", "verify")
    assert text.exit_code == 1
    assert "error[unmapped-required-column]: users.name: NOT NULL" in text.output
    assert "or map it again" in text.output


def test_mapped_again_or_made_nullable_there_is_nothing_to_report(releases: Releases) -> None:
    first, _ = releases.app(retired=False)
    code, data, _ = invoke_json(first, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data
    # Mapped again: the other retired columns (nullable; a server default) and the unmapped
    # table are nothing to report.
    mapped, db = releases.app(retired=True, name_mapped=True)
    code, data, _ = invoke_json(mapped, "db", "verify", "--format", "json")
    assert (code, data["problems"]) == (0, []), data
    # The fix the help gives: a revision that makes it nullable, then the release drops it.
    write_revision(releases.migrations, NULLABLE_NAME)
    app, db = releases.app(retired=True)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data
    code, data, _ = invoke_json(app, "db", "verify", "--format", "json")
    assert (code, data["problems"]) == (0, []), data
    insert_user(app, db)  # and the insert works


def test_safe_upgrade_post_verify_reports_it_as_drift_is_reported(releases: Releases) -> None:
    first, _ = releases.app(retired=False)
    code, data = invoke_json(first, "db", "safe-upgrade", "--format", "json")[:2]
    assert code == 0, data
    app, _ = releases.app(retired=True)

    code, data = invoke_json(app, "db", "safe-upgrade", "--format", "json")[:2]

    assert code == 1, data
    assert data["stage"] == "verify"
    (found,) = unmapped(data)
    assert [p["check"] for p in data["problems"]] == ["unmapped-required-column"]
    assert (found["severity"], found["table"], found["column"]) == ("error", "users", "name")
    assert "or map it again" in found["help"]
    text = invoke(app, "db", "safe-upgrade")
    assert text.exit_code == 1
    assert "error[unmapped-required-column]: users.name: NOT NULL" in text.output
    assert "no drift from the models" not in text.output


def test_the_scratch_database_of_compat_with_and_roundtrip_reports_it(
    releases: Releases, tmp_path: Path
) -> None:
    """CI without the live database: the schema the migrations build, against the models."""
    first, _ = releases.app(retired=False)
    code, data, _ = invoke_json(first, "db", "snapshot", "--format", "json")
    assert code == 0, data
    old = tmp_path / "v1.snapshot.json"
    shutil.copy(releases.migrations / "models.snapshot.json", old)
    app, _ = releases.app(retired=True)
    code, data, _ = invoke_json(app, "db", "snapshot", "--format", "json")
    assert code == 0, data

    code, data, result = invoke_json(
        app, "db", "verify", "--no-db", "--compat-with", str(old), "--format", "json"
    )

    assert code == 1, result.output
    assert [p["check"] for p in data["problems"]] == ["unmapped-required-column"], data
    (found,) = unmapped(data)
    assert (found["table"], found["column"], found["database"]) == ("users", "name", "scratch")
    assert found["message"].endswith("(scratch database after upgrading from base to head)")
    # With --roundtrip too, the one scratch check is reported once.
    code, data, _ = invoke_json(
        app, "db", "verify", "--no-db", "--roundtrip", "--compat-with", str(old), "--format", "json"
    )
    assert code == 1
    assert [p["check"] for p in data["problems"]] == ["unmapped-required-column"], data


def test_the_plugin_reports_it_in_models_match_only(releases: Releases, tmp_path: Path) -> None:
    """The built-in ``models-match`` test (the schema the migrations build against the
    models) fails on it; ``compatible-with-previous-release`` leaves it to that test."""
    first, _ = releases.app(retired=False)
    code, data, _ = invoke_json(first, "db", "snapshot", "--format", "json")
    assert code == 0, data
    old = tmp_path / "v1.snapshot.json"
    shutil.copy(releases.migrations / "models.snapshot.json", old)
    app, _ = releases.app(retired=True)
    with app.app_context():
        setup = setup_of(app)
    found = suite.models_match(setup, None)
    assert [(f.rule, f.extra["table"], f.extra["column"]) for f in found] == [
        ("unmapped-required-column", "users", "name")
    ]
    assert suite.compatible_with_previous_release(setup, None, str(old)) == []
