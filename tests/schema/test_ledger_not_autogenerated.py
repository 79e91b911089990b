"""Without a dedicated schema too, autogenerate never offers to drop the ledger (a contract)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke_ok
from tests.support.databases import DB_KINDS, DbKind, table_names
from tests.support.revisions import write_revision
from tests.support.schema import declare_models, users_revision


@pytest.fixture(params=[pytest.param(kind, marks=getattr(pytest.mark, kind)) for kind in DB_KINDS])
def db_kind(request: pytest.FixtureRequest) -> DbKind:
    kind: DbKind = request.param
    return kind


def test_migrate_after_safe_upgrade_finds_no_changes(database_url: str, make_app: MakeApp) -> None:
    app = make_app(database_url, config={"SAFEMIGRATE_BACKUP": False}, models=declare_models(None))
    migrations = init_migrations(app)
    write_revision(migrations, users_revision(schema=None))
    invoke_ok(app, "db", "safe-upgrade")
    assert {"safemigrate_ledger", "safemigrate_release"} <= table_names(database_url)

    result = invoke_ok(app, "db", "migrate", "-m", "nothing changed since")

    assert sorted(p.name for p in Path(migrations, "versions").glob("*.py")) == ["a1_test.py"]
    assert "safemigrate_ledger" not in result.output
    assert "safemigrate_release" not in result.output
