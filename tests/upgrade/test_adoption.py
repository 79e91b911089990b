"""Adopting an existing database: built by ``create_all()`` or by hand, or stamped too early.

Pre-flight stops before the first ``CREATE TABLE`` of a table that exists (plain ``flask db
upgrade`` fails there, halfway), writes nothing (no failed revision in the ledger), and names
the revision to stamp; following that advice reaches head.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke, invoke_json
from tests.support.databases import nullpool_engine
from tests.support.revisions import write_revision
from tests.upgrade.histories import ledger_rows, tables_of, versions_of

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}
USERS, POSTS, BIO = "a1000000user", "b2000000post", "c3000000bio0"


def _models(db: SQLAlchemy) -> None:
    """The app's models today: what ``db.create_all()`` builds."""
    sa.Table(
        "users",
        db.metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(50), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
    )
    sa.Table(
        "posts",
        db.metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(100), nullable=True),
    )


def _script(revision: str, down: str | None, body: str, undo: str) -> str:
    return f'''
    """{revision}

    Revision ID: {revision}
    """
    import sqlalchemy as sa
    from alembic import op

    revision = {revision!r}
    down_revision = {down!r}
    branch_labels = None
    depends_on = None


    def upgrade():
        {body}


    def downgrade():
        {undo}
    '''


CREATE_USERS = (
    'op.create_table("users", sa.Column("id", sa.Integer(), primary_key=True),'
    ' sa.Column("name", sa.String(50), nullable=True))'
)
CREATE_POSTS = (
    'op.create_table("posts", sa.Column("id", sa.Integer(), primary_key=True),'
    ' sa.Column("title", sa.String(100), nullable=True))'
)
ADD_BIO = (
    'with op.batch_alter_table("users") as batch_op:\n'
    '            batch_op.add_column(sa.Column("bio", sa.Text(), nullable=True))'
)
DROP_BIO = (
    'with op.batch_alter_table("users") as batch_op:\n            batch_op.drop_column("bio")'
)


def _history(app: Any, *, first: str = CREATE_USERS) -> None:
    migrations = init_migrations(app)
    write_revision(migrations, _script(USERS, None, first, 'op.drop_table("users")'))
    write_revision(migrations, _script(POSTS, USERS, CREATE_POSTS, 'op.drop_table("posts")'))
    write_revision(migrations, _script(BIO, POSTS, ADD_BIO, DROP_BIO))


def _create_all(app: Any, *tables: str) -> None:
    with app.app_context():
        db = app.extensions["sqlalchemy"]
        chosen = [db.metadata.tables[t] for t in tables] if tables else None
        db.metadata.create_all(db.engine, tables=chosen)


def _upgrade(app: Any) -> tuple[int, dict[str, Any]]:
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    return code, data


def _columns(url: str, table: str) -> set[str]:
    engine = nullpool_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_a_database_built_by_create_all_is_stopped_with_the_stamp_to_record(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=_models, config=NO_BACKUP)
    _history(app)
    _create_all(app)

    code, data = _upgrade(app)
    assert code == 3, data
    assert data["stage"] == "preflight"
    (problem,) = data["problems"]
    assert problem["check"] == "schema-ahead-of-revision"
    assert problem["revision"] == USERS
    assert "has no revision recorded" in problem["message"]
    assert "table users" in problem["message"]
    assert problem["stamp"] == BIO  # every table and column of the history is there
    assert f"`flask db stamp {BIO}`" in problem["help"]
    assert versions_of(database_url) == []
    assert ledger_rows(database_url) == []  # no failed revision recorded

    stamped = invoke(app, "db", "stamp", BIO)
    assert stamped.exit_code == 0, stamped.output
    code, data = _upgrade(app)
    assert code == 0, data
    assert versions_of(database_url) == [BIO]


def test_a_database_stamped_too_early_is_stopped_at_the_revision_it_already_has(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=_models, config=NO_BACKUP)
    _history(app)
    _create_all(app)
    assert invoke(app, "db", "stamp", USERS).exit_code == 0

    code, data = _upgrade(app)
    assert code == 3, data
    (problem,) = data["problems"]
    assert problem["check"] == "schema-ahead-of-revision"
    assert problem["revision"] == POSTS
    assert f"is at {USERS}" in problem["message"]
    assert problem["stamp"] == BIO
    assert versions_of(database_url) == [USERS]
    assert ledger_rows(database_url) == []


def test_a_history_that_starts_after_a_bootstrap_goes_on(
    make_app: MakeApp, database_url: str
) -> None:
    """The bootstrap made ``users`` as it was then; the history's first revision changes it
    and creates the rest: nothing it creates exists, so the plain path works and so do we."""
    app = make_app(database_url, models=_models, config=NO_BACKUP)
    migrations = init_migrations(app)
    write_revision(migrations, _script(POSTS, None, CREATE_POSTS, 'op.drop_table("posts")'))
    write_revision(migrations, _script(BIO, POSTS, ADD_BIO, DROP_BIO))
    bootstrap = sa.MetaData()
    sa.Table(
        "users",
        bootstrap,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(50), nullable=True),
    )
    engine = nullpool_engine(database_url)
    try:
        bootstrap.create_all(engine)
    finally:
        engine.dispose()

    code, data = _upgrade(app)
    assert code == 0, data
    assert versions_of(database_url) == [BIO]
    assert _columns(database_url, "users") == {"id", "name", "bio"}


def test_a_bootstrap_from_todays_models_is_stopped_at_the_column_it_has(
    make_app: MakeApp, database_url: str
) -> None:
    """The same history on a bootstrap made by create_all() from today's models: users
    already has bio, so the last revision would fail; only revisions before it may be run,
    and the advice names the one the schema reaches."""
    app = make_app(database_url, models=_models, config=NO_BACKUP)
    migrations = init_migrations(app)
    write_revision(migrations, _script(POSTS, None, CREATE_POSTS, 'op.drop_table("posts")'))
    write_revision(migrations, _script(BIO, POSTS, ADD_BIO, DROP_BIO))
    _create_all(app, "users")

    code, data = _upgrade(app)
    assert code == 3, data
    (problem,) = data["problems"]
    assert problem["revision"] == BIO
    assert problem["objects"] == ["column users.bio"]
    assert problem["stamp"] is None  # posts does not exist: no pending revision is done
    assert "`flask db stamp REVISION`" in problem["help"]
    assert ledger_rows(database_url) == []
    assert "posts" not in tables_of(database_url)


def test_guarded_creates_converge_on_what_exists(make_app: MakeApp, database_url: str) -> None:
    """A create behind an existence check (what ``flask db migrate`` writes with SafeMigrate)
    or with ``if_not_exists=True`` runs fine on what exists: not stopped."""
    app = make_app(database_url, models=_models, config=NO_BACKUP)
    _history(app, first=CREATE_USERS.replace("))", "), if_not_exists=True)"))
    _create_all(app, "users")
    engine = nullpool_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE users DROP COLUMN bio"))
    finally:
        engine.dispose()

    code, data = _upgrade(app)
    assert code == 0, data
    assert versions_of(database_url) == [BIO]


def test_a_table_dropped_first_may_be_created_again(make_app: MakeApp, database_url: str) -> None:
    """A rebuild (drop, or a guarded or raw-SQL drop, then create) frees the name first."""
    app = make_app(database_url, models=_models, config=NO_BACKUP)
    migrations = init_migrations(app)
    rebuild = (
        'if sa.inspect(op.get_bind()).has_table("users"):\n'
        '            op.drop_table("users")  # safemigrate: ignore[drop-table] -- rebuilt\n'
        '        op.execute("DROP TABLE posts")  # safemigrate: ignore[drop-table] -- rebuilt\n'
        f"        {CREATE_USERS}\n"
        f"        {CREATE_POSTS}"
    )
    write_revision(migrations, _script(USERS, None, rebuild, "pass"))
    write_revision(migrations, _script(BIO, USERS, ADD_BIO, DROP_BIO))
    _create_all(app, "users", "posts")
    engine = nullpool_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE users DROP COLUMN bio"))
    finally:
        engine.dispose()

    code, data = _upgrade(app)
    assert code == 0, data
    assert versions_of(database_url) == [BIO]
    assert _columns(database_url, "users") == {"id", "name", "bio"}
