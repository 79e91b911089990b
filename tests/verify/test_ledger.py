"""The ledger table, and the checks that read it: edited-after-apply, failed-migration."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_safemigrate import ledger
from tests.support.cli import invoke_ok
from tests.support.databases import engine_for, table_names
from tests.support.verify import ITEMS, USERS, VerifyApp, checks, problems, run_verify, script_path

T0 = datetime(2025, 5, 1, 9, 30, tzinfo=UTC)


def record(url: str, revision: str, direction: ledger.Direction, **kwargs: object) -> None:
    defaults: dict[str, object] = {
        "checksum": None,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=2),
        "success": True,
        "who": "ann@deploy-1",
    }
    defaults.update(kwargs)
    with engine_for(url) as engine, engine.begin() as conn:
        ledger.record(conn, revision=revision, direction=direction, **defaults)  # type: ignore[arg-type]


def applied(url: str, app_revision: str, path: Path) -> None:
    record(url, app_revision, "upgrade", checksum=ledger.checksum(path))


# --------------------------------------------------------------------------- the table


def test_checksum_is_the_sha256_of_the_bytes_with_lf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_bytes(b"revision = 'x'\r\n")
    assert ledger.checksum(path) == hashlib.sha256(b"revision = 'x'\n").hexdigest()
    path.write_bytes(b"revision = 'x'\n")
    assert ledger.checksum(path) == hashlib.sha256(b"revision = 'x'\n").hexdigest()


def test_record_and_read_entries(database_url: str) -> None:
    with engine_for(database_url) as engine, engine.connect() as conn:
        assert ledger.read_entries(conn) == []
        assert not ledger.exists(conn)
    assert ledger.LEDGER_TABLE not in table_names(database_url)
    plus_two = timezone(timedelta(hours=2))
    record(
        database_url,
        USERS,
        "upgrade",
        checksum="a" * 64,
        started_at=datetime(2025, 5, 1, 11, 30, tzinfo=plus_two),
        finished_at=datetime(2025, 5, 1, 11, 30, 1, 250000, tzinfo=plus_two),
    )
    record(database_url, ITEMS, "upgrade", success=False, error="duplicate column", who=None)
    with engine_for(database_url) as engine, engine.connect() as conn:
        first, second = ledger.read_entries(conn)
    assert first.revision == USERS and first.direction == "upgrade"
    assert first.checksum == "a" * 64
    assert first.started_at == datetime(2025, 5, 1, 9, 30, tzinfo=UTC)
    assert first.finished_at == datetime(2025, 5, 1, 9, 30, 1, 250000, tzinfo=UTC) or (
        # MariaDB DATETIME without fractional seconds
        first.finished_at == datetime(2025, 5, 1, 9, 30, 1, tzinfo=UTC)
    )
    assert first.duration_ms == 1250
    assert first.success is True and first.applied_by == "ann@deploy-1"
    assert second.id > first.id
    assert second.success is False and second.error == "duplicate column"
    assert second.applied_by == ledger.applied_by()
    assert "@" in second.applied_by


def test_record_refuses_an_unknown_direction(database_url: str) -> None:
    with engine_for(database_url) as engine, engine.begin() as conn, pytest.raises(ValueError):
        ledger.record(
            conn,
            revision=USERS,
            direction="sideways",  # type: ignore[arg-type]
            checksum=None,
            started_at=T0,
            success=True,
        )


# --------------------------------------------------------------------------- edited-after-apply


def test_edited_after_apply(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    users, items = script_path(app, USERS), script_path(app, ITEMS)
    applied(database_url, USERS, users)
    applied(database_url, ITEMS, items)
    assert run_verify(app)[0] == 0

    recorded = ledger.checksum(items)
    items.write_text(items.read_text() + "\n# tweaked after deploy\n")
    code, data, _ = run_verify(app)
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "edited-after-apply"
    assert problem["revision"] == ITEMS
    assert problem["path"].endswith(f"{ITEMS}_test.py")
    assert problem["recorded_checksum"] == recorded
    assert problem["current_checksum"] == ledger.checksum(items)
    assert f"(revision {ITEMS}) was changed after it was applied" in problem["message"]
    assert "at 2025-05-01T09:30:00+00:00 by ann@deploy-1" in problem["message"]
    assert "never edit an applied migration" in problem["help"]
    # The help names the CLI command (the Python call is no longer suggested).
    assert f"`flask db ledger accept {ITEMS} --reason TEXT`" in problem["help"]

    # A cosmetic edit, accepted: the new checksum counts from now on.
    with engine_for(database_url) as engine, engine.begin() as conn:
        assert ledger.accept(conn, revision=ITEMS, path=items) == ledger.checksum(items)
    assert run_verify(app)[0] == 0


def test_a_crlf_checkout_is_not_an_edit(verify_app: VerifyApp, database_url: str) -> None:
    """Issue #13 item 14e: only line endings changed, on either side; old raw digests hold."""
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    users, items = script_path(app, USERS), script_path(app, ITEMS)
    lf_items = items.read_bytes()
    assert b"\r" not in lf_items
    # Applied from an LF checkout by the tool itself, then checked out again with CRLF.
    invoke_ok(app, "db", "downgrade", "base")
    invoke_ok(app, "db", "safe-upgrade")
    for path in (users, items):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert (run_verify(app)[0], checks(run_verify(app)[1])) == (0, [])

    # An older version recorded the raw bytes of a CRLF checkout; the file is LF again now.
    record(database_url, ITEMS, "upgrade", checksum=hashlib.sha256(items.read_bytes()).hexdigest())
    items.write_bytes(lf_items)
    assert (run_verify(app)[0], checks(run_verify(app)[1])) == (0, [])
    # ... and a raw digest of an LF file (every older row) matches the CRLF checkout.
    record(database_url, ITEMS, "upgrade", checksum=hashlib.sha256(lf_items).hexdigest())
    items.write_bytes(lf_items.replace(b"\n", b"\r\n"))
    assert (run_verify(app)[0], checks(run_verify(app)[1])) == (0, [])

    # A real edit, CRLF or not, is still an edit.
    items.write_bytes(lf_items.replace(b"\n", b"\r\n") + b"# tweaked\r\n")
    code, data, _ = run_verify(app)
    assert (code, checks(data)) == (1, ["edited-after-apply"])


def test_an_edit_after_a_recorded_downgrade_is_allowed(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    items = script_path(app, ITEMS)
    applied(database_url, ITEMS, items)
    record(database_url, ITEMS, "downgrade", checksum=ledger.checksum(items))
    items.write_text(items.read_text() + "\n# reworked while downgraded\n")
    # The version table still says head (the test did not downgrade), the ledger decides.
    code, data, _ = run_verify(app)
    assert "edited-after-apply" not in checks(data)
    assert code == 0


def test_an_edit_after_a_plain_downgrade_is_allowed(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    items = script_path(app, ITEMS)
    applied(database_url, ITEMS, items)
    invoke_ok(app, "db", "downgrade", USERS)  # not through safe-upgrade: no ledger row
    items.write_text(items.read_text() + "\n# reworked while downgraded\n")
    code, data, _ = run_verify(app)
    assert (code, checks(data)) == (1, ["not-at-head"])
    invoke_ok(app, "db", "upgrade")
    assert checks(run_verify(app)[1]) == ["edited-after-apply"]


def test_ledger_checks_are_off_with_the_ledger(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url, config={"SAFEMIGRATE_LEDGER": False})
    invoke_ok(app, "db", "upgrade")
    items = script_path(app, ITEMS)
    applied(database_url, ITEMS, items)
    items.write_text(items.read_text() + "\n# edited\n")
    record(database_url, USERS, "upgrade", success=False, error="boom")
    assert run_verify(app)[0] == 0


# --------------------------------------------------------------------------- failed-migration


def test_failed_migration(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade", USERS)
    users = script_path(app, USERS)
    applied(database_url, USERS, users)
    record(
        database_url,
        ITEMS,
        "upgrade",
        checksum=ledger.checksum(script_path(app, ITEMS)),
        success=False,
        error='relation "items" already exists\nDETAIL: more lines the report leaves out',
        started_at=datetime(2025, 5, 2, 8, 0, tzinfo=UTC),
    )
    code, data, _ = run_verify(app)
    assert code == 1
    assert checks(data) == ["failed-migration", "not-at-head"]
    (problem,) = problems(data, "failed-migration")
    assert problem["revision"] == ITEMS and problem["direction"] == "upgrade"
    assert problem["error"] == 'relation "items" already exists'
    assert problem["path"].endswith(f"{ITEMS}_test.py")
    assert (
        f"Revision {ITEMS} (create items) failed during upgrade at 2025-05-02T08:00:00+00:00"
        " by ann@deploy-1 on "
    ) in problem["message"]
    assert 'relation "items" already exists; no later run succeeded' in problem["message"]
    assert "says the revision is not applied" in problem["message"]
    assert f"flask db safe-upgrade --resolved {ITEMS}" in problem["help"]
    # What to repair depends on the database the run failed on: only MariaDB keeps DDL.
    if database_url.startswith("mysql"):
        assert "MariaDB/MySQL cannot roll back DDL" in problem["help"]
    else:
        assert "MariaDB" not in problem["help"]
        assert "transaction rolled back" in problem["help"]

    # A later success clears it.
    invoke_ok(app, "db", "upgrade")
    applied(database_url, ITEMS, script_path(app, ITEMS))
    code, data, _ = run_verify(app)
    assert (code, data["problems"]) == (0, [])


def test_a_success_followed_by_a_failed_downgrade_is_a_failure(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    applied(database_url, ITEMS, script_path(app, ITEMS))
    record(database_url, ITEMS, "downgrade", success=False, error="lock timeout")
    code, data, _ = run_verify(app)
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "failed-migration"
    assert "failed during downgrade" in problem["message"]
    assert "says the revision is applied" in problem["message"]


def test_ledger_in_the_version_table_schema(verify_app: VerifyApp, database_url: str) -> None:
    """The ledger is read where the version table lives (PostgreSQL: a separate schema)."""
    if not database_url.startswith("postgresql"):
        # SQLite and MariaDB have no schemas inside a database: the default is the only one.
        app = verify_app(database_url)
        invoke_ok(app, "db", "upgrade")
        applied(database_url, ITEMS, script_path(app, ITEMS))
        script_path(app, ITEMS).write_text("# edited\n" + script_path(app, ITEMS).read_text())
        assert checks(run_verify(app)[1]) == ["edited-after-apply"]
        return
    with engine_for(database_url) as engine, engine.begin() as conn:
        conn.exec_driver_sql("CREATE SCHEMA ops")
    app = verify_app(database_url, migrate_kwargs={"version_table_schema": "ops"})
    invoke_ok(app, "db", "upgrade")
    with engine_for(database_url) as engine, engine.begin() as conn:
        ledger.record(
            conn,
            revision=ITEMS,
            direction="upgrade",
            checksum="0" * 64,
            started_at=T0,
            success=True,
            schema="ops",
        )
        assert sa.inspect(conn).has_table(ledger.LEDGER_TABLE, schema="ops")
    code, data, _ = run_verify(app)
    assert data["current"] == [ITEMS]
    assert checks(data) == ["edited-after-apply"]
    assert code == 1


def test_record_follows_a_schema_translate_map(database_url: str, db_kind: str) -> None:
    """An app that maps the default schema at execution (one schema per tenant) has its
    ledger rows written in the mapped schema, where the table was created: the row is not
    sent as SQL made once for the unmapped name there."""
    schema = f"sm_tenant_{secrets.token_hex(4)}"
    create = {
        "sqlite": f"ATTACH DATABASE ':memory:' AS {schema}",
        "postgresql": f"CREATE SCHEMA {schema}",
        "mysql": f"CREATE DATABASE {schema}",
    }[db_kind]
    with engine_for(database_url) as engine, engine.connect() as conn:
        conn.exec_driver_sql(create)
        conn.commit()
        try:
            tenant = conn.execution_options(schema_translate_map={None: schema})
            ledger.create(tenant)
            ledger.record(
                tenant,
                revision=USERS,
                direction="upgrade",
                checksum=None,
                started_at=T0,
                success=True,
            )
            tenant.commit()
            rows = tenant.execute(sa.select(ledger.TABLE.c.revision)).scalars().all()
            assert rows == [USERS]  # in the tenant's schema, as before the row was pre-made
            assert ledger.LEDGER_TABLE not in sa.inspect(conn).get_table_names()
        finally:
            if db_kind == "mysql":
                conn.exec_driver_sql(f"DROP DATABASE {schema}")
