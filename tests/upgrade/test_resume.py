"""A failure that left nothing behind needs no human (issue #17 item 2).

A lock timeout, a constraint error and a script error whose revision's transaction rolled
back are recorded in the ledger with what they left (``[left: nothing]``) and resolved by
safe-upgrade itself, so a plain re-run (an automated deploy's retry) reaches head without
``--resolved``. A MariaDB failure after DDL ran keeps that DDL: there the re-run still stops
and asks for ``--resolved``, and the help names MariaDB/MySQL only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import DbKind, nullpool_engine
from tests.support.revisions import revision_script, write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import REVISIONS, ledger_rows, models, prepare, versions_of

FAILING = "f1700000res2"
CONFIG = {
    "SAFEMIGRATE_BACKUP": False,
    "SAFEMIGRATE_LOCK_TIMEOUT": 1,
    "SAFEMIGRATE_LOCK_RETRIES": 0,
}
DATABASES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL"}


def _app(make_app: MakeApp, url: str, body: str) -> tuple[Any, Any]:
    """widgets applied, then ``FAILING`` (``body`` is its upgrade) written, not run."""
    app = make_app(url, models=models(), config=CONFIG)
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade", "--no-verify").exit_code == 0
    _write(migrations, body)
    return app, migrations


def _write(migrations: Any, body: str) -> None:
    write_revision(migrations, revision_script(FAILING, REVISIONS[0], body, message="failing"))


def _run(app: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code, data, _ = invoke_json(
        app, "db", "safe-upgrade", "--no-verify", "--skip-lint", "--format", "json", *args
    )
    return code, data


def _failure(app: Any) -> dict[str, Any]:
    code, data = _run(app)
    assert code == 4, data
    (problem,) = [p for p in data["problems"] if p["check"] == "migration-failed"]
    return problem


def _assert_recorded_nothing_left(url: str) -> None:
    rows = [r for r in ledger_rows(url) if r["revision"] == FAILING]
    assert [(r["direction"], bool(r["success"])) for r in rows] == [
        ("upgrade", False),
        ("resolve", True),
    ], rows
    assert rows[0]["error"].endswith("[left: nothing]"), rows[0]["error"]
    assert "left nothing behind" in rows[1]["error"], rows[1]["error"]


def _assert_plain_rerun_reaches_head(app: Any, url: str) -> None:
    code, data = _run(app)
    assert code == 0, data
    assert data["current"] == [FAILING], data
    assert versions_of(url) == [FAILING]


def _assert_help_names_only(db_kind: DbKind, text: str) -> None:
    for kind, name in DATABASES.items():
        if kind != db_kind:
            assert name not in text, (db_kind, text)


@contextmanager
def _blocking(db_kind: DbKind, url: str) -> Iterator[None]:
    """Another session that holds what adding a column to widgets needs, until the end."""
    if db_kind == "sqlite":
        path = make_url(url).database
        assert path
        writer = sqlite3.connect(path, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            yield
            writer.execute("ROLLBACK")
        finally:
            writer.close()
        return
    engine = nullpool_engine(url)
    try:
        with engine.connect() as blocker:
            blocker.execute(sa.text("SELECT count(*) FROM widgets"))  # ACCESS SHARE / MDL
            yield
            blocker.rollback()
    finally:
        engine.dispose()


@TIMING
def test_a_lock_timeout_is_followed_by_a_plain_rerun_that_reaches_head(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    app, _ = _app(make_app, database_url, 'op.add_column("widgets", sa.Column("note", sa.Text()))')
    with _blocking(db_kind, database_url):
        problem = _failure(app)
    assert "gave up waiting for a lock" in problem["message"], problem["message"]
    assert "--resolved" not in problem["help"].replace("no --resolved needed", ""), problem["help"]
    _assert_help_names_only(db_kind, problem["help"])
    if db_kind != "sqlite":  # SQLite's BEGIN IMMEDIATE waited: nothing began, nothing recorded
        assert problem["left"] == "nothing"
        _assert_recorded_nothing_left(database_url)
    _assert_plain_rerun_reaches_head(app, database_url)


def test_a_constraint_error_that_left_nothing_needs_no_resolved(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    app, _ = _app(
        make_app,
        database_url,
        "op.create_index('uq_widgets_name', 'widgets', ['name'], unique=True)",
    )
    engine = nullpool_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO widgets (id, name) VALUES (1, 'Dup'), (2, 'Dup')"))
        problem = _failure(app)
        assert problem["left"] == "nothing", problem
        assert "no --resolved needed" in problem["help"], problem["help"]
        _assert_help_names_only(db_kind, problem["message"] + problem["help"])
        _assert_recorded_nothing_left(database_url)
        # the data is fixed, nobody runs --resolved: the retry applies the revision
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE widgets SET name = 'Other' WHERE id = 2"))
    finally:
        engine.dispose()
    _assert_plain_rerun_reaches_head(app, database_url)


def test_a_script_error_after_data_statements_left_nothing_and_resumes(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """A NameError after an UPDATE: the UPDATE rolled back with the revision's transaction,
    on MariaDB too (no DDL ran, so nothing committed it)."""
    body = "op.execute(\"UPDATE widgets SET name = 'changed'\")\nnot_defined_anywhere()"
    app, migrations = _app(make_app, database_url, body)
    engine = nullpool_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO widgets (id, name) VALUES (1, 'kept')"))
        problem = _failure(app)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM widgets")).scalar_one() == "kept"
    finally:
        engine.dispose()
    assert "NameError" in problem["message"], problem["message"]
    assert problem["left"] == "nothing", problem
    _assert_recorded_nothing_left(database_url)
    _write(migrations, "op.execute(\"UPDATE widgets SET name = 'changed'\")")
    _assert_plain_rerun_reaches_head(app, database_url)


def test_ddl_then_a_script_error_demands_resolved_only_on_mariadb(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    body = 'op.add_column("widgets", sa.Column("note", sa.Text()))\nnot_defined_anywhere()'
    app, migrations = _app(make_app, database_url, body)
    problem = _failure(app)
    _assert_help_names_only(db_kind, problem["message"] + problem["help"])
    fixed = 'op.add_column("widgets", sa.Column("note", sa.Text()))'
    if db_kind != "mysql":
        assert problem["left"] == "nothing", problem
        _assert_recorded_nothing_left(database_url)
        _write(migrations, fixed)
        _assert_plain_rerun_reaches_head(app, database_url)
        return
    assert problem["left"] == "statements", problem
    assert "ADD COLUMN note" in problem["message"], problem["message"]
    assert f"--resolved {FAILING}" in problem["help"], problem["help"]
    (row,) = [r for r in ledger_rows(database_url) if r["revision"] == FAILING]
    assert "[left: 1 statement: ALTER TABLE widgets ADD COLUMN note" in row["error"], row
    # MariaDB has ADD COLUMN IF NOT EXISTS: the script converges over what stayed
    _write(migrations, fixed[:-1] + ", if_not_exists=True)")
    code, data = _run(app)
    assert code == 3, data
    (blocked,) = [p for p in data["problems"] if p["check"] == "failed-migration"]
    assert blocked["left"] == "statements", blocked
    assert f"--resolved {FAILING}" in blocked["help"], blocked["help"]
    _assert_help_names_only(db_kind, blocked["help"])
    code, data = _run(app, "--resolved", FAILING)
    assert code == 0, data["problems"]
    assert versions_of(database_url) == [FAILING]


def test_preflight_warnings_come_before_the_lock_and_once(
    make_app: MakeApp, database_url: str
) -> None:
    """A newcomer read pre-flight's lint warning after "verify: at head": it is shown where
    pre-flight ends, before the lock, the upgrade and the verification, and not again."""
    app = make_app(database_url, models=models(), config=CONFIG)
    migrations = prepare(app, count=1)
    assert invoke(app, "db", "safe-upgrade", "--no-verify").exit_code == 0
    _write(migrations, "op.create_table('audit', sa.Column('id', sa.Integer(), primary_key=True))")
    result = invoke(app, "db", "safe-upgrade", "--no-verify")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    warned = [i for i, line in enumerate(lines) if "[missing-existence-check]" in line]
    assert len(warned) == 1, result.stdout
    lock = next(i for i, line in enumerate(lines) if line.startswith("lock: "))
    assert warned[0] < lock, result.stdout
    assert lines[-1].startswith("Applied 1 revision"), result.stdout
