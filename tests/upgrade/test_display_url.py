"""Reports name a database by the URL the user configured (issue #17, reports fit for 3 a.m.).

Flask-SQLAlchemy adds ``?charset=utf8mb4`` to a MySQL/MariaDB URL without a charset, and
messages used to show the engine's URL with it: a query string the user never wrote. The
password stays masked; a query key the user wrote stays shown.
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from flask_safemigrate import app_engine_options, database
from tests.support.apps import MakeApp, sqlalchemy_of
from tests.support.cli import invoke, invoke_json
from tests.upgrade.histories import TABLES, models, prepare

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}


def test_an_added_query_key_is_not_shown_and_the_password_stays_masked() -> None:
    config = {
        "SQLALCHEMY_DATABASE_URI": "mysql+pymysql://app:s3cret-pw@db:3306/shop",
        "SQLALCHEMY_BINDS": {
            "logs": {"url": "mysql+pymysql://app:s3cret-pw@db:3306/logs?ssl_ca=ca.pem"}
        },
    }
    engine_urls = (
        "mysql+pymysql://app:s3cret-pw@db:3306/shop?charset=utf8mb4",
        "mysql+pymysql://app:s3cret-pw@db:3306/logs?charset=utf8mb4&ssl_ca=ca.pem",
        # A scratch database on the app's server (verify --roundtrip): derived from its URL.
        "mysql+pymysql://app:s3cret-pw@db:3306/sm_scratch?charset=utf8mb4",
    )
    assert [database.mask_url(url) for url in engine_urls] == [
        u.replace("s3cret-pw", "***") for u in engine_urls
    ]  # outside a command: the engine's URL
    with app_engine_options.applied(config):
        shown = [database.mask_url(url) for url in engine_urls]
        # Another server, or another login: nothing to compare with, shown as it is.
        other = database.mask_url("mysql+pymysql://app@elsewhere/shop?charset=utf8mb4")
    assert shown == [
        "mysql+pymysql://app:***@db:3306/shop",
        "mysql+pymysql://app:***@db:3306/logs?ssl_ca=ca.pem",
        "mysql+pymysql://app:***@db:3306/sm_scratch",
    ]
    assert other == "mysql+pymysql://app@elsewhere/shop?charset=utf8mb4"


@pytest.mark.mysql
@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_mariadb_reports_show_the_url_as_configured(make_app: MakeApp, database_url: str) -> None:
    assert "charset" not in database_url
    app = make_app(database_url, models=models(TABLES[:2]), config=NO_BACKUP)
    with app.app_context():
        engine_url = sqlalchemy_of(app).engine.url
    # What made the URL in reports differ: the engine's URL has a key the user never wrote.
    written = make_url(database_url)
    assert dict(engine_url.query) == {**written.query, "charset": "utf8mb4"}
    assert engine_url.set(query={}) == written.set(query={})
    prepare(app, count=2)

    result = invoke(app, "db", "safe-upgrade", "+1")
    assert result.exit_code == 0, result.output
    assert f"preflight: {database_url} at base" in result.stdout, result.stdout
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert code == 0, data
    code, verified, _ = invoke_json(app, "db", "verify", "--format", "json")
    (problem,) = [p for p in verified["problems"] if p["check"] == "not-at-head"]
    assert problem["database"] == database_url, problem
    code, ledger, _ = invoke_json(app, "db", "ledger", "show", "--format", "json")
    assert [db["database"] for db in ledger["databases"]] == [database_url]
    text = invoke(app, "db", "ledger", "show").output
    assert text.startswith(f"Ledger of {database_url} (1 row)"), text
    everything = result.output + str(data) + str(verified) + str(ledger) + text
    assert "charset" not in everything


@pytest.mark.mysql
@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_a_charset_the_user_wrote_is_shown(make_app: MakeApp, database_url: str) -> None:
    written = f"{database_url}{'&' if '?' in database_url else '?'}charset=utf8mb4"
    app = make_app(written, models=models(TABLES[:1]), config=NO_BACKUP)
    prepare(app, count=1)
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 0, result.output
    shown = make_url(written).render_as_string(hide_password=False)  # query keys sorted
    assert "charset=utf8mb4" in shown
    assert f"preflight: {shown} at base" in result.stdout, result.stdout
