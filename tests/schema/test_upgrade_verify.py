"""safe-upgrade and verify with SAFEMIGRATE_SCHEMA on PostgreSQL: everything in ``app_ops``."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from flask_safemigrate import locks
from tests.support.cli import invoke, invoke_json, invoke_ok
from tests.support.databases import execute, scalars, tables_by_schema
from tests.support.revisions import write_revision
from tests.support.schema import SCHEMA, users_revision

AppFactory = Callable[..., Flask]


def _migrations(app: Flask) -> Path:
    return Path(app.extensions["migrate"].directory)


def test_safe_upgrade_puts_tables_version_and_ledger_in_the_schema(
    schema_app: AppFactory, database_url: str
) -> None:
    app = schema_app()
    write_revision(_migrations(app), users_revision())

    first = invoke_ok(app, "db", "safe-upgrade")
    assert "Applied 1 revision" in first.output

    tables = tables_by_schema(database_url)
    assert tables[SCHEMA] == {
        "users",
        "items",
        "alembic_version",
        "safemigrate_ledger",
        "safemigrate_release",  # the release deployed: beside the ledger, in the schema
    }
    assert tables["public"] == set()
    heads = scalars(database_url, f"SELECT heads FROM {SCHEMA}.safemigrate_release")
    assert heads == ["a1"]
    assert scalars(database_url, f"SELECT version_num FROM {SCHEMA}.alembic_version") == ["a1"]
    assert scalars(database_url, f"SELECT revision FROM {SCHEMA}.safemigrate_ledger") == ["a1"]

    again = invoke_ok(app, "db", "safe-upgrade")  # idempotent: nothing to do, still no drift
    assert "Already at a1" in again.output
    assert tables_by_schema(database_url) == tables
    code, report, _ = invoke_json(app, "db", "verify", "--format", "json")
    assert (code, report["ok"], report["current"]) == (0, True, ["a1"])


def test_the_schema_is_created_when_missing_and_reused_when_present(
    schema_app: AppFactory, database_url: str
) -> None:
    execute(
        database_url, f"CREATE SCHEMA {SCHEMA}", autocommit=True
    )  # made by an administrator beforehand
    app = schema_app()
    write_revision(_migrations(app), users_revision())
    invoke_ok(app, "db", "safe-upgrade")
    assert tables_by_schema(database_url)[SCHEMA] >= {"users", "alembic_version"}


def test_verify_reports_drift_in_the_schema_only(schema_app: AppFactory, database_url: str) -> None:
    app = schema_app()
    write_revision(_migrations(app), users_revision())
    invoke_ok(app, "db", "safe-upgrade")
    execute(
        database_url,
        "CREATE TABLE public.stray (id int)",  # another app's business
        "CREATE SCHEMA other_app",
        "CREATE TABLE other_app.users (id int)",
        f"CREATE TABLE {SCHEMA}.extra (id int)",  # ours, not in the models
        f"ALTER TABLE {SCHEMA}.users ADD COLUMN nickname text",
        autocommit=True,
    )

    code, report, _ = invoke_json(app, "db", "verify", "--format", "json")

    assert code == 1
    drift = sorted(p["difference"] for p in report["problems"] if p["check"] == "schema-drift")
    assert drift == [
        f"{SCHEMA}.users.nickname: column in database, not in models",
        f"table {SCHEMA}.extra: in database, not in models",
    ]
    assert "stray" not in str(report) and "other_app" not in str(report)


def test_verify_roundtrip_runs_in_the_schema(schema_app: AppFactory) -> None:
    app = schema_app()
    write_revision(_migrations(app), users_revision())
    invoke_ok(app, "db", "safe-upgrade")

    code, report, _ = invoke_json(app, "db", "verify", "--roundtrip", "--format", "json")

    assert (code, report["ok"]) == (0, True), report
    assert report["roundtrip"]["ran"] is True
    assert report["roundtrip"]["completed"] == 1


def test_verify_roundtrip_sees_what_a_downgrade_leaves_in_the_schema(
    schema_app: AppFactory,
) -> None:
    app = schema_app()
    leaky = textwrap.dedent(users_revision()).replace(
        "def downgrade():",
        "    op.create_table('audit', sa.Column('id', sa.Integer()), schema='app_ops')\n\n\n"
        "def downgrade():",
    )
    assert "'audit'" in leaky
    write_revision(_migrations(app), leaky)

    code, report, _ = invoke_json(app, "db", "verify", "--no-db", "--roundtrip", "--format", "json")

    assert code == 1
    (trace,) = [p for p in report["problems"] if p["check"] == "downgrade-leaves-trace"]
    assert f"still has table {SCHEMA}.audit" in trace["message"]


def test_verify_roundtrip_with_a_scratch_url_drops_the_schema_after(
    schema_app: AppFactory, database_url: str
) -> None:
    from sqlalchemy.engine import make_url

    from tests.support.databases import scratch_database

    app = schema_app()
    write_revision(_migrations(app), users_revision())
    url = make_url(database_url)
    with scratch_database("postgresql", url) as scratch:
        shown = scratch.render_as_string(hide_password=False)
        result = invoke(app, "db", "verify", "--no-db", "--roundtrip", "--scratch-url", shown)
        assert result.exit_code == 0, result.output
        assert SCHEMA not in tables_by_schema(shown)


def test_a_model_table_outside_the_schema_is_refused_by_name(
    schema_app: AppFactory, database_url: str
) -> None:
    from tests.support.schema import declare_models

    app = schema_app(models=declare_models(None))  # schema-less models, default schema public
    write_revision(_migrations(app), users_revision())

    upgrade = invoke(app, "db", "safe-upgrade")
    verify = invoke(app, "db", "verify")

    for result in (upgrade, verify):
        assert result.exit_code == 2, result.output
        assert f"model tables outside SAFEMIGRATE_SCHEMA '{SCHEMA}': users, items" in result.output
        assert "Traceback" not in result.output
    assert tables_by_schema(database_url)["public"] == set()


def test_schema_less_models_are_accepted_when_the_default_schema_is_the_dedicated_one(
    schema_app: AppFactory, database_url: str
) -> None:
    from tests.support.schema import declare_models

    execute(database_url, f"CREATE SCHEMA {SCHEMA}", autocommit=True)
    on_schema = f"{database_url}?options=-csearch_path%3D{SCHEMA}"
    app = schema_app(models=declare_models(None), url=on_schema)
    write_revision(_migrations(app), users_revision(schema=None))

    invoke_ok(app, "db", "safe-upgrade")
    code, report, _ = invoke_json(app, "db", "verify", "--format", "json")

    assert (code, report["problems"]) == (0, [])
    assert tables_by_schema(database_url)[SCHEMA] >= {"users", "items", "alembic_version"}


def test_the_lock_name_includes_the_schema(database_url: str) -> None:
    a = locks.lock_name(database_url, schema="app_a")
    b = locks.lock_name(database_url, schema="app_b")
    assert a != b
    assert locks.advisory_key(a) != locks.advisory_key(b)


def test_offline_sql_creates_and_uses_the_schema(schema_app: AppFactory, database_url: str) -> None:
    app = schema_app()
    write_revision(_migrations(app), users_revision())

    result = invoke_ok(app, "db", "safe-upgrade", "--sql")

    # stdout is the SQL (findings go to stderr, so `--sql > plan.sql` holds only SQL)
    assert result.stdout.startswith(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}";')
    assert f'SET search_path TO "{SCHEMA}";' in result.stdout
    execute(database_url, result.stdout, autocommit=True)  # what a DBA would run with psql
    tables = tables_by_schema(database_url)
    assert tables[SCHEMA] == {"users", "items", "alembic_version"}
    assert tables["public"] == set()
    code, report, _ = invoke_json(app, "db", "verify", "--format", "json")
    assert (code, report["current"]) == (0, ["a1"]), report


def test_compat_with_reads_the_dedicated_schema(
    schema_app: AppFactory, database_url: str, tmp_path: Path
) -> None:
    """``verify --compat-with`` builds the schema in the scratch database's ``app_ops`` and
    matches the snapshot's ``app_ops.users`` there."""
    app = schema_app()
    write_revision(_migrations(app), users_revision())
    invoke_ok(app, "db", "snapshot")
    snapshot = _migrations(app) / "models.snapshot.json"
    data = json.loads(snapshot.read_text(encoding="utf-8"))
    assert sorted(data["databases"][0]["tables"]) == [f"{SCHEMA}.items", f"{SCHEMA}.users"]
    code, report, _ = invoke_json(
        app, "db", "verify", "--no-db", "--compat-with", str(snapshot), "--format", "json"
    )
    assert (code, report["problems"]) == (0, [])
    users = data["databases"][0]["tables"][f"{SCHEMA}.users"]
    users["columns"]["biography"] = {"type": "text", "nullable": True}
    release = tmp_path / "release-1.json"
    release.write_text(json.dumps(data), encoding="utf-8")
    code, report, _ = invoke_json(
        app, "db", "verify", "--no-db", "--compat-with", str(release), "--format", "json"
    )
    assert code == 1
    assert [(p["check"], p["table"], p["column"]) for p in report["problems"]] == [
        ("breaks-previous-release", f"{SCHEMA}.users", "biography")
    ]
    assert tables_by_schema(database_url).get(SCHEMA, set()) == set()  # the app's: untouched
