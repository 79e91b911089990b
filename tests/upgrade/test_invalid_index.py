"""PostgreSQL: an index a failed CREATE INDEX CONCURRENTLY left INVALID is reported (verify,
safe-upgrade's pre-flight) with what to do, and stops a deploy whose pending revision would
skip it with IF NOT EXISTS."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import nullpool_engine
from tests.support.revisions import write_revision
from tests.upgrade.histories import REVISIONS, TABLES, models, prepare, versions_of

pytestmark = pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)

INDEX_REVISION = "f8000000idx3"
INDEX_SCRIPT = f'''
"""index widgets.name"""
import sqlalchemy as sa
from alembic import op

revision = "{INDEX_REVISION}"
down_revision = "{REVISIONS[0]}"
branch_labels = None
depends_on = None


def upgrade():
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_widgets_name",
            "widgets",
            ["name"],
            unique=False,
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade():
    with op.get_context().autocommit_block():
        op.drop_index("ix_widgets_name", table_name="widgets", postgresql_concurrently=True)
'''


def _leave_an_invalid_index(url: str) -> None:
    """A unique index built concurrently over duplicates: it fails and stays, INVALID."""
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("INSERT INTO widgets (id, name) VALUES (1, 'dup'), (2, 'dup')")
            with pytest.raises(sa.exc.IntegrityError):
                conn.exec_driver_sql(
                    "CREATE UNIQUE INDEX CONCURRENTLY ix_widgets_name ON widgets (name)"
                )
            valid = conn.exec_driver_sql(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_widgets_name'::regclass"
            ).scalar_one()
            assert valid is False
    finally:
        engine.dispose()


def _drop_it(url: str) -> None:
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("DROP INDEX CONCURRENTLY ix_widgets_name")
    finally:
        engine.dispose()


def test_an_invalid_index_is_reported_and_blocks_the_create_that_would_skip_it(
    make_app: MakeApp, database_url: str
) -> None:
    config = {"SAFEMIGRATE_BACKUP": False}
    app = make_app(database_url, models=models(TABLES[:1]), config=config)
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade").exit_code == 0
    _leave_an_invalid_index(database_url)

    code, data, _ = invoke_json(app, "db", "verify", "--format", "json")
    # The leftover is an index the models do not have: drift says so too (an error).
    assert [p["check"] for p in data["problems"]] == ["invalid-index", "schema-drift"]
    problem = data["problems"][0]
    assert (code, problem["severity"]) == (1, "warning")
    assert (problem["index"], problem["table"], problem["schema"]) == (
        "ix_widgets_name",
        "widgets",
        "public",
    )
    assert "is INVALID" in problem["message"] and "IF NOT EXISTS skips it" in problem["message"]
    assert problem["help"].startswith(
        "unless a build is running now, run `DROP INDEX CONCURRENTLY ix_widgets_name;`"
    )

    write_revision(migrations, INDEX_SCRIPT)
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 3, result.output
    assert "error[invalid-index]: Index ix_widgets_name on table widgets" in result.output
    assert "(a pending revision creates an index of that name)" in result.output
    assert versions_of(database_url) == [REVISIONS[0]]

    _drop_it(database_url)
    result = invoke(app, "db", "safe-upgrade", "--no-verify")
    assert result.exit_code == 0, result.output
    assert "invalid-index" not in result.output
    assert versions_of(database_url) == [INDEX_REVISION]


GUARDED_SCRIPT = INDEX_SCRIPT.replace(
    "    with op.get_context().autocommit_block():\n        op.create_index(",
    "    with op.get_context().autocommit_block():\n"
    '        if guards.index_missing("widgets", "ix_widgets_name"):\n'
    "            op.create_index(",
    1,
).replace(
    "from alembic import op\n", "from alembic import op\n\nfrom flask_safemigrate import guards\n"
)


def test_a_pending_guarded_create_rebuilds_the_invalid_index_and_passes(
    make_app: MakeApp, database_url: str
) -> None:
    """guards.index_missing drops an INVALID index and answers "missing": the revision that
    asks it rebuilds the index, so pre-flight warns instead of stopping the deploy."""
    assert 'if guards.index_missing("widgets", "ix_widgets_name"):' in GUARDED_SCRIPT
    config = {"SAFEMIGRATE_BACKUP": False}
    app = make_app(database_url, models=models(TABLES[:1]), config=config)
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade").exit_code == 0
    _leave_an_invalid_index(database_url)
    _clear_duplicates(database_url)

    write_revision(migrations, GUARDED_SCRIPT)
    result = invoke(app, "db", "safe-upgrade", "--no-verify")
    assert result.exit_code == 0, result.output
    assert "warning[invalid-index]: Index ix_widgets_name on table widgets" in result.output
    assert "checks it with guards.index_missing, which rebuilds it" in result.output
    assert versions_of(database_url) == [INDEX_REVISION]
    engine = nullpool_engine(database_url)
    try:
        with engine.connect() as conn:
            valid = conn.exec_driver_sql(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_widgets_name'::regclass"
            ).scalar_one()
    finally:
        engine.dispose()
    assert valid is True


def _clear_duplicates(url: str) -> None:
    engine = nullpool_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM widgets WHERE id = 2")
    finally:
        engine.dispose()
