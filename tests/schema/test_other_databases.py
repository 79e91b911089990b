"""SAFEMIGRATE_SCHEMA on SQLite (no schemas) and MariaDB (a schema is a database): refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.apps import MakeApp, init_migrations
from tests.support.cli import invoke
from tests.support.databases import DbKind, table_names
from tests.support.revisions import write_revision
from tests.support.schema import SCHEMA, users_revision


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.sqlite),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def db_kind(request: pytest.FixtureRequest) -> DbKind:
    kind: DbKind = request.param
    return kind


def test_sqlite_and_mariadb_refuse_the_setting_clearly(
    db_kind: DbKind, database_url: str, make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(database_url, config={"SAFEMIGRATE_SCHEMA": SCHEMA})
    init_migrations(app)
    write_revision(Path(app.extensions["migrate"].directory), users_revision(schema=None))
    expected = "SQLite has no schemas" if db_kind == "sqlite" else "a schema is a database"

    for command in (("safe-upgrade",), ("verify",), ("verify", "--roundtrip", "--no-db")):
        result = invoke(app, "db", *command)
        assert result.exit_code == 2, (command, result.output)
        assert expected in result.output and "Traceback" not in result.output
    stock = invoke(app, "db", "upgrade")  # Flask-Migrate's own command: its one-line error
    assert stock.exit_code == 1
    assert expected in caplog.text  # Flask-Migrate logs it as "Error: ..."
    assert table_names(database_url) == set()  # nothing was created anywhere
