"""Pre-flight reads the live database: a lock on an empty or absent table passes at info with
its size, on a large table it blocks with the row count, and a long transaction on the table
is named before the migration lock is taken (issue #16, item 2)."""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import (
    connection_to,
    execute,
    nullpool_engine,
    scalars,
    worker_suffix,
)
from tests.support.revisions import write_revision
from tests.support.timing import TIMING
from tests.upgrade.histories import REVISIONS, models, prepare, versions_of

INDEX = "f8000000idx1"
LARGE = {"SAFEMIGRATE_BACKUP": False, "SAFEMIGRATE_LARGE_TABLE_ROWS": 100_000}


def _script(rev: str, upgrade: str, message: str = "change widgets") -> str:
    return f'''
"""{message}

Revision ID: {rev}
"""
import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{REVISIONS[0]}"
branch_labels = None
depends_on = None


def upgrade():
    {upgrade}


def downgrade():
    pass
'''


INDEX_SCRIPT = _script(INDEX, 'op.create_index("ix_widgets_name", "widgets", ["name"])')
#: A stored generated column: MariaDB/MySQL copy the table to add it (SM217).
STORED_SCRIPT = _script(
    INDEX,
    'op.add_column("widgets", sa.Column("name2", sa.String(60),'
    ' sa.Computed("concat(name, name)", persisted=True)))',
)
#: A NOT NULL column without a default: fails at the first row on PostgreSQL/SQLite (SM201).
NOT_NULL_SCRIPT = _script(
    INDEX, 'op.add_column("widgets", sa.Column("flag", sa.Integer(), nullable=False))'
)


def _app(make_app: MakeApp, url: str, script: str, **config: Any) -> Flask:
    app = make_app(url, models=models(), config={**LARGE, **config})
    migrations = prepare(app, count=1)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
    assert code == 0, data
    write_revision(migrations, script)
    return app


def _fill(url: str, kind: str, rows: int) -> None:
    """``rows`` rows in widgets, in one statement on the server (and fresh statistics)."""
    if kind == "postgresql":
        execute(
            url,
            f"INSERT INTO widgets (id, name) SELECT g, 'w' || g FROM generate_series(1, {rows}) g",
        )
        execute(url, "ANALYZE widgets", autocommit=True)
    elif kind == "mysql":
        execute(
            url,
            f"INSERT INTO widgets (id, name) SELECT seq, CONCAT('w', seq) FROM seq_1_to_{rows}",
        )
        execute(url, "ANALYZE TABLE widgets", autocommit=True)
    else:
        execute(
            url,
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g"
            f" WHERE n < {rows}) INSERT INTO widgets (id, name) SELECT n, 'w' || n FROM g",
        )


def _large_dry_run(
    make_app: MakeApp, url: str, kind: str, script: str
) -> tuple[Flask, int, dict[str, Any]]:
    """The app with ``script`` pending on 200,000 rows of widgets, and its --dry-run JSON."""
    app = _app(make_app, url, script)
    _fill(url, kind, 200_000)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    return app, code, data


def _problems(data: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [p for p in data["problems"] if p["check"] == check]


def _rows_in(message: str) -> int:
    found = re.search(r"~?([\d,]+) rows", message)
    assert found is not None, message
    return int(found[1].replace(",", ""))


# ------------------------------------------- a locking statement on an empty and a large table

#: Per server: the statement that locks the table there, and the lint rule that says so. On
#: PostgreSQL an index built without CONCURRENTLY; MariaDB builds that index online (writes go
#: on, see the next test), so there the table copy of a stored generated column.
LOCKING = {
    "postgresql": (INDEX_SCRIPT, "create-index-not-concurrently", "an estimate"),
    "mysql": (STORED_SCRIPT, "rewrite-on-add", "InnoDB's estimate"),
}


def _locking_upgrade(
    make_app: MakeApp, url: str, kind: str, *, rows: int
) -> tuple[int, dict[str, Any]]:
    """safe-upgrade's exit code and the locking finding, with ``rows`` rows in widgets."""
    script, check, _ = LOCKING[kind]
    app = _app(make_app, url, script)
    if rows:
        _fill(url, kind, rows)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
    (finding,) = _problems(data, check)
    return code, finding


@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_a_locking_statement_on_an_empty_table_passes_at_info_with_its_size(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    code, finding = _locking_upgrade(make_app, database_url, db_kind, rows=0)
    assert code == 0, finding
    assert finding["severity"] == "info"
    assert "harmless here: `widgets` is empty (0 rows, " in finding["message"]
    assert finding["tables"][0]["rows"] == 0 and finding["tables"][0]["bytes"] > 0
    assert versions_of(database_url) == [INDEX]


@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_a_locking_statement_on_200000_rows_blocks_with_the_row_count(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    code, finding = _locking_upgrade(make_app, database_url, db_kind, rows=200_000)
    assert code == 3, finding
    assert finding["severity"] == "error"
    estimate = LOCKING[db_kind][2]
    assert "on `widgets`: ~" in finding["message"] and f"rows ({estimate}), " in finding["message"]
    assert "SAFEMIGRATE_LARGE_TABLE_ROWS = 100,000" in finding["message"]
    rows = _rows_in(finding["message"])
    # ANALYZE read every page of PostgreSQL's table; InnoDB samples.
    assert rows == 200_000 if db_kind == "postgresql" else 100_000 < rows < 300_000
    assert versions_of(database_url) == [REVISIONS[0]]


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_small_table_passes_at_info_with_its_rows(make_app: MakeApp, database_url: str) -> None:
    app = _app(make_app, database_url, INDEX_SCRIPT)
    _fill(database_url, "postgresql", 1_000)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
    assert code == 0, data
    (finding,) = _problems(data, "create-index-not-concurrently")
    assert finding["severity"] == "info"
    assert "harmless here: `widgets` is small (~1,000 rows (an estimate), " in finding["message"]
    assert "SAFEMIGRATE_LARGE_TABLE_ROWS = 100,000" in finding["message"]


CREATE = "f7000000crt1"


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_table_created_earlier_in_the_plan_passes_at_info(
    make_app: MakeApp, database_url: str
) -> None:
    app = _app(
        make_app,
        database_url,
        _script(
            CREATE,
            'op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True),'
            ' sa.Column("total", sa.Integer()))',
        ),
    )
    index = _script(INDEX, 'op.create_index("ix_orders_total", "orders", ["total"])')
    migrations = Path(app.extensions["migrate"].directory)
    write_revision(migrations, index.replace(REVISIONS[0], CREATE))
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert code == 0, data
    (finding,) = _problems(data, "create-index-not-concurrently")
    assert finding["severity"] == "info"
    assert f"`orders` does not exist yet; pending revision {CREATE}" in finding["message"]
    (row,) = data["statements"]
    assert row["created_in_plan"] == CREATE and row["rows"] is None


#: What --dry-run says of an index build on 200,000 rows: PostgreSQL blocks writes (and the
#: gate stops, exit 3); MariaDB builds it online (no locking finding, exit 0).
INDEX_PLAN = {
    "postgresql": (3, "SHARE", "blocks writes until the index is built"),
    "mysql": (0, "metadata lock, LOCK=NONE", "online: writes continue while it builds"),
}


@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_dry_run_lists_kind_table_rows_size_lock_and_impact(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    exit_code, lock, impact = INDEX_PLAN[db_kind]
    app, code, data = _large_dry_run(make_app, database_url, db_kind, INDEX_SCRIPT)
    assert code == exit_code, data
    (row,) = data["statements"]
    assert row["kind"] == "create_index" and row["table"] == "widgets"
    assert row["lock"] == lock and row["impact"] == impact
    assert row["rows_estimated"] is True and row["bytes"] > 1_000_000
    # ANALYZE read every page of PostgreSQL's table; InnoDB samples.
    assert row["rows"] == 200_000 if db_kind == "postgresql" else 100_000 < row["rows"] < 300_000
    result = invoke(app, "db", "safe-upgrade", "--dry-run", "--no-verify")
    assert ": read the size of 1 table the plan changes\n" in result.output
    assert re.search(
        r"create_index on widgets \(~[\d,]+ rows \([^)]*\), [\d.]+ MB\): lock"
        rf" {re.escape(lock)}; {re.escape(impact)}",
        result.output,
    ), result.output


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_never_analysed_table_is_judged_by_its_pages_not_called_empty(
    make_app: MakeApp, database_url: str
) -> None:
    app = _app(make_app, database_url, INDEX_SCRIPT)
    execute(
        database_url,
        "INSERT INTO widgets (id, name) SELECT g, 'w' || g FROM generate_series(1, 200000) g",
    )
    _code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    (finding,) = _problems(data, "create-index-not-concurrently")
    assert finding["severity"] == "error"  # rows unknown or counted: never "harmless"
    assert "harmless" not in finding["message"]


# ---------------------------------------------------------------- SQLite: a bounded count


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_sqlite_not_null_column_on_an_empty_table_passes_and_on_rows_blocks(
    make_app: MakeApp, database_url: str
) -> None:
    app = _app(make_app, database_url, NOT_NULL_SCRIPT)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert code == 0, data
    (finding,) = _problems(data, "add-not-null-column-without-default")
    assert finding["severity"] == "info"
    assert "harmless here: `widgets` is empty (0 rows)" in finding["message"]

    _fill(database_url, "sqlite", 200_000)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
    assert code == 3, data
    (finding,) = _problems(data, "add-not-null-column-without-default")
    assert finding["severity"] == "error"
    # One "rows" (was "`widgets` has rows: more than 100,000 rows").
    assert "(`widgets` has more than 100,000 rows)" in finding["message"]


# ---------------------------------------------------------------- long transactions


@contextmanager
def _idle_transaction(url: str, kind: str) -> Iterator[int]:
    """Another session with an open transaction holding a write lock on widgets, now idle."""
    engine = nullpool_engine(url)
    conn = engine.connect()
    try:
        if kind == "postgresql":
            conn.exec_driver_sql("SET application_name = 'sm-idle'")
            conn.commit()
            session = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            # What an INSERT takes, and what CREATE INDEX (SHARE) must wait for.
            conn.exec_driver_sql("LOCK TABLE widgets IN ROW EXCLUSIVE MODE")
        else:
            session = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()
            # A monitoring session looks just before: InnoDB then serves INNODB_TRX from that
            # snapshot, without this transaction, to every session for the next 0.1 s.
            scalars(url, "SELECT COUNT(*) FROM information_schema.INNODB_TRX")
            conn.exec_driver_sql("INSERT INTO widgets (id, name) VALUES (-1, 'held')")
        yield int(session)
    finally:
        conn.rollback()
        conn.close()
        engine.dispose()


@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_an_idle_transaction_on_the_table_is_named_before_the_lock_is_taken(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    app = _app(make_app, database_url, INDEX_SCRIPT, SAFEMIGRATE_MAX_BLOCKER_AGE=0)
    with _idle_transaction(database_url, db_kind) as session:
        code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert code == 0, data
    assert data["stage"] == "preflight"  # the dry run never takes the migration lock
    named = [p for p in _problems(data, "long-transaction") if p["blocker"]["id"] == session]
    assert named, data["problems"]
    finding = named[0]
    assert finding["severity"] == "warning"
    blocker = finding["blocker"]
    assert blocker["user"] and blocker["age_seconds"] >= 0 and blocker["query"]
    if db_kind == "postgresql":
        assert blocker["application"] == "sm-idle" and blocker["table"] == "widgets"
        assert "holds RowExclusiveLock on widgets" in finding["message"]
    end = (
        f"SELECT pg_terminate_backend({session})" if db_kind == "postgresql" else f"KILL {session}"
    )
    assert end in finding["help"], finding["help"]  # the session it names, ready to copy


@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_a_transaction_begun_just_after_another_session_looked_is_named(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    """InnoDB refreshes INNODB_TRX at most every 0.1 s for all sessions: the look that a
    monitoring session took a moment before the transaction began must not hide it."""
    from flask_safemigrate import blockers

    _app(make_app, database_url, INDEX_SCRIPT)
    for _ in range(3):
        with (
            _idle_transaction(database_url, db_kind) as session,
            connection_to(database_url) as connection,
        ):
            found = blockers.holders(connection, ["widgets"], older_than=0)
        assert session in [holder.id for holder in found], [h.line for h in found]


@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_looks_at_once_do_not_keep_each_other_from_a_fresh_snapshot(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    """Replicas' pre-flights look at once: each reads again until the snapshot is newer than
    its look, and reads that came within 0.1 s of each other for ever would starve them all."""
    from flask_safemigrate import blockers

    _app(make_app, database_url, INDEX_SCRIPT)
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def look(delay: float) -> None:
        with connection_to(database_url) as connection:
            start.wait()
            time.sleep(delay)
            try:
                blockers.holders(connection, ["widgets"], older_than=0)
            except blockers.StaleSnapshot as error:
                errors.append(error)

    with _idle_transaction(database_url, db_kind):
        looks = [threading.Thread(target=look, args=(n * 0.035,)) for n in range(3)]
        for thread in looks:
            thread.start()
        for thread in looks:
            thread.join()
    assert errors == []


@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_a_snapshot_kept_stale_by_other_readers_is_an_error_not_no_blocker(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    """A session reading INNODB_TRX more often than every 0.1 s keeps InnoDB's snapshot from
    being refreshed: the look says it could not see rather than that nobody holds a lock.

    The snapshot is the whole server's: the reader runs for well under the default wait of
    any other look (another test worker's, which then still sees a fresh one)."""
    from flask_safemigrate import blockers

    _app(make_app, database_url, INDEX_SCRIPT)
    stop = threading.Event()

    def keep_reading() -> None:
        with connection_to(database_url) as reader:
            while not stop.is_set():
                reader.exec_driver_sql("SELECT COUNT(*) FROM information_schema.INNODB_TRX").all()
                reader.rollback()
                stop.wait(0.03)

    thread = threading.Thread(target=keep_reading)
    thread.start()
    try:
        with (
            _idle_transaction(database_url, db_kind),
            connection_to(database_url) as connection,
            pytest.raises(blockers.StaleSnapshot, match="INNODB_TRX served a snapshot"),
        ):
            blockers.holders(connection, ["widgets"], older_than=0, fresh_within=0.4)
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_a_young_transaction_is_not_named(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    app = _app(make_app, database_url, INDEX_SCRIPT, SAFEMIGRATE_MAX_BLOCKER_AGE=3600)
    with _idle_transaction(database_url, db_kind):
        code, data, _ = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    assert code == 0, data
    assert _problems(data, "long-transaction") == []


# ---------------------------------------------------------------- faults and hostile names


@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_a_connection_dropped_while_reading_sizes_falls_back_to_lint(
    make_app: MakeApp, database_url: str, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask_safemigrate import live

    app = _app(make_app, database_url, INDEX_SCRIPT if db_kind == "postgresql" else STORED_SCRIPT)
    real = live.read_sizes

    def dropped(connection: sa.Connection, *args: Any, **kwargs: Any) -> Any:
        """End this very session from another one (as a DBA or a failover would), then read."""
        if db_kind == "postgresql":
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            execute(database_url, f"SELECT pg_terminate_backend({int(pid)})", autocommit=True)
        else:
            own = connection.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()
            execute(database_url, f"KILL CONNECTION {int(own)}", autocommit=True)
        return real(connection, *args, **kwargs)

    monkeypatch.setattr(live, "read_sizes", dropped)
    code, data, result = invoke_json(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
    assert "Traceback" not in result.output
    (unread,) = _problems(data, "table-sizes-unread")
    assert unread["severity"] == "warning"
    assert unread["message"].startswith("pre-flight could not read table sizes of ")
    lint = "create-index-not-concurrently" if db_kind == "postgresql" else "rewrite-on-add"
    (finding,) = _problems(data, lint)
    assert finding["severity"] == "error"  # today's judgement: it blocks
    assert code == 3, data


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_sizes_denied_to_the_login_falls_back_to_lint(make_app: MakeApp, database_url: str) -> None:
    role = "sm_nosize_" + database_url.rsplit("/", 1)[-1][-20:]
    execute(
        database_url,
        f"CREATE ROLE {role} LOGIN",
        f"GRANT ALL ON SCHEMA public TO {role}",
        "REVOKE EXECUTE ON FUNCTION pg_total_relation_size(regclass) FROM PUBLIC",
        autocommit=True,
    )
    try:
        url = sa.make_url(database_url).set(username=role).render_as_string(hide_password=False)
        app = _app(make_app, url, INDEX_SCRIPT)
        code, data, _result = invoke_json(
            app, "db", "safe-upgrade", "--no-verify", "--format", "json"
        )
        assert code == 3, data
        (unread,) = _problems(data, "table-sizes-unread")
        assert "permission denied for function pg_total_relation_size" in unread["message"]
        (finding,) = _problems(data, "create-index-not-concurrently")
        assert finding["severity"] == "error" and "harmless" not in finding["message"]
    finally:
        execute(database_url, f"DROP OWNED BY {role}", f"DROP ROLE {role}", autocommit=True)


HOSTILE = "we\"ird'; DROP TABLE widgets; --"


@pytest.mark.parametrize("db_kind", ["sqlite", "postgresql", "mysql"], indirect=True)
def test_hostile_table_names_are_bound_not_spliced(
    make_app: MakeApp, database_url: str, db_kind: str
) -> None:
    script = _script(
        INDEX, f"op.add_column({HOSTILE!r}, sa.Column('flag', sa.Integer(), nullable=False))"
    )
    app = _app(make_app, database_url, script)
    table = sa.Table(HOSTILE, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True))
    engine = nullpool_engine(database_url)
    try:
        table.create(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1}, {"id": 2}])
            if db_kind == "postgresql":
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    _code, data, _result = invoke_json(app, "db", "safe-upgrade", "--dry-run", "--format", "json")
    (row,) = data["statements"]
    assert row["table"] == HOSTILE and row["exists"] is True
    assert row["rows"] == 2 or (db_kind == "mysql" and row["rows"] is not None)
    (finding,) = _problems(data, "add-not-null-column-without-default")
    assert finding["severity"] == "error" and f"`{HOSTILE}` has " in finding["message"]
    assert "widgets" in set(sa.inspect(nullpool_engine(database_url)).get_table_names())


@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_sessions_denied_without_process_privilege_keeps_the_sizes(
    make_app: MakeApp, database_url: str
) -> None:
    url = sa.make_url(database_url)
    user = f"sm_lg_{secrets.token_hex(4)}{worker_suffix()}"
    execute(
        database_url,
        f"CREATE USER '{user}'@'%%'",
        f"GRANT ALL ON `{url.database}`.* TO '{user}'@'%%'",
        autocommit=True,
    )
    try:
        login = url.set(username=user).render_as_string(hide_password=False)
        app = _app(make_app, login, STORED_SCRIPT, SAFEMIGRATE_MAX_BLOCKER_AGE=0)
        code, data, _ = invoke_json(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
        assert code == 0, data
        (unread,) = _problems(data, "sessions-unread")
        assert unread["severity"] == "warning" and "PROCESS privilege" in unread["message"]
        (finding,) = _problems(data, "rewrite-on-add")  # the sizes were read all the same
        assert finding["severity"] == "info" and "`widgets` is empty" in finding["message"]
    finally:
        execute(database_url, f"DROP USER IF EXISTS '{user}'@'%%'", autocommit=True)


@TIMING
@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_a_real_run_names_the_session_on_the_console_before_taking_the_lock(
    make_app: MakeApp, database_url: str
) -> None:
    app = _app(
        make_app,
        database_url,
        INDEX_SCRIPT,
        SAFEMIGRATE_MAX_BLOCKER_AGE=0,
        SAFEMIGRATE_LOCK_TIMEOUT=0.2,
        SAFEMIGRATE_LOCK_RETRIES=0,
    )
    with _idle_transaction(database_url, "postgresql") as pid:
        result = invoke(app, "db", "safe-upgrade", "--no-verify")
    assert result.exit_code == 4, result.output  # the index build waited for it, then gave up
    lines = result.output.splitlines()
    named = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("preflight: ")
        and f"the migration's locks will wait for pid {pid} (user " in line
        and "holding RowExclusiveLock on widgets" in line
    )
    taking = next(i for i, line in enumerate(lines) if line.startswith("lock: taking"))
    assert named < taking, result.output
