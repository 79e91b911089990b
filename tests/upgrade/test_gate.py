"""The pre-flight lint gate judges what the upgrade will run, where it will run it.

Only ``upgrade()`` of the pending scripts, on the live database's dialect, in the branches
that dialect reaches; convention findings and findings about ``downgrade()`` never block and
are not shown by a deploy (``flask db lint`` shows them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke, invoke_json
from tests.support.revisions import write_revision
from tests.upgrade.histories import REVISIONS, models, prepare, versions_of

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}

SET_NOT_NULL = "f1000000nonn"


def _not_null_source(body: str) -> str:
    return f'''
    """widgets.name is required

    Revision ID: {SET_NOT_NULL}
    """
    import sqlalchemy as sa
    from alembic import op

    revision = {SET_NOT_NULL!r}
    down_revision = {REVISIONS[0]!r}
    branch_labels = None
    depends_on = None


    def upgrade():
{body}


    def downgrade():
        with op.batch_alter_table("widgets") as batch_op:
            batch_op.alter_column("name", existing_type=sa.String(length=50), nullable=True)
    '''


TYPE = "existing_type=sa.String(length=50)"
PLAIN_ALTER = f"""\
        op.alter_column("widgets", "name", {TYPE}, nullable=False)"""

BRANCHED_ALTER = f"""\
        if op.get_bind().dialect.name == "sqlite":
            with op.batch_alter_table("widgets") as batch_op:
                batch_op.alter_column("name", {TYPE}, nullable=False)
        else:
            op.alter_column("widgets", "name", {TYPE}, nullable=False)"""


def _required_names(db: SQLAlchemy) -> None:
    """The models after the revision: widgets.name is NOT NULL."""
    sa.Table(
        "widgets",
        db.metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_widgets"),
    )


def _noted(db: SQLAlchemy) -> None:
    """The models after the second deploy: widgets.note."""
    sa.Table(
        "widgets",
        db.metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_widgets"),
    )


def _upgrade(app: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json", *args)
    return code, data


def _lint_dialect(migrations: Path, dialect: str) -> None:
    (migrations.parent / "pyproject.toml").write_text(
        f'[tool.safemigrate.lint]\ndialect = "{dialect}"\n'
    )


def test_the_live_dialect_decides_not_the_configured_one(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    """A plain ALTER COLUMN is an error only where it fails (SQLite); the lint dialect that
    pyproject.toml names (the production database) does not judge a deploy to another."""
    app = make_app(database_url, models=_required_names, config=NO_BACKUP)
    migrations = prepare(app, count=1)
    _lint_dialect(migrations, "sqlite" if db_kind != "sqlite" else "postgresql")
    write_revision(migrations, _not_null_source(PLAIN_ALTER))

    code, data = _upgrade(app)
    errors = {p["check"] for p in data["problems"] if p["severity"] == "error"}
    if db_kind == "sqlite":
        assert code == 3, data
        assert errors == {"sqlite-alter-outside-batch"}
        assert versions_of(database_url) == []
    else:
        assert code == 0, data
        assert errors == set()
        assert versions_of(database_url) == [SET_NOT_NULL]


def test_a_branch_for_another_dialect_is_not_judged(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=_required_names, config=NO_BACKUP)
    migrations = prepare(app, count=1)
    write_revision(migrations, _not_null_source(BRANCHED_ALTER))

    code, data = _upgrade(app)
    assert code == 0, data
    assert [p for p in data["problems"] if p["severity"] == "error"] == []
    assert versions_of(database_url) == [SET_NOT_NULL]


def test_downgrade_and_convention_findings_neither_block_nor_show(
    make_app: MakeApp, database_url: str
) -> None:
    """Even raised to errors by the project's lint settings, convention findings do not
    stop a deploy; what downgrade() would do is not what an upgrade runs."""
    app = make_app(
        database_url,
        models=models(("widgets",)),
        config={**NO_BACKUP, "SAFEMIGRATE_LINT_SEVERITY": {"SM4": "error", "SM1": "error"}},
    )
    migrations = prepare(app, count=1)
    write_revision(
        migrations,
        f'''
        """empty message

        Revision ID: f7000000down
        """
        from alembic import op

        revision = "f7000000down"
        down_revision = {REVISIONS[0]!r}
        branch_labels = None
        depends_on = None


        def upgrade():
            pass


        def downgrade():
            op.execute("DELETE FROM widgets")
        ''',
    )
    lint = invoke(app, "db", "lint")
    assert lint.exit_code == 1, lint.output  # both are errors to lint itself
    assert "SM402" in lint.output and "SM106" in lint.output

    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 0, result.output
    assert "lint: no findings in 2 pending scripts (2 findings about downgrade() or for review" in (
        result.output
    )
    assert "`flask db lint` shows them" in result.output
    assert "SM402" not in result.output and "SM106" not in result.output
    assert versions_of(database_url) == ["f7000000down"]


def test_a_deploy_shows_no_finding_of_applied_revisions(
    make_app: MakeApp, database_url: str
) -> None:
    """A warning of a revision the database already has is not repeated by the next deploy."""
    app = make_app(database_url, models=_noted, config=NO_BACKUP)
    migrations = prepare(app, count=1)
    write_revision(
        migrations, _not_null_source("        op.execute(\"UPDATE widgets SET name = 'x'\")")
    )
    code, data = _upgrade(app, "--no-verify")  # the models are those of the next release
    assert code == 0, data
    assert [p["check"] for p in data["problems"]] == ["unbounded-update"]
    write_revision(
        migrations,
        f'''
        """widgets get a note

        Revision ID: f8000000note
        """
        import sqlalchemy as sa
        from alembic import op

        revision = "f8000000note"
        down_revision = {SET_NOT_NULL!r}
        branch_labels = None
        depends_on = None


        def upgrade():
            with op.batch_alter_table("widgets") as batch_op:
                batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))


        def downgrade():
            with op.batch_alter_table("widgets") as batch_op:
                batch_op.drop_column("note")
        ''',
    )
    code, data = _upgrade(app)
    assert code == 0, data
    assert "unbounded-update" not in {p["check"] for p in data["problems"]}
    assert not [p for p in data["problems"] if SET_NOT_NULL in (p.get("path") or "")]
    assert versions_of(database_url) == ["f8000000note"]


def test_a_function_its_decorator_skips_on_this_dialect_is_not_judged(
    make_app: MakeApp, database_url: str
) -> None:
    """``@skip_if_sqlite`` (a project's own helper, named for what it does) keeps SQLite
    out of the function: its plain ALTER COLUMN never runs there."""
    app = make_app(database_url, models=_required_names, config=NO_BACKUP)
    migrations = prepare(app, count=1)
    source = _not_null_source(PLAIN_ALTER).replace(
        "    def upgrade():",
        "    def skip_if_sqlite(function):\n"
        "        def run():\n"
        '            if op.get_bind().dialect.name != "sqlite":\n'
        "                function()\n"
        "        return run\n\n\n"
        "    @skip_if_sqlite\n"
        "    def upgrade():",
    )
    write_revision(migrations, source)

    code, data = _upgrade(app, "--no-verify")  # SQLite keeps its NULL-able column
    assert code == 0, data
    assert [p for p in data["problems"] if p["severity"] == "error"] == []
    assert versions_of(database_url) == [SET_NOT_NULL]


NOTES, DROP_BODY = "a0000000note", "b0000000body"


def _notes_history(app: Any) -> Path:
    migrations = init_migrations(app)
    write_revision(
        migrations,
        f'''
        """notes

        Revision ID: {NOTES}
        """
        import sqlalchemy as sa
        from alembic import op

        revision = {NOTES!r}
        down_revision = None
        branch_labels = None
        depends_on = None


        def upgrade():
            op.create_table(
                "notes",
                sa.Column("id", sa.Integer(), primary_key=True),
                sa.Column("body", sa.Text(), nullable=True),
            )


        def downgrade():
            op.drop_table("notes")
        ''',
    )
    return migrations


DROP_BODY_SOURCE = f'''
    """notes lose their body

    Revision ID: {DROP_BODY}
    """
    import sqlalchemy as sa
    from alembic import op

    revision = {DROP_BODY!r}
    down_revision = {NOTES!r}
    branch_labels = None
    depends_on = None


    def upgrade():
        with op.batch_alter_table("notes") as batch_op:
            batch_op.drop_column("body")


    def downgrade():
        with op.batch_alter_table("notes") as batch_op:
            batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
    '''


def _notes_without_body(db: SQLAlchemy) -> None:
    sa.Table("notes", db.metadata, sa.Column("id", sa.Integer(), primary_key=True))


def test_a_drop_on_a_table_this_deploy_creates_passes_with_the_reason(
    make_app: MakeApp, database_url: str
) -> None:
    """A fresh database runs the whole history: the column it drops was created minutes ago
    by the same deploy, with no rows and no old server reading it."""
    app = make_app(database_url, models=_notes_without_body, config=NO_BACKUP)
    write_revision(_notes_history(app), DROP_BODY_SOURCE)

    code, data = _upgrade(app)
    assert code == 0, data
    (drop,) = [p for p in data["problems"] if p["check"] == "drop-column"]
    assert drop["severity"] == "info"
    assert (
        f"harmless here: `notes` does not exist yet; pending revision {NOTES}" in (drop["message"])
    )
    assert versions_of(database_url) == [DROP_BODY]


def test_a_drop_on_a_table_the_database_has_still_blocks(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=_notes_without_body, config=NO_BACKUP)
    migrations = _notes_history(app)
    first = invoke(app, "db", "safe-upgrade", "--no-verify")
    assert first.exit_code == 0, first.output
    write_revision(migrations, DROP_BODY_SOURCE)

    code, data = _upgrade(app)
    assert code == 3, data
    (drop,) = [p for p in data["problems"] if p["check"] == "drop-column"]
    assert drop["severity"] == "error"
    assert versions_of(database_url) == [NOTES]
