"""What nested-transaction (SM306) now assumes, checked on real databases.

A session bound to the migration's connection (``orm.Session(bind=op.get_bind())``) joins
Alembic's transaction: its ``commit()`` does not end it, so a later failure still rolls the
session's rows back with the rest of the revision. That is why lint no longer reports it.
Its ``rollback()`` does end Alembic's transaction: swallowed (no ``raise`` after it), it
leaves a database that says the revision never ran, or a run that fails at the end.
"""

from __future__ import annotations

import sqlalchemy as sa

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import DbKind, nullpool_engine
from tests.support.revisions import write_revision
from tests.upgrade.histories import FAIL_STATEMENT, models, prepare, versions_of

SCRIPT = f'''
"""fill the widgets through a session, then fail"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import orm

revision = "f8000000sess"
down_revision = "a1000000wid1"
branch_labels = None
depends_on = None


def upgrade():
    session = orm.Session(bind=op.get_bind())
    session.execute(sa.text("INSERT INTO widgets (id, name) VALUES (1, 'committed?')"))
    session.commit()
    op.execute(sa.text({FAIL_STATEMENT!r}))


def downgrade():
    pass
'''


def test_session_commit_does_not_end_alembics_transaction(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(("widgets",)))
    migrations = prepare(app, count=1)
    invoke_ok(app, "db", "upgrade")
    write_revision(migrations, SCRIPT)
    failed = invoke(app, "db", "upgrade")
    assert failed.exit_code != 0
    engine = nullpool_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT COUNT(*) FROM widgets")).scalar_one()
    finally:
        engine.dispose()
    assert rows == 0  # the session's commit() was not a commit of the migration
    assert versions_of(database_url) == ["a1000000wid1"]


SWALLOWED = f'''
"""make gadgets, then fill it through a session; a failure is only printed"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy import orm

revision = "f8000000swal"
down_revision = "a1000000wid1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("gadgets", sa.Column("id", sa.Integer(), primary_key=True))
    session = orm.Session(bind=op.get_bind())
    try:
        session.execute(sa.text({FAIL_STATEMENT!r}))
        session.commit()
    except Exception as exc:
        session.rollback()
        print("could not fill gadgets:", exc)


def downgrade():
    pass
'''


def test_swallowed_session_rollback_loses_the_revision(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """Why SM306 still reports ``rollback()`` when no ``raise`` follows it."""
    app = make_app(database_url, models=models(("widgets",)))
    migrations = prepare(app, count=1)
    write_revision(migrations, SWALLOWED)
    result = invoke(app, "db", "upgrade")
    engine = nullpool_engine(database_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if db_kind == "postgresql":
        # The rollback undid the whole run, the first revision included, and it fails.
        assert result.exit_code != 0
        assert versions_of(database_url) == []
        assert "widgets" not in tables
    else:
        # SQLite, MariaDB: the run "succeeds", the database says the revision never ran,
        # yet its table is there: the next upgrade fails on it.
        assert result.exit_code == 0, result.output
        assert versions_of(database_url) == ["a1000000wid1"]
        assert "gadgets" in tables
