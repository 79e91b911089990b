"""Checks against the app's database: reachability, revisions, pending, drift.

Every test runs on SQLite, PostgreSQL and MariaDB (``database_url``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from flask_safemigrate import ledger, schema_diff
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import DbKind, engine_for, execute, server_url, sqlite_url, table_names
from tests.support.network import refused_port
from tests.support.verify import (
    ITEMS,
    ITEMS_SCRIPT,
    USERS,
    USERS_SCRIPT,
    VerifyApp,
    base_models,
    checks,
    problems,
    run_verify,
    script,
    script_path,
)

THIRD = "c3c3c3c3c3c3"
THIRD_SCRIPT = script(
    THIRD,
    ITEMS,
    'op.add_column("items", sa.Column("title", sa.String(length=80), nullable=True))',
    'op.drop_column("items", "title")',
    message="add items.title",
)


def third_models(metadata: sa.MetaData) -> None:
    base_models(metadata)
    metadata.tables["items"].append_column(sa.Column("title", sa.String(80)))


def stamp(url: str, revision: str) -> None:
    """Point the version table at ``revision`` (as a newer release would have left it)."""
    execute(url, sa.update(VERSION_TABLE).values(version_num=revision))


VERSION_TABLE = sa.table("alembic_version", sa.column("version_num", sa.String))


# --------------------------------------------------------------------------- passing


def test_database_at_head_passes_without_a_ledger(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    code, data, _ = run_verify(app)
    assert (code, data["problems"]) == (0, [])
    assert data["ok"] is True
    assert data["heads"] == [ITEMS]
    assert data["current"] == [ITEMS]
    assert ledger.LEDGER_TABLE not in table_names(database_url)


def test_text_report_names_the_database_and_ends_with_a_summary(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    result = invoke(app, "db", "verify")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"History: 2 revisions, head {ITEMS}."
    assert lines[1].startswith("Database ") and lines[1].endswith(f": at {ITEMS}.")
    assert lines[-1] == "All checks passed."


# --------------------------------------------------------------------------- database-unreachable


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mysql"])
def test_unreachable_database_exits_3_with_the_password_masked(
    verify_app: VerifyApp, tmp_path: Any, kind: DbKind
) -> None:
    with refused_port() as port:
        if kind == "sqlite":
            url = sqlite_url(tmp_path / "no" / "such" / "dir" / "app.db")
        else:
            url = (
                server_url(kind)
                .set(password="hunter2-secret", port=port)
                .render_as_string(hide_password=False)
            )
        app = verify_app(url)
        code, data, result = run_verify(app)
        text = invoke(app, "db", "verify")
    assert code == 3
    assert data["ok"] is False
    assert data["current"] is None  # not read: unknown, not "at base" (issue #17)
    (problem,) = problems(data, "database-unreachable")
    assert problem["severity"] == "error"
    assert "could not be reached" in problem["message"]
    assert "1 attempt" in problem["message"]
    assert "cannot connect to" not in problem["message"]  # the URL once, not twice
    if kind == "sqlite":  # no server to wait for: the directory is what to check
        assert "exists and is writable" in problem["help"]
    else:
        # Users tried them as environment variables: the help says where they go.
        assert 'app.config["SAFEMIGRATE_CONNECT_TIMEOUT"]' in problem["help"]
        assert 'app.config["SAFEMIGRATE_CONNECT_RETRIES"]' in problem["help"]
        assert "not environment variables" in problem["help"]
    assert "hunter2" not in result.output
    if kind != "sqlite":
        assert "***" in problem["message"]
    assert text.exit_code == 3
    assert "error[database-unreachable]" in text.stdout
    assert "hunter2" not in text.output


def test_unreachable_database_still_reports_the_static_checks(
    verify_app: VerifyApp, tmp_path: Any
) -> None:
    broken = script(ITEMS, USERS, "pass", None, message="no downgrade")
    app = verify_app(sqlite_url(tmp_path / "missing" / "app.db"), scripts=[USERS_SCRIPT, broken])
    code, data, _ = run_verify(app)
    assert code == 3
    assert checks(data) == ["database-unreachable"]  # an empty upgrade needs no downgrade
    app2 = verify_app(
        sqlite_url(tmp_path / "missing" / "app.db"),
        scripts=[USERS_SCRIPT, script(ITEMS, "nope", "op.drop_table('x')", None)],
    )
    code, data, _ = run_verify(app2)
    assert code == 3
    assert checks(data) == [
        "database-unreachable",
        "missing-downgrade",
        "missing-parent",
        "multiple-heads",
    ]


# --------------------------------------------------------------------------- not-at-head


def test_empty_database_is_not_at_head(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)
    code, data, _ = run_verify(app)
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "not-at-head"
    assert "at base (no revision applied): 2 revisions not applied yet" in problem["message"]
    assert f"{USERS} (create users); {ITEMS} (create items)" in problem["message"]
    assert problem["pending"] == [
        {"revision": USERS, "message": "create users"},
        {"revision": ITEMS, "message": "create items"},
    ]
    assert "flask db safe-upgrade" in problem["help"]
    assert data["current"] == []


def test_pending_revisions_are_listed_and_drift_is_not_checked(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(
        database_url, models=third_models, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, THIRD_SCRIPT]
    )
    invoke_ok(app, "db", "upgrade", USERS)
    code, data, _ = run_verify(app)
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "not-at-head"
    assert re.search(
        rf"is at {USERS}: 2 revisions not applied yet: {ITEMS} \(create items\); "
        rf"{THIRD} \(add items.title\)\.$",
        problem["message"],
    )
    assert data["current"] == [USERS]
    assert data["heads"] == [THIRD]
    text = invoke(app, "db", "verify")
    assert (
        "Schema drift of" in text.stdout
        and "not checked: the database is not at head" in text.stdout
    )
    invoke_ok(app, "db", "upgrade")
    assert run_verify(app)[0] == 0


# --------------------------------------------------------------------------- unknown revisions


def test_database_ahead_of_the_code(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    stamp(database_url, "f00dfeedbeef")
    code, data, _ = run_verify(app)
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "unknown-database-revision"
    assert problem["cause"] == "database-ahead"
    assert problem["revision"] == "f00dfeedbeef"
    assert "is at revision f00dfeedbeef, which no script in" in problem["message"]
    assert "the database is ahead of this code" in problem["message"]
    assert "check out the code that has revision f00dfeedbeef" in problem["help"]
    assert "Do not `flask db stamp` over it" in problem["help"]
    assert data["current"] == ["f00dfeedbeef"]


def test_script_of_the_current_revision_went_missing(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(
        database_url, models=third_models, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, THIRD_SCRIPT]
    )
    invoke_ok(app, "db", "upgrade", ITEMS)
    with engine_for(database_url) as engine, engine.begin() as conn:
        ledger.record(
            conn,
            revision=ITEMS,
            direction="upgrade",
            checksum=ledger.checksum(script_path(app, ITEMS)),
            started_at=datetime(2025, 3, 1, 12, 0),
            success=True,
            who="ann@build",
        )
    script_path(app, ITEMS).unlink()
    code, data, _ = run_verify(app)
    assert code == 1
    assert checks(data) == ["missing-parent", "multiple-heads", "unknown-database-revision"]
    (problem,) = problems(data, "unknown-database-revision")
    assert problem["cause"] == "script-missing"
    assert f"is at revision {ITEMS}, which no script in" in problem["message"]
    assert f"although {THIRD} (" in problem["message"]
    assert "its script went missing" in problem["message"]
    assert "applied (upgrade) at 2025-03-01T12:00:00+00:00 by ann@build" in problem["message"]
    assert "git log --all --diff-filter=D" in problem["help"]


# --------------------------------------------------------------------------- schema-drift


def drifted_models(metadata: sa.MetaData) -> None:
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("name", sa.String(20)),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    sa.Table(
        "items",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("slug", sa.String(50), nullable=False),
        sa.Index("ix_items_user_id", "user_id"),
        sa.UniqueConstraint("slug", name="uq_items_slug"),
    )
    sa.Table("tags", metadata, sa.Column("id", sa.Integer, primary_key=True))


EXPECTED_DRIFT = {
    "table tags: missing in database",
    "table legacy: in database, not in models",
    "users.name: column missing in database",
    "users.email: type VARCHAR(50) in database, String(100) in models",
    "index ix_items_slug on items(slug): in database, not in models",
    "index ix_items_user_id on items(user_id): missing in database",
    "unique constraint uq_items_slug on items(slug): missing in database",
    "foreign key fk_items_user_id_users on items(user_id) -> users(id): in database, not in models",
}


def test_schema_drift_one_line_per_difference(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url, models=drifted_models)
    invoke_ok(app, "db", "upgrade")
    execute(database_url, "CREATE TABLE legacy (id INTEGER PRIMARY KEY)")
    code, data, _ = run_verify(app)
    assert code == 1
    found = problems(data, "schema-drift")
    assert {p["check"] for p in data["problems"]} == {"schema-drift"}
    differences = {p["difference"] for p in found}
    assert differences == EXPECTED_DRIFT
    for problem in found:
        assert problem["message"].startswith(problem["difference"] + " (database ")
        assert "flask db migrate" in problem["help"]


def test_version_table_and_ledger_are_never_drift(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url, migrate_kwargs={"version_table": "schema_revisions"})
    invoke_ok(app, "db", "upgrade")
    assert {"schema_revisions"} <= table_names(database_url)
    assert "alembic_version" not in table_names(database_url)
    with engine_for(database_url) as engine, engine.begin() as conn:
        ledger.create(conn)
    code, data, _ = run_verify(app)
    assert (code, data["problems"]) == (0, [])
    assert data["current"] == [ITEMS]


def test_include_object_include_name_and_compare_type_are_honoured(
    verify_app: VerifyApp, database_url: str
) -> None:
    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        return not (type_ == "table" and name == "legacy")

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return not (type_ == "table" and name == "audit_log")

    def models(metadata: sa.MetaData) -> None:
        base_models(metadata)
        metadata.tables["users"].c.email.type = sa.String(100)

    app = verify_app(
        database_url,
        models=models,
        migrate_kwargs={
            "include_object": include_object,
            "include_name": include_name,
            "compare_type": False,
        },
    )
    invoke_ok(app, "db", "upgrade")
    execute(
        database_url,
        "CREATE TABLE legacy (id INTEGER PRIMARY KEY)",
        "CREATE TABLE audit_log (id INTEGER PRIMARY KEY)",
    )
    code, data, _ = run_verify(app)
    assert (code, data["problems"]) == (0, [])
    # The same database with the app's default options reports all three.
    strict = verify_app(database_url, models=models)
    code, data, _ = run_verify(strict)
    assert code == 1
    assert {p["difference"] for p in problems(data, "schema-drift")} == {
        "table legacy: in database, not in models",
        "table audit_log: in database, not in models",
        "users.email: type VARCHAR(50) in database, String(100) in models",
    }


DEFAULTS_SCRIPT = script(
    "d4d4d4d4d4d4",
    None,
    """
    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("active", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("archived", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("priority", sa.Integer(), server_default="7", nullable=False),
    )
    """,
    'op.drop_table("flags")',
    message="create flags",
)


def defaults_models(archived_default: Any) -> Any:
    def models(metadata: sa.MetaData) -> None:
        sa.Table(
            "flags",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("active", sa.Boolean, server_default=sa.false(), nullable=False),
            sa.Column("archived", sa.Boolean, server_default=archived_default, nullable=False),
            sa.Column("created_at", sa.DateTime, server_default=sa.func.now(), nullable=False),
            sa.Column("priority", sa.Integer, server_default="7", nullable=False),
        )

    return models


def test_server_defaults_compare_without_mariadb_false_positives(
    verify_app: VerifyApp, database_url: str
) -> None:
    """``false`` reads back as '0' and ``now()`` as current_timestamp() on MariaDB: no drift."""
    options = {"compare_server_default": True}
    app = verify_app(
        database_url,
        models=defaults_models(sa.false()),
        scripts=[DEFAULTS_SCRIPT],
        migrate_kwargs=options,
    )
    invoke_ok(app, "db", "upgrade")
    code, data, _ = run_verify(app)
    assert (code, data["problems"]) == (0, [])
    # A default that really differs is still reported, on every database.
    changed = verify_app(
        database_url,
        models=defaults_models(sa.true()),
        scripts=[DEFAULTS_SCRIPT],
        migrate_kwargs=options,
    )
    code, data, _ = run_verify(changed)
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "schema-drift"
    assert re.fullmatch(
        r"flags\.archived: server default '?(0|false)'? in database, (1|true) in models",
        problem["difference"],
    ), problem["difference"]
    # compare_server_default off (Flask-Migrate's default): defaults are not compared.
    lax = verify_app(database_url, models=defaults_models(sa.true()), scripts=[DEFAULTS_SCRIPT])
    assert run_verify(lax)[0] == 0


def test_no_db_skips_the_database(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)
    code, data, result = run_verify(app, "--no-db")
    assert (code, data["problems"], data["current"]) == (0, [], [])
    assert table_names(database_url) == set()
    text = invoke(app, "db", "verify", "--no-db")
    assert "Database checks skipped (--no-db)." in text.stdout
    assert json.loads(result.stdout)["heads"] == [ITEMS]


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_serial_keys_are_not_drift_and_their_owners_are_read_once(database_url: str) -> None:
    """PostgreSQL: a SERIAL's ``nextval`` default is not a server default to compare (the
    sequence is owned by the column), found with one query for every table, not one each; a
    ``nextval`` of a sequence without an owner, or owned by another column, is drift."""
    execute(
        database_url,
        "CREATE SCHEMA sm_other",
        "CREATE SEQUENCE free_seq",
        *(f"CREATE TABLE t{n} (id serial PRIMARY KEY)" for n in range(5)),
        'CREATE TABLE "Odd Name" (id bigserial PRIMARY KEY)',
        "CREATE TABLE sm_other.away (id serial PRIMARY KEY)",
        "CREATE TABLE loose (id integer PRIMARY KEY DEFAULT nextval('free_seq'),"
        " borrowed bigint DEFAULT nextval('t0_id_seq'))",
    )
    metadata = sa.MetaData()
    for name in [f"t{n}" for n in range(5)] + ["Odd Name"]:
        sa.Table(
            name,
            metadata,
            sa.Column("id", sa.BigInteger if " " in name else sa.Integer, primary_key=True),
        )
    sa.Table("away", metadata, sa.Column("id", sa.Integer, primary_key=True), schema="sm_other")
    sa.Table(
        "loose",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("borrowed", sa.BigInteger),
    )
    statements: list[str] = []
    with engine_for(database_url) as engine, engine.connect() as conn:
        sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        found = schema_diff.drift(
            conn, metadata, {"compare_server_default": True, "include_schemas": True}
        )
    assert sorted(found) == [
        "loose.borrowed: server default nextval('t0_id_seq'::regclass) in database, none in models",
        "loose.id: server default nextval('free_seq'::regclass) in database, none in models",
    ]
    owners = [s for s in statements if "pg_depend" in s]
    # One read of every owner; the sequence without an owner is asked on its own.
    assert len(owners) == 2, owners
