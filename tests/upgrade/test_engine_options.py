"""``SQLALCHEMY_ENGINE_OPTIONS`` honoured by every connection the tool opens (issue #13 item 6).

The app's URL alone does not log in: the missing piece is in ``connect_args``, as a password
(MariaDB checks it) or the login name (PostgreSQL here trusts every existing role, so a
password would prove nothing; a role that exists only in ``connect_args`` does). ``flask db
upgrade`` works through the app's engine; safe-upgrade's pre-flight, lock, ledger and backup,
``verify`` and its roundtrip's scratch database, and ``lint --pending`` must work too.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import DbKind, admin_engine, server_url
from tests.upgrade.histories import REVISIONS, models, prepare, versions_of

SERVERS = pytest.mark.parametrize(
    "db_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
    indirect=True,
)


@pytest.fixture
def login_in_connect_args(
    db_kind: DbKind, database_url: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """A URL that cannot log in by itself, and the ``connect_args`` that make it work."""
    user = f"sm_eo_{secrets.token_hex(4)}"
    password = f"Eo-{secrets.token_hex(8)}"
    engine = admin_engine(server_url(db_kind))
    try:
        with engine.connect() as conn:
            if db_kind == "postgresql":
                conn.exec_driver_sql(f'CREATE ROLE "{user}" LOGIN SUPERUSER')
            else:
                conn.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY '{password}'")
                conn.exec_driver_sql(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%%'")
    finally:
        engine.dispose()
    url = make_url(database_url)
    if db_kind == "postgresql":
        bare, args = url.set(username=f"{user}_absent", password=None), {"user": user}
    else:
        bare, args = url.set(username=user, password=None), {"password": password}
    try:
        yield bare.render_as_string(hide_password=False), args
    finally:
        if db_kind == "postgresql":  # what the role created in the test's database
            owned = admin_engine(make_url(database_url))
            try:
                with owned.connect() as conn:
                    conn.exec_driver_sql(f'REASSIGN OWNED BY "{user}" TO CURRENT_USER')
            finally:
                owned.dispose()
        engine = admin_engine(server_url(db_kind))
        try:
            with engine.connect() as conn:
                if db_kind == "postgresql":
                    conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{user}"')
                else:
                    conn.exec_driver_sql(f"DROP USER IF EXISTS '{user}'@'%%'")
        finally:
            engine.dispose()


@SERVERS
def test_every_connection_honours_the_apps_connect_args(
    db_kind: DbKind,
    database_url: str,
    login_in_connect_args: tuple[str, dict[str, Any]],
    make_app: MakeApp,
    tmp_path: Path,
) -> None:
    bare, args = login_in_connect_args
    backups = tmp_path / "backups"
    config: dict[str, Any] = {
        "SAFEMIGRATE_BACKUP_DIR": str(backups),
        "SAFEMIGRATE_CONNECT_RETRIES": 0,
    }
    # Without the options nothing logs in: the options are what the test is about.
    without = make_app(bare, models=models(), config=config)
    prepare(without)
    code, data, _ = invoke_json(without, "db", "safe-upgrade", "--format", "json")
    assert code == 3, data
    assert [p["check"] for p in data["problems"]] == ["database-unreachable"], data

    options = {"SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": args, "pool_pre_ping": True}}
    app = make_app(bare, models=models(), config={**config, **options})
    code, data, _ = invoke_json(app, "db", "safe-upgrade", REVISIONS[1], "--format", "json")
    assert code == 0, data  # pre-flight, lock, ledger, no backup by default on a server
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--backup", "--format", "json")
    assert code == 0, data
    assert data["backup"] and Path(data["backup"]).stat().st_size > 0, data  # the dump tool
    assert versions_of(database_url) == [REVISIONS[-1]]
    code, data, _ = invoke_json(app, "db", "verify", "--format", "json")
    assert code == 0, data
    code, data, _ = invoke_json(app, "db", "verify", "--roundtrip", "--format", "json")
    assert code == 0, data["problems"]  # the scratch database, on the app's server, with its login
    result = invoke(app, "db", "lint", "--pending")
    assert result.exit_code == 0, result.output
    if db_kind == "mysql":
        assert args["password"] not in result.output
