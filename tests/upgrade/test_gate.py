"""The pre-flight lint gate judges what the upgrade will run, where it will run it.

Only ``upgrade()`` of the pending scripts, on the live database's dialect, in the branches
that dialect reaches; convention findings and findings about ``downgrade()`` never block, and
a deploy lists those of its pending scripts one line each (never those of applied revisions).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke, invoke_json
from tests.support.databases import engine_for
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


def test_downgrade_and_convention_findings_never_block_and_are_listed(
    make_app: MakeApp, database_url: str
) -> None:
    """Even raised to errors by the project's lint settings, convention findings do not
    stop a deploy; what downgrade() would do is not what an upgrade runs. The pre-flight
    line counts them and lists them, one line each with code and file:line (text and JSON
    ``review``), of the pending scripts only: the next deploy does not list them again."""
    app = make_app(
        database_url,
        models=models(("widgets",)),
        config={**NO_BACKUP, "SAFEMIGRATE_LINT_SEVERITY": {"SM4": "error", "SM1": "error"}},
    )
    migrations = prepare(app, count=1)
    down = write_revision(migrations, _empty_upgrade("f7000000down", REVISIONS[0], DELETE_ALL))
    lint = invoke(app, "db", "lint")
    assert lint.exit_code == 1, lint.output  # both are errors to lint itself
    assert "SM402" in lint.output and "SM106" in lint.output

    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # Not "no findings ... (2 findings ...)": the count is of what upgrade() runs.
    head = "preflight: lint: no findings in upgrade() of 2 pending scripts; 2 findings about"
    (at,) = [i for i, line in enumerate(lines) if line.startswith(head)]
    assert lines[at].endswith("downgrade() or for review (never blocking, listed below)"), lines
    listed = lines[at + 1 : at + 3]
    where = down.relative_to(Path.cwd()) if down.is_relative_to(Path.cwd()) else down
    assert {line.split(": ", 1)[1].split(" ", 2)[1] for line in listed} == {"SM402", "SM106"}
    severities = ("error ", "warning ", "info ")
    assert all(line.split(": ", 1)[1].startswith(severities) for line in listed)
    assert all(line.startswith(f"  {where}:") for line in listed), listed
    # Short: the rule and the first clause of its message.
    assert all(len(line.split("] ", 1)[1]) <= 100 for line in listed), listed
    # Nothing else was shown about them (the release check's line, then the lock).
    assert lines[at + 3].startswith("preflight: compat: "), lines
    assert lines[at + 4].startswith("lock: "), lines
    assert versions_of(database_url) == ["f7000000down"]

    # JSON has them under review (never blocking: not problems); a later deploy lists only its
    # own pending script's, not the applied revision's.
    write_revision(migrations, _empty_upgrade("f8000000more", "f7000000down", "pass"))
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data
    assert [(r["code"], r["rule"], r["severity"]) for r in data["review"]] == [
        ("SM402", "vague-message", "error")
    ], data["review"]
    assert data["review"][0]["path"].endswith("f8000000more_test.py")
    assert isinstance(data["review"][0]["line"], int)
    assert not [p for p in data["problems"] if p.get("code") in ("SM402", "SM106")]


DELETE_ALL = 'op.execute("DELETE FROM widgets")'


def _empty_upgrade(rev: str, down: str, downgrade: str) -> str:
    """A revision with the default message ``empty message`` (SM402), an upgrade() that does
    nothing, and ``downgrade`` as its downgrade()."""
    return f'''
        """empty message

        Revision ID: {rev}
        """
        from alembic import op

        revision = "{rev}"
        down_revision = {down!r}
        branch_labels = None
        depends_on = None


        def upgrade():
            pass


        def downgrade():
            {downgrade}
        '''


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
    """The column it drops was created minutes ago by the same deploy, with no rows and no
    old server reading it (the database has another table: the reason is notes' own)."""
    app = make_app(database_url, models=_notes_without_body, config=NO_BACKUP)
    write_revision(_notes_history(app), DROP_BODY_SOURCE)
    other = sa.MetaData()
    sa.Table("other", other, sa.Column("id", sa.Integer(), primary_key=True))
    with engine_for(database_url) as engine:
        other.create_all(engine)

    code, data = _upgrade(app, "--no-verify")
    assert code == 0, data
    (drop,) = [p for p in data["problems"] if p["check"] == "drop-column"]
    assert drop["severity"] == "info"
    assert (
        f"harmless here: `notes` does not exist in this database yet; pending revision {NOTES}"
        in drop["message"]
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


LOOP_INDEXES = f'''
    """index the notes

    Revision ID: c0000000loop
    """
    from alembic import op

    revision = "c0000000loop"
    down_revision = {NOTES!r}
    branch_labels = None
    depends_on = None

    INDEXES = [("notes", "body")]


    def upgrade():
        for table, column in INDEXES:
            op.create_index(op.f(f"ix_{{table}}_{{column}}"), table, [column])


    def downgrade():
        for table, column in INDEXES:
            op.drop_index(op.f(f"ix_{{table}}_{{column}}"), table_name=table)
    '''


def _notes_with_index(db: SQLAlchemy) -> None:
    sa.Table(
        "notes",
        db.metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Index("ix_notes_body", "body", mysql_length=20),
    )


def test_a_database_without_tables_has_nothing_to_lock(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    """An index built in a loop over a constant (lint cannot name its table) on a fresh
    database: every table comes from the plan. On a database that has the table, the
    PostgreSQL lock finding stands."""
    app = make_app(database_url, models=_notes_with_index, config=NO_BACKUP)
    migrations = _notes_history(app)
    source = LOOP_INDEXES
    if db_kind == "mysql":  # MariaDB indexes a TEXT column by a prefix
        source = source.replace("[column])", "[column], mysql_length=20)")
    write_revision(migrations, source)

    code, data = _upgrade(app)
    assert code == 0, data
    assert versions_of(database_url) == ["c0000000loop"]
    if db_kind == "postgresql":
        (index,) = [p for p in data["problems"] if p["check"] == "create-index-not-concurrently"]
        assert index["severity"] == "info"
        assert "the database has no tables yet" in index["message"]

    assert invoke(app, "db", "downgrade", NOTES).exit_code == 0
    code, data = _upgrade(app)
    errors = [p["check"] for p in data["problems"] if p["severity"] == "error"]
    if db_kind == "postgresql":
        assert code == 3, data
        assert errors == ["create-index-not-concurrently"]
    else:
        assert code == 0, data


def test_dropping_a_table_the_database_lacks_loses_nothing(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(("widgets",)), config=NO_BACKUP)
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade").exit_code == 0
    write_revision(
        migrations,
        f'''
        """drop the legacy table where an old install still has it

        Revision ID: d0000000lega
        """
        from alembic import op

        revision = "d0000000lega"
        down_revision = {REVISIONS[0]!r}
        branch_labels = None
        depends_on = None


        def upgrade():
            op.execute("DROP TABLE IF EXISTS legacy")


        def downgrade():
            pass
        ''',
    )
    code, data = _upgrade(app)
    assert code == 0, data
    (drop,) = [p for p in data["problems"] if p["check"] == "drop-table"]
    assert drop["severity"] == "info"
    assert "`legacy` does not exist in this database yet" in drop["message"]
    assert versions_of(database_url) == ["d0000000lega"]
