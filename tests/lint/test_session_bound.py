"""What nested-transaction (SM306) now assumes, checked on real databases.

A session bound to the migration's connection (``orm.Session(bind=op.get_bind())``) joins
Alembic's transaction: its ``commit()`` does not end it, so a later failure still rolls the
session's rows back with the rest of the revision. That is why lint no longer reports it.
"""

from __future__ import annotations

import sqlalchemy as sa

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import nullpool_engine
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
