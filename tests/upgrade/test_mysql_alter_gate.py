"""On MariaDB, an ``alter_column`` without ``existing_type`` is stopped before anything runs.

Alembic refuses it on MySQL/MariaDB every time (``CommandError: All MySQL CHANGE/MODIFY
COLUMN operations require the existing type.``), and only when it reaches the call, after the
revision's earlier DDL, which MySQL does not roll back. The pre-flight gate (SM323) refuses
the script instead; the same script with the type applies.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from tests.support.apps import MakeApp
from tests.support.cli import invoke_json
from tests.support.databases import engine_for
from tests.support.revisions import write_revision
from tests.upgrade.histories import REVISIONS, prepare, versions_of

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}
RENAME = "f2000000ren2"


def _rename_source(type_keywords: str) -> str:
    """widgets gets a note column, then widgets.name becomes widgets.label (the rename itself
    accepted in review: rename-column is suppressed, so only SM323 can stop it)."""
    return f'''
    """widgets.name becomes widgets.label

    Revision ID: {RENAME}
    """
    import sqlalchemy as sa
    from alembic import op

    revision = {RENAME!r}
    down_revision = {REVISIONS[0]!r}
    branch_labels = None
    depends_on = None


    def upgrade():
        op.add_column("widgets", sa.Column("note", sa.Text(), nullable=True))
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.alter_column(  # safemigrate: ignore[rename-column] -- no server reads it
                "name", new_column_name="label"{type_keywords}
            )


    def downgrade():
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.alter_column(
                "label", new_column_name="name", existing_type=sa.String(length=50)
            )
        op.drop_column("widgets", "note")
    '''


def _renamed(db: SQLAlchemy) -> None:
    """The models after the revision."""
    sa.Table(
        "widgets",
        db.metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=50), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_widgets"),
    )


def _columns(url: str) -> list[str]:
    with engine_for(url) as engine:
        return [c["name"] for c in sa.inspect(engine).get_columns("widgets")]


def _upgrade(app: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json", *args)
    return code, data


@pytest.mark.mysql
@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_a_rename_without_existing_type_is_refused_before_anything_runs(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=_renamed, config=NO_BACKUP)
    migrations = prepare(app, count=1)
    assert _upgrade(app, REVISIONS[0], "--no-verify")[0] == 0  # models: after
    write_revision(migrations, _rename_source(""))

    code, data = _upgrade(app, "--dry-run")
    assert code == 3, data
    code, data = _upgrade(app)
    assert code == 3, data
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "mysql-alter-without-existing-type", problem
    assert "new_column_name=" in problem["message"] and "existing_type=" in problem["help"]
    # Nothing of the revision ran: no note column, the column keeps its name.
    assert versions_of(database_url) == [REVISIONS[0]]
    assert _columns(database_url) == ["id", "name"]


@pytest.mark.mysql
@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_the_same_rename_with_existing_type_applies(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=_renamed, config=NO_BACKUP)
    migrations = prepare(app, count=1)
    assert _upgrade(app, REVISIONS[0], "--no-verify")[0] == 0  # models: after
    write_revision(
        migrations, _rename_source(", existing_type=sa.String(length=50), existing_nullable=True")
    )

    code, data = _upgrade(app)
    assert code == 0, data
    assert [p for p in data["problems"] if p["severity"] == "error"] == []
    assert versions_of(database_url) == [RENAME]
    assert _columns(database_url) == ["id", "label", "note"]


@pytest.mark.mysql
@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_what_the_gate_prevents_and_the_report_reads_alembics_sentence_once(
    make_app: MakeApp, database_url: str
) -> None:
    """With the gate skipped, Alembic fails at the call after the ALTER before it committed:
    the half-applied revision the rule exists for, reported without a doubled period."""
    app = make_app(database_url, models=_renamed, config=NO_BACKUP)
    migrations = prepare(app, count=1)
    assert _upgrade(app, REVISIONS[0], "--no-verify")[0] == 0  # models: after
    write_revision(migrations, _rename_source(""))

    code, data = _upgrade(app, "--skip-lint", "--no-verify")
    assert code == 4, data
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert "require the existing type." in problem["message"], problem
    assert "type.." not in problem["message"], problem
    assert versions_of(database_url) == [REVISIONS[0]]
    assert _columns(database_url) == ["id", "name", "note"]  # the add_column stayed
