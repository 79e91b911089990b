"""``flask db safe-upgrade`` end to end on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import DbKind, engine_for, nullpool_engine
from tests.support.revisions import write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import (
    FAIL_STATEMENT,
    REVISIONS,
    TABLES,
    json_of,
    ledger_rows,
    models,
    prepare,
    revision_source,
    seed_legacy_table,
    tables_of,
    versions_of,
)

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}
COMPAT_OFF = {**NO_BACKUP, "SAFEMIGRATE_COMPAT": "off"}


def upgrade_json(app: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json", *args)
    return code, data


def state_of(url: str) -> dict[str, Any]:
    """Everything a run could change: schema, version table, ledger, and a SQLite file's bytes."""
    engine = nullpool_engine(url)
    try:
        inspector = sa.inspect(engine)
        schema = {
            table: [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ]
            for table in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()
    state: dict[str, Any] = {
        "schema": schema,
        "versions": versions_of(url),
        "ledger": ledger_rows(url),
    }
    database = make_url(url).database
    if make_url(url).get_backend_name() == "sqlite" and database:
        state["bytes"] = hashlib.sha256(Path(database).read_bytes()).hexdigest()
    return state


# --------------------------------------------------------------------------- happy path


def test_upgrades_to_head_and_a_rerun_changes_nothing(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)

    code, data = upgrade_json(app)
    assert code == 0, data
    assert data["ok"] is True
    assert data["stage"] == "done"
    assert data["from"] == []
    assert data["to"] == [REVISIONS[-1]]
    assert [step["revision"] for step in data["applied"]] == list(REVISIONS)
    assert all(step["seconds"] >= 0 for step in data["applied"])
    assert data["problems"] == []
    assert data["backup"] is None
    assert set(TABLES) <= tables_of(database_url)
    assert versions_of(database_url) == [REVISIONS[-1]]
    rows = ledger_rows(database_url)
    assert [(r["revision"], r["direction"], bool(r["success"])) for r in rows] == [
        (rev, "upgrade", True) for rev in REVISIONS
    ]
    assert all(len(r["checksum"]) == 64 and r["duration_ms"] is not None for r in rows)
    assert all("@" in r["applied_by"] for r in rows)

    before = state_of(database_url)
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 0, result.output
    assert f"Already at {REVISIONS[-1]}: nothing to apply." in result.output
    assert "[1/" not in result.output
    after = state_of(database_url)
    assert after == before


def test_text_output_shows_each_revision_and_the_stages(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for position, (rev, table) in enumerate(zip(REVISIONS, TABLES, strict=True), start=1):
        pattern = rf"^\[{position}/5\] {rev}  create the {table} table \.\.\. ok \d+\.\d\ds$"
        assert any(re.match(pattern, line) for line in lines), result.output
    assert any(line.startswith("preflight: ") for line in lines)
    assert any(line.startswith("lock: acquired in ") for line in lines)
    assert "verify: at head, no drift from the models" in lines
    assert lines[-1].startswith("Applied 5 revisions in ")


def test_upgrades_to_a_named_revision_then_on(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    code, data = upgrade_json(app, REVISIONS[1][:6])
    assert code == 0, data
    assert [s["revision"] for s in data["applied"]] == list(REVISIONS[:2])
    assert versions_of(database_url) == [REVISIONS[1]]
    code, data = upgrade_json(app)
    assert code == 0, data
    assert data["from"] == [REVISIONS[1]]
    assert [s["revision"] for s in data["applied"]] == list(REVISIONS[2:])


def test_a_target_behind_the_database_is_a_usage_error(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    assert upgrade_json(app)[0] == 0
    result = invoke(app, "db", "safe-upgrade", REVISIONS[0])
    assert result.exit_code == 2
    assert "safe-upgrade only moves forward" in result.output
    assert "flask db downgrade" in result.output


def test_unknown_target_is_a_usage_error(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    result = invoke(app, "db", "safe-upgrade", "ffffffffffff")
    assert result.exit_code == 2
    assert "Error: cannot upgrade to 'ffffffffffff'" in result.output
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- dry run and --sql


def test_dry_run_changes_nothing(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    assert upgrade_json(app, REVISIONS[1])[0] == 0
    before = state_of(database_url)

    result = invoke(app, "db", "safe-upgrade", "--dry-run")
    assert result.exit_code == 0, result.output
    for rev in REVISIONS[2:]:
        assert f"would apply {rev} (create the " in result.output
    assert "Dry run: 3 revisions would be applied; nothing changed." in result.output
    code, data = upgrade_json(app, "--dry-run")
    assert code == 0
    assert data["dry_run"] is True
    assert data["stage"] == "preflight"
    assert [p["revision"] for p in data["plan"]] == list(REVISIONS[2:])
    assert data["applied"] == []
    assert state_of(database_url) == before


def test_dry_run_on_a_fresh_database_creates_nothing(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    before = state_of(database_url)
    assert upgrade_json(app, "--dry-run")[0] == 0
    assert state_of(database_url) == before
    assert tables_of(database_url) == set()


def test_sql_prints_the_plan_without_applying_it(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """Without START, --sql is plain `flask db upgrade --sql`: Alembic's offline SQL from base
    (the version table first), whatever the database holds; the database is not read."""
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    assert upgrade_json(app, REVISIONS[2])[0] == 0
    before = state_of(database_url)
    plain = invoke(app, "db", "upgrade", "--sql")
    assert plain.exit_code == 0, plain.output
    result = invoke(app, "db", "safe-upgrade", "--sql")
    assert result.exit_code == 0, result.output
    sql = result.stdout
    assert sql.rstrip("\n") == plain.stdout.rstrip("\n")
    assert "CREATE TABLE alembic_version" in sql and "widgets" in sql and "boxes" in sql
    assert f"UPDATE alembic_version SET version_num='{REVISIONS[-1]}'" in sql
    assert "preflight:" not in sql
    assert state_of(database_url) == before


def test_sql_is_printed_after_a_failed_revision(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """--sql changes nothing and reads nothing: a failure in the ledger does not withhold the
    SQL a DBA would apply by hand after the repair (the ledger is not read: it is not said)."""
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app, fail_at=2)
    assert invoke(app, "db", "safe-upgrade").exit_code == 4
    before = state_of(database_url)
    result = invoke(app, "db", "safe-upgrade", "--sql")
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE" in result.stdout and "parts" in result.stdout
    assert "failed-migration" not in result.output
    assert state_of(database_url) == before
    if db_kind == "mysql":  # the CREATE TABLE stayed: a real run is still blocked
        assert invoke(app, "db", "safe-upgrade").exit_code == 3


# --------------------------------------------------------------------------- preflight failures


def test_unknown_database_revision_exits_3(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    assert upgrade_json(app, REVISIONS[0])[0] == 0
    engine = nullpool_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'abcdef123456'"))
    engine.dispose()
    before = state_of(database_url)
    code, data = upgrade_json(app)
    assert code == 3
    assert data["ok"] is False and data["stage"] == "preflight"
    assert [p["check"] for p in data["problems"]] == ["unknown-database-revision"]
    assert "abcdef123456" in data["problems"][0]["message"]
    assert state_of(database_url) == before


def _unreachable_urls(db_kind: DbKind, database_url: str, tmp_path: Path) -> dict[str, str]:
    url = make_url(database_url)
    if db_kind == "sqlite":
        return {"missing database": f"sqlite:///{tmp_path}/no/such/dir/app.db"}
    port = 5432 if db_kind == "postgresql" else 3306
    return {
        "unreachable host": url.set(
            host="127.0.0.1", port=1, password="s3cr3t-pw"
        ).render_as_string(hide_password=False),
        "refused login": url.set(
            username="no_such_user_sm", password="s3cr3t-pw", port=port
        ).render_as_string(hide_password=False),
        "missing database": url.set(
            database="sm_no_such_database", password="s3cr3t-pw"
        ).render_as_string(hide_password=False),
    }


@TIMING
def test_unreachable_refused_and_missing_databases_exit_3_in_one_line(
    make_app: MakeApp, database_url: str, db_kind: DbKind, tmp_path: Path
) -> None:
    for case, url in _unreachable_urls(db_kind, database_url, tmp_path).items():
        app = make_app(
            url,
            models=models(),
            config={
                **NO_BACKUP,
                "SAFEMIGRATE_CONNECT_TIMEOUT": 1,
                "SAFEMIGRATE_CONNECT_RETRIES": 1,
            },
            migrations=tmp_path / f"migrations-{case.replace(' ', '-')}",
        )
        prepare(app)
        began = time.monotonic()
        result = invoke(app, "db", "safe-upgrade")
        elapsed = time.monotonic() - began
        assert result.exit_code == 3, (case, result.output)
        assert "s3cr3t-pw" not in result.output
        assert "Traceback" not in result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error[")]
        assert len(errors) == 1, (case, result.output)
        assert errors[0].startswith("error[database-unreachable]: cannot connect to"), result.output
        if db_kind == "sqlite":  # a missing folder: waiting does not make one
            assert "(1 attempt, not retried: waiting does not create a folder" in errors[0]
        elif case == "unreachable host":
            assert "(2 attempts)" in errors[0]
        else:  # the server answered and said no: a retry would only delay the line to act on
            assert "(1 attempt, not retried: the server answered and refused it)" in errors[0]
            assert "the server is up and refused the login" in result.output
            verify = invoke(app, "db", "verify")
            assert verify.exit_code == 3, verify.output
            assert " refused the connection: " in verify.output, verify.output
            assert "could not be reached" not in verify.output
        # one timeout per attempt plus the 0.5 s backoff, with room for a slow machine
        assert elapsed < 2 * (1 + 1) + 0.5 + 5, (case, elapsed)
        assert "position not read" in result.output, result.output
        assert "database at base" not in result.output, result.output
        code, data = upgrade_json(app)
        assert code == 3 and data["stage"] == "preflight"
        assert data["problems"][0]["check"] == "database-unreachable"
        assert data["current"] is None and data["from"] is None, data  # unknown, not []
        assert "s3cr3t-pw" not in str(data)


def test_blocking_lint_findings_stop_the_run_unless_skipped(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(TABLES[:1]), config=NO_BACKUP)
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade").exit_code == 0  # widgets exists: a drop loses it
    write_revision(
        migrations,
        '''
        """drop the widgets table again"""
        from alembic import op

        revision = "f6000000drop"
        down_revision = "a1000000wid1"
        branch_labels = None
        depends_on = None


        def upgrade():
            op.drop_table("widgets")


        def downgrade():
            raise RuntimeError("cannot bring the data back")
        ''',
    )
    app.extensions["sqlalchemy"].metadata.remove(
        app.extensions["sqlalchemy"].metadata.tables["widgets"]
    )
    code, data = upgrade_json(app)
    assert code == 3
    checks = {p["check"] for p in data["problems"] if p["severity"] == "error"}
    assert "drop-table" in checks
    assert any("--skip-lint" in p.get("help", "") for p in data["problems"])
    assert "widgets" in tables_of(database_url)
    code, data = upgrade_json(app, "--skip-lint")
    # The release running now maps widgets: the release check stops the drop too.
    assert code == 3, data
    assert [(p["check"], p["table"]) for p in data["problems"] if p["severity"] == "error"] == [
        ("breaks-previous-release", "widgets")
    ]
    # What was skipped is said, before the lock (a deploy log shows lint was not run).
    text = invoke(app, "db", "safe-upgrade", "--skip-lint", "--allow-breaking", "--dry-run")
    assert text.exit_code == 0, text.output
    assert "preflight: lint: skipped (--skip-lint): 1 pending script not checked" in text.output
    code, data = upgrade_json(app, "--skip-lint", "--allow-breaking")
    assert code == 0, data
    assert "widgets" not in tables_of(database_url)


def test_findings_the_lint_baseline_records_do_not_block(
    make_app: MakeApp, database_url: str
) -> None:
    """A team that adopted lint with a baseline (``baseline =`` in pyproject.toml) can still
    bring a fresh database up through the history it recorded; a new finding still blocks.
    (Lint only: the release check, which would stop the drops too, is off.)"""
    app = make_app(database_url, models=models(TABLES[:1]), config=COMPAT_OFF)
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade").exit_code == 0  # widgets exists: a drop loses it
    write_revision(
        migrations,
        '''
        """drop the widgets table again"""
        from alembic import op

        revision = "f6000000drop"
        down_revision = "a1000000wid1"
        branch_labels = None
        depends_on = None


        def upgrade():
            op.drop_table("widgets")


        def downgrade():
            raise RuntimeError("cannot bring the data back")
        ''',
    )
    app.extensions["sqlalchemy"].metadata.remove(
        app.extensions["sqlalchemy"].metadata.tables["widgets"]
    )
    project = migrations.parent
    (project / "pyproject.toml").write_text(
        '[tool.safemigrate.lint]\nbaseline = "lint-baseline.json"\n'
    )
    code, data = upgrade_json(app)
    assert code == 2, data  # the configured baseline does not exist yet: a usage error
    assert "lint-baseline.json does not exist" in str(data)
    assert "widgets" in tables_of(database_url)
    written = invoke(app, "db", "lint", "--write-baseline", str(project / "lint-baseline.json"))
    assert written.exit_code == 0, written.output
    code, data = upgrade_json(app)
    assert code == 0, data
    assert "widgets" not in tables_of(database_url)
    assert not [p for p in data["problems"] if p.get("check") == "drop-table"]
    gadgets = sa.MetaData()
    sa.Table("gadgets", gadgets, sa.Column("id", sa.Integer(), primary_key=True))
    with engine_for(database_url) as engine:
        gadgets.create_all(engine)  # a table with a past: dropping it loses something
    write_revision(
        migrations,
        '''
        """a new revision, not in the baseline"""
        from alembic import op

        revision = "f7000000drop"
        down_revision = "f6000000drop"
        branch_labels = None
        depends_on = None


        def upgrade():
            op.drop_table("gadgets")


        def downgrade():
            pass
        ''',
    )
    code, data = upgrade_json(app)
    assert code == 3, data
    assert "drop-table" in {p["check"] for p in data["problems"] if p["severity"] == "error"}


def test_findings_in_downgrade_never_block_an_upgrade(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(TABLES[:1]), config=NO_BACKUP)
    migrations = prepare(app, count=1)
    write_revision(
        migrations,
        '''
        """empty the widgets table when going back"""
        from alembic import op

        revision = "f7000000down"
        down_revision = "a1000000wid1"
        branch_labels = None
        depends_on = None


        def upgrade():
            pass


        def downgrade():
            op.execute("DELETE FROM widgets")
        ''',
    )
    code, data = upgrade_json(app)
    assert code == 0, data
    assert data["current"] == ["f7000000down"]
    # An upgrade does not run it: `flask db lint` reports it, the deploy does not (issue #16).
    assert [p for p in data["problems"] if p["check"] == "unbounded-delete"] == []
    lint = invoke(app, "db", "lint")
    assert "in downgrade(): " in lint.output and "unbounded-delete" in lint.output


def test_several_heads_stop_the_run(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    source = revision_source(1).replace(REVISIONS[1], "b9999999oth2").replace("gadgets", "tools")
    write_revision(migrations, source)
    code, data = upgrade_json(app)
    assert code == 3
    assert [p["check"] for p in data["problems"]] == ["multiple-heads"]
    assert "auto-merge-heads" in data["problems"][0]["help"]
    assert data["current"] is None, data  # stopped before reading the database
    assert "position not read" in data["summary"], data["summary"]
    assert tables_of(database_url) == set()


# --------------------------------------------------------------------------- a failing revision


def test_a_failing_third_revision_exits_4_and_blocks_until_resolved(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app, fail_at=2)

    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 4, result.output
    assert "FAILED after" in result.output
    assert "Traceback" not in result.output
    code, data = upgrade_json(app)
    rows = ledger_rows(database_url)
    if db_kind == "mysql":  # the CREATE TABLE stayed: the ledger blocks a blind retry
        assert code == 3
        assert [p["check"] for p in data["problems"]] == ["failed-migration"]
        assert f"--resolved {REVISIONS[2]}" in data["problems"][0]["help"]
        assert [(r["revision"], bool(r["success"])) for r in rows] == [
            (REVISIONS[0], True),
            (REVISIONS[1], True),
            (REVISIONS[2], False),
        ]
        assert "no_such_table" in rows[-1]["error"]
        assert "parts" in tables_of(database_url)  # MariaDB cannot roll back DDL
    else:  # it left nothing (issue #17): the retry runs it again and fails the same way
        assert code == 4
        assert [p["check"] for p in data["problems"] if p["severity"] == "error"] == [
            "migration-failed"
        ]
        assert [(r["revision"], r["direction"], bool(r["success"])) for r in rows] == [
            (REVISIONS[0], "upgrade", True),
            (REVISIONS[1], "upgrade", True),
            *[(REVISIONS[2], "upgrade", False), (REVISIONS[2], "resolve", True)] * 2,
        ]
        assert "no_such_table" in rows[-2]["error"] and "[left: nothing]" in rows[-2]["error"]
        assert "parts" not in tables_of(database_url)
    assert versions_of(database_url) == [REVISIONS[1]]

    # fix the script, say the failure is resolved: the run goes on from the second revision
    (migrations / "versions" / f"{REVISIONS[2]}_test.py").write_text(revision_source(2))
    code, data = upgrade_json(app, "--resolved", REVISIONS[2])
    assert code == 0, data
    assert [s["revision"] for s in data["applied"]] == list(REVISIONS[2:])
    assert versions_of(database_url) == [REVISIONS[-1]]
    directions = [
        (r["revision"], r["direction"], bool(r["success"])) for r in ledger_rows(database_url)
    ]
    assert (REVISIONS[2], "resolve", True) in directions
    assert directions[-1] == (REVISIONS[-1], "upgrade", True)
    assert invoke(app, "db", "verify").exit_code == 0


def test_the_failure_report_names_revision_statement_error_and_state(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app, fail_at=2)
    code, data = upgrade_json(app)
    assert code == 4
    assert data["ok"] is False and data["stage"] == "upgrade"
    assert [s["revision"] for s in data["applied"]] == list(REVISIONS[:2])
    assert data["current"] == [REVISIONS[1]]
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "migration-failed"
    assert problem["revision"] == REVISIONS[2]
    assert problem["path"].endswith(f"{REVISIONS[2]}_test.py")
    assert "no_such_table" in problem["statement"]
    assert "no_such_table" in problem["error"]
    assert f"The database is now at {REVISIONS[1]}" in problem["message"]
    if db_kind == "mysql":
        assert f"flask db safe-upgrade --resolved {REVISIONS[2]}" in problem["help"]
        assert problem["left"] == "statements"
    else:  # nothing of it stayed (issue #17)
        assert "no --resolved needed" in problem["help"], problem["help"]
        assert problem["left"] == "nothing"
    if db_kind == "mysql":
        assert len(problem["ran"]) == 1 and problem["ran"][0].startswith("CREATE TABLE")
        assert "parts" in problem["ran"][0]
        # One statement stays, and is said to (was "1 statement ... stay applied").
        assert (
            f"cannot roll back DDL: 1 statement of {REVISIONS[2]} ran before the failure and"
            " stays applied: CREATE TABLE"
        ) in problem["message"]
    else:
        assert "its transaction rolled back" in problem["message"]
    assert FAIL_STATEMENT.split()[0] in problem["statement"]


def test_the_failure_in_text_says_what_where_and_what_to_do(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app, fail_at=2)
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 4
    out = result.output
    assert (
        f"error[migration-failed]: Revision {REVISIONS[2]} (create the parts table) failed" in out
    )
    assert "  where: " in out and f"{REVISIONS[2]}_test.py" in out
    # the statement that failed, as the README promises (it was in the JSON only)
    assert f"  statement: {FAIL_STATEMENT}" in out
    assert "  help: fix the script or the data" in out or "  help: undo" in out
    assert out.rstrip().splitlines()[-1] == (
        f"safe-upgrade stopped in stage upgrade (exit 4); database at {REVISIONS[1]}."
    )


# --------------------------------------------------------------------------- verification


def test_post_upgrade_drift_exits_1_and_names_the_difference(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models((*TABLES, "labels")), config=NO_BACKUP)
    prepare(app)
    code, data = upgrade_json(app)
    assert code == 1
    assert data["stage"] == "verify"
    assert len(data["applied"]) == 5  # the upgrade itself went through
    drift = [p for p in data["problems"] if p["check"] == "schema-drift"]
    assert drift and all("labels" in p["message"] for p in drift)
    result = invoke(app, "db", "safe-upgrade", "--no-verify")
    assert result.exit_code == 0, result.output


def test_no_verify_reports_where_the_database_ended(make_app: MakeApp, database_url: str) -> None:
    """Issue 13 item 14: without post-verify the report still reads the position after applying."""
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    code, data = upgrade_json(app, "--no-verify")
    assert code == 0, data
    assert len(data["applied"]) == 5
    assert data["current"] == [REVISIONS[-1]], data
    assert data["summary"].endswith(f"database at {REVISIONS[-1]}."), data["summary"]
    assert versions_of(database_url) == [REVISIONS[-1]]


def test_ledger_off_writes_no_ledger(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config={**NO_BACKUP, "SAFEMIGRATE_LEDGER": False})
    prepare(app)
    code, data = upgrade_json(app)
    assert code == 0, data
    assert "safemigrate_ledger" not in tables_of(database_url)


def test_json_output_is_one_object_on_stdout(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    result = invoke(app, "db", "safe-upgrade", "--format", "json")
    assert result.exit_code == 0
    data = json_of(result.stdout)
    assert set(data) >= {"ok", "stage", "from", "to", "applied", "problems", "backup"}
    assert "[1/5]" in result.stderr  # progress goes to stderr when stdout carries JSON


# --------------------------------------------------------------------------- backup


def test_backup_is_written_before_the_upgrade(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP_DIR": str(backups)})
    prepare(app)
    assert upgrade_json(app, REVISIONS[1], "--no-backup")[0] == 0
    code, data = upgrade_json(app, "--backup")
    assert code == 0, data
    (backup,) = backups.iterdir()
    assert data["backup"] == str(backup)
    assert backup.stat().st_mode & 0o777 == 0o600
    # Named by the revision the copy is at (the database's before the run), said as such:
    # `before-<rev>` read as "before <rev> was applied", the opposite.
    assert backup.name.endswith(f"-at-{REVISIONS[1]}{backup.suffix}")


def test_sqlite_is_backed_up_by_default_and_the_copy_is_the_old_state(
    make_app: MakeApp, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = make_app(url, models=models())
    prepare(app)
    assert upgrade_json(app, REVISIONS[0], "--no-backup")[0] == 0
    code, data = upgrade_json(app)
    assert code == 0, data
    backup = Path(data["backup"])
    assert backup.parent == Path(app.instance_path) / "backups"
    restored = f"sqlite:///{backup}"
    assert tables_of(restored) == {"alembic_version", "safemigrate_ledger", TABLES[0]}
    assert versions_of(restored) == [REVISIONS[0]]


def test_a_backup_that_cannot_be_written_stops_before_any_change(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "backups"
    not_a_directory.write_text("a file where the backup directory should be")
    app = make_app(
        database_url, models=models(), config={"SAFEMIGRATE_BACKUP_DIR": str(not_a_directory)}
    )
    prepare(app)
    seed_legacy_table(database_url)  # an empty database is not backed up
    before = state_of(database_url)
    code, data = upgrade_json(app, "--backup")
    assert code == 3
    assert data["stage"] == "backup"
    assert [p["check"] for p in data["problems"]] == ["backup-failed"]
    assert data["applied"] == [] and data["backup"] is None
    assert state_of(database_url) == before
    assert not_a_directory.read_text().startswith("a file where")


@TIMING
def test_a_held_migration_lock_exits_5_after_the_wait(make_app: MakeApp, database_url: str) -> None:
    from flask_safemigrate import locks

    app = make_app(database_url, models=models(), config={**NO_BACKUP, "SAFEMIGRATE_LOCK_WAIT": 1})
    prepare(app)
    name = locks.lock_name(database_url)
    before = state_of(database_url)
    with locks.migration_lock(database_url, name=name, wait=5):
        began = time.monotonic()
        code, data = upgrade_json(app)
        waited = time.monotonic() - began
    assert code == 5
    assert data["stage"] == "lock"
    (problem,) = [p for p in data["problems"] if p["severity"] == "error"]
    assert problem["check"] == "lock-timeout"
    assert waited < 10
    assert state_of(database_url) == before
    code, data = upgrade_json(app)  # released: the next run goes through
    assert code == 0, data


def test_auto_merge_merges_diverged_heads_then_upgrades(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models((*TABLES[:2], "tools")), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    source = revision_source(1).replace(REVISIONS[1], "b9999999oth2").replace("gadgets", "tools")
    write_revision(migrations, source)
    before = {p.name for p in (migrations / "versions").iterdir()}
    code, data = upgrade_json(app, "--auto-merge")
    assert code == 0, data
    (merge_file,) = {p.name for p in (migrations / "versions").iterdir()} - before
    applied = [step["revision"] for step in data["applied"]]
    assert set(applied[:3]) == {REVISIONS[0], REVISIONS[1], "b9999999oth2"}
    assert len(applied) == 4 and applied[-1] in merge_file
    assert versions_of(database_url) == [applied[-1]]


def test_auto_merge_refuses_conflicting_branches(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    write_revision(migrations, revision_source(1).replace(REVISIONS[1], "b9999999oth2"))
    before = sorted(p.name for p in (migrations / "versions").iterdir())
    code, data = upgrade_json(app, "--auto-merge")
    assert code == 3
    assert data["stage"] == "preflight"
    problems = [p for p in data["problems"] if p["severity"] == "error"]
    assert problems and all(p["check"] == "branch-conflict" for p in problems)
    assert "gadgets" in problems[0]["message"]
    assert sorted(p.name for p in (migrations / "versions").iterdir()) == before
    assert tables_of(database_url) == set()


def test_branches_are_announced_and_blamed_in_the_order_alembic_applies_them(
    make_app: MakeApp, database_url: str
) -> None:
    """Two branches off one revision: Alembic picks which runs first, not the graph's order.

    The progress line opened before a revision runs, and the revision a failure is blamed on,
    must be the one that actually ran (they named the other branch's revision).
    """
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    other = revision_source(1, fail=True)
    write_revision(
        migrations, other.replace(REVISIONS[1], "b9999999oth2").replace("gadgets", "tools")
    )
    write_revision(
        migrations,
        '"""merge the branches\n\nRevision ID: f6000000mrg6\n"""\n'
        "revision = 'f6000000mrg6'\n"
        f"down_revision = ({REVISIONS[1]!r}, 'b9999999oth2')\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n",
    )
    result = invoke(app, "db", "safe-upgrade", "--skip-lint")
    assert result.exit_code == 4, result.output
    out = result.output
    failed_line = next(line for line in out.splitlines() if "FAILED" in line)
    assert "b9999999oth2" in failed_line, out
    assert "error[migration-failed]: Revision b9999999oth2 (create the tools table) failed" in out
    for line in out.splitlines():
        if line.endswith(" ... ") or " ... ok " in line:
            assert line.count("[") == 1, out  # each step announced once, by its own revision


def test_the_failure_points_at_the_line_that_failed(make_app: MakeApp, database_url: str) -> None:
    """``where: file:line`` is the failing statement in upgrade(), not the ``revision =`` line."""
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app, fail_at=2)
    (script,) = (migrations / "versions").glob(f"{REVISIONS[2]}_*.py")
    lines = script.read_text().splitlines()
    failing = next(i for i, line in enumerate(lines, 1) if "no_such_table" in line)
    code, data = upgrade_json(app)
    assert code == 4
    (problem,) = [p for p in data["problems"] if p["check"] == "migration-failed"]
    assert problem["line"] == failing, problem


def test_ctrl_c_in_a_revision_says_what_it_stopped_and_a_rerun_goes_on(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """Ctrl-C (KeyboardInterrupt inside the revision): one clear error, exit 130, not click's
    bare "Aborted!" with exit 1; the lock is free. Nothing is recorded as failed where the
    revision left nothing; on MariaDB its CREATE TABLE stayed, so the re-run needs --resolved."""
    app = make_app(database_url, models=models(TABLES[:3]), config=NO_BACKUP)
    migrations = prepare(app, count=2)
    source = revision_source(2, extra_upgrade="raise KeyboardInterrupt")
    path = write_revision(migrations, source)
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 130, result.output
    assert "Aborted!" not in result.output
    assert "Traceback" not in result.output
    assert f"{REVISIONS[2]}  create the parts table ... interrupted" in result.output
    assert (
        f"Error: safe-upgrade interrupted (Ctrl-C) while applying {REVISIONS[2]};" in result.output
    )
    assert versions_of(database_url) == [REVISIONS[1]]
    path.write_text(revision_source(2))
    if db_kind == "mysql":
        assert f"run `flask db safe-upgrade --resolved {REVISIONS[2]}`" in result.output
        assert upgrade_json(app)[0] == 3
        code, data = upgrade_json(app, "--resolved", REVISIONS[2])
    else:
        assert "run `flask db safe-upgrade` again" in result.output
        assert "parts" not in tables_of(database_url)
        code, data = upgrade_json(app)
    assert code == 0, data
    assert versions_of(database_url) == [REVISIONS[2]]
