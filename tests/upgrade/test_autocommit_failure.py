"""A revision that fails after its ``autocommit_block`` committed part of it.

``flask db migrate`` writes every new PostgreSQL index as ``CREATE INDEX CONCURRENTLY`` inside
``op.get_context().autocommit_block()``, which commits the revision's transaction first: the
steps before the block and those in it stay when a later step fails. The failure report must
list them, not say that the revision's transaction rolled everything back.
"""

from __future__ import annotations

import sqlalchemy as sa

from tests.support.apps import MakeApp
from tests.support.cli import invoke
from tests.support.databases import DbKind, nullpool_engine
from tests.upgrade.histories import (
    FAIL_STATEMENT,
    REVISIONS,
    fail_after_widgets,
    versions_of,
)

NOTE_REV = "f6000000not6"

UPGRADE = f"""
op.add_column('widgets', sa.Column('note', sa.String(length=20), nullable=True))
with op.get_context().autocommit_block():
    op.create_index('ix_widgets_note', 'widgets', ['note'])
op.add_column('widgets', sa.Column('later', sa.Integer(), nullable=True))
op.execute(sa.text({FAIL_STATEMENT!r}))
"""


def columns_of(url: str) -> set[str]:
    engine = nullpool_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns("widgets")}
    finally:
        engine.dispose()


def test_what_an_autocommit_block_committed_is_reported_as_left_behind(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    app, problem = fail_after_widgets(make_app, database_url, NOTE_REV, UPGRADE)

    assert versions_of(database_url) == [REVISIONS[0]]
    left = columns_of(database_url)
    assert "note" in left  # committed by the autocommit block, on every database
    message = problem["message"]
    assert "rolled back" not in message or "later" not in left, message
    assert "Nothing of" not in message, message
    assert "ADD COLUMN note" in message, message
    assert "ix_widgets_note" in message, message
    if db_kind != "mysql":
        # after the block a new transaction began: what ran in it did roll back
        assert "later" not in left
        assert "ADD COLUMN later" not in message, message
    assert "by hand" in problem["help"], problem["help"]
    text = invoke(app, "db", "verify").output
    assert "Traceback" not in text
