"""``flask db verify --roundtrip``: up, down and up again on a scratch database, never the app's."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url

from flask_safemigrate import scratch, verify
from flask_safemigrate.schema_diff import take_snapshot
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import (
    ServerKind,
    engine_for,
    execute,
    require_server,
    scratch_database,
    server_url,
    sqlite_url,
    table_names,
    worker_suffix,
)
from tests.support.scratch_pool import ScratchPool
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

TRACE = "c3c3c3c3c3c3"
TRACE_SCRIPT = script(
    TRACE,
    ITEMS,
    """
    mood = sa.Enum("happy", "sad", name="mood")
    mood.create(op.get_bind(), checkfirst=True)
    op.add_column("users", sa.Column("mood", mood, nullable=True))
    op.create_table("audit", sa.Column("id", sa.Integer(), primary_key=True), if_not_exists=True)
    """,
    # Forgets the table, and (on PostgreSQL) the enum type the column needed.
    'op.drop_column("users", "mood")',
    message="add users.mood and audit",
)
WIDEN = "d4d4d4d4d4d4"
WIDEN_SCRIPT = script(
    WIDEN,
    TRACE,
    """
    with op.batch_alter_table("items") as batch_op:
        batch_op.alter_column(
            "slug", type_=sa.String(length=100), existing_type=sa.String(length=50),
            existing_nullable=False,
        )
    """,
    """
    with op.batch_alter_table("items") as batch_op:
        batch_op.alter_column(
            "slug", type_=sa.String(length=60), existing_type=sa.String(length=100),
            existing_nullable=False,
        )
    """,
    message="widen items.slug",
)


def trace_models(metadata: sa.MetaData) -> None:
    base_models(metadata)
    metadata.tables["users"].append_column(
        sa.Column("mood", sa.Enum("happy", "sad", name="mood"), nullable=True)
    )
    metadata.tables["items"].c.slug.type = sa.String(100)
    sa.Table("audit", metadata, sa.Column("id", sa.Integer, primary_key=True))


FAILING = "e5e5e5e5e5e5"
FAILING_SCRIPT = script(
    FAILING,
    ITEMS,
    'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))',
    'op.drop_table("no_such_table")',
    message="create tags",
)


def tags_models(metadata: sa.MetaData) -> None:
    base_models(metadata)
    sa.Table("tags", metadata, sa.Column("id", sa.Integer, primary_key=True))


# --------------------------------------------------------------------------- the app's database


def app_state(url: str) -> tuple[dict[tuple[str, str], str], dict[str, int], list[str]]:
    """Schema snapshot (version table included), row counts, and the version table's rows."""
    with engine_for(url) as engine, engine.connect() as conn:
        snapshot = dict(take_snapshot(conn).objects)
        tables = sa.inspect(conn).get_table_names()
        counts = {
            name: int(
                conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
            )
            for name in tables
        }
        versions = (
            [row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]
            if "alembic_version" in tables
            else []
        )
    return snapshot, counts, versions


def seed(url: str) -> None:
    users = sa.table("users", sa.column("id"), sa.column("email"))
    items = sa.table("items", sa.column("id"), sa.column("user_id"), sa.column("slug"))
    execute(
        url,
        sa.insert(users).values([{"id": 1, "email": "a@x"}, {"id": 2, "email": "b@x"}]),
        sa.insert(items).values([{"id": 1, "user_id": 1, "slug": "one"}]),
    )


def scratch_names(url: str) -> set[str]:
    """This test's scratch databases on the server of ``url`` (or the temporary folder for
    SQLite): see :func:`private_scratch_prefix`."""
    prefix = scratch.SCRATCH_PREFIX
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return {p.name for p in Path(tempfile.gettempdir()).glob(f"{prefix}*")}
    kind: ServerKind = "postgresql" if backend == "postgresql" else "mysql"
    if kind == "postgresql":
        query = "SELECT datname FROM pg_database"
    else:
        query = "SELECT schema_name FROM information_schema.schemata"
    with engine_for(server_url(kind)) as engine, engine.connect() as conn:
        names = {str(row[0]) for row in conn.exec_driver_sql(query)}
    return {n for n in names if n.startswith(prefix)}


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """SQLite scratch files go to a folder of this test's own, so leftovers are visible."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder


@pytest.fixture(autouse=True)
def private_scratch_prefix(monkeypatch: pytest.MonkeyPatch) -> str:
    """Server scratch databases of this test get a prefix of their own (still starting with
    ``sm_verify_``): other tests, other pytest workers and other runs on the same server create
    and drop theirs meanwhile, and the before/after comparisons must see only this test's."""
    prefix = f"{verify.SCRATCH_PREFIX}{secrets.token_hex(3)}_"
    monkeypatch.setattr(scratch, "SCRATCH_PREFIX", prefix)
    return prefix


# --------------------------------------------------------------------------- passing roundtrip


def test_roundtrip_passes_and_never_touches_the_app_database(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    seed(database_url)
    before = app_state(database_url)
    scratch_before = scratch_names(database_url)
    code, data, _ = run_verify(app, "--roundtrip")
    assert (code, data["problems"]) == (0, [])
    assert data["roundtrip"]["ran"] is True
    assert data["roundtrip"]["revisions"] == data["roundtrip"]["completed"] == 2
    assert verify.SCRATCH_PREFIX in data["roundtrip"]["scratch"]
    assert app_state(database_url) == before
    assert before[1] == {"alembic_version": 1, "users": 2, "items": 1}
    assert scratch_names(database_url) == scratch_before
    text = invoke(app, "db", "verify", "--roundtrip")
    assert text.exit_code == 0
    assert "Roundtrip: 2 revisions upgraded, downgraded and upgraded again" in text.stdout
    assert "(dropped)." in text.stdout
    assert "Running upgrade" not in text.output  # Alembic's INFO lines are kept quiet


# --------------------------------------------------------------------------- downgrade-leaves-trace


def test_downgrade_leaves_trace(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(
        database_url,
        models=trace_models,
        scripts=[USERS_SCRIPT, ITEMS_SCRIPT, TRACE_SCRIPT, WIDEN_SCRIPT],
    )
    code, data, _ = run_verify(app, "--no-db", "--roundtrip")
    assert code == 1
    assert checks(data) == ["downgrade-leaves-trace", "downgrade-leaves-trace"]
    trace, widen = problems(data)
    is_pg = database_url.startswith("postgresql")
    leftover = ["enum type mood", "table audit"] if is_pg else ["table audit"]
    assert trace["revision"] == TRACE
    assert trace["leftover"] == leftover
    assert (trace["missing"], trace["changed"]) == ([], [])
    assert trace["message"] == (
        f"Downgrading revision {TRACE} (add users.mood and audit) does not restore the schema"
        f" before it: the database still has {', '.join(leftover)}."
    )
    assert trace["path"].endswith(f"{TRACE}_test.py")
    # `where:` is the downgrade() to fix, as missing-downgrade's is, not `revision = ...`.
    source = script_path(app, TRACE).read_text().splitlines()
    assert source[trace["line"] - 1].startswith("def downgrade"), trace["line"]
    assert "drop what it creates" in trace["help"]
    assert widen["revision"] == WIDEN
    assert widen["leftover"] == widen["missing"] == []
    (changed,) = widen["changed"]
    assert changed == (
        "column items.slug (VARCHAR(50) NOT NULL before, VARCHAR(60) NOT NULL after)"
    )
    assert f"the database changed {changed}." in widen["message"]
    # The roundtrip went on to head: the models match what the migrations build.
    assert data["roundtrip"]["revisions"] == 4
    # The summary says the roundtrip found problems, not that all went well.
    text = invoke(app, "db", "verify", "--no-db", "--roundtrip")
    (summary,) = [line for line in text.stdout.splitlines() if line.startswith("Roundtrip")]
    assert summary.startswith(
        "Roundtrip found 2 problems (2 downgrade-leaves-trace), reported below: 4 revisions"
        " upgraded, downgraded and upgraded again on the temporary scratch database"
    ), summary


# --------------------------------------------------------------------------- roundtrip-failed


def test_a_failing_step_is_reported_and_everything_is_cleaned_up(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(
        database_url, models=tags_models, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, FAILING_SCRIPT]
    )
    invoke_ok(app, "db", "upgrade")
    seed(database_url)
    before = app_state(database_url)
    scratch_before = scratch_names(database_url)
    code, data, _ = run_verify(app, "--roundtrip")
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "roundtrip-failed"
    assert problem["revision"] == FAILING and problem["direction"] == "downgrade"
    assert problem["message"].startswith(
        f"Roundtrip stopped: downgrade of revision {FAILING} (create tags) failed on the"
        " scratch database: "
    )
    assert "no_such_table" in problem["message"]
    assert data["roundtrip"]["completed"] == 2 and data["roundtrip"]["revisions"] == 3
    assert "\n" not in problem["message"]
    assert f"fix downgrade() of {FAILING}_test.py" in problem["help"]
    assert app_state(database_url) == before
    assert scratch_names(database_url) == scratch_before
    text = invoke(app, "db", "verify", "--roundtrip")
    (summary,) = [line for line in text.stdout.splitlines() if line.startswith("Roundtrip")]
    assert summary.startswith(
        "Roundtrip found 1 problem (1 roundtrip-failed), reported below: stopped after 2 of 3"
        " revisions upgraded, downgraded and upgraded again on the temporary scratch database"
    ), summary


def test_ctrl_c_still_drops_the_scratch_database(verify_app: VerifyApp, database_url: str) -> None:
    interrupted = script(
        FAILING,
        ITEMS,
        'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))\n'
        "raise KeyboardInterrupt",
        'op.drop_table("tags")',
    )
    app = verify_app(
        database_url, models=tags_models, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, interrupted]
    )
    invoke_ok(app, "db", "upgrade", ITEMS)
    seed(database_url)
    before = app_state(database_url)
    scratch_before = scratch_names(database_url)
    with pytest.raises(KeyboardInterrupt):
        verify.verify(app, roundtrip=True)
    assert scratch_names(database_url) == scratch_before
    assert app_state(database_url) == before


def test_scratch_database_that_cannot_be_used_is_a_usage_error(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    before = app_state(database_url)
    own = invoke(app, "db", "verify", "--roundtrip", "--scratch-url", database_url)
    assert own.exit_code == 2
    assert "is the app's own database" in own.output
    assert "give it a separate, empty database" in own.output
    assert app_state(database_url) == before
    without = invoke(app, "db", "verify", "--scratch-url", database_url)
    assert without.exit_code == 2
    assert "--scratch-url needs --roundtrip" in without.output


def _other_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    backend = make_url(database_url).get_backend_name()
    if backend == "sqlite":
        yield sqlite_url(tmp_path / "scratch-given.db")
        return
    kind: ServerKind = "postgresql" if backend == "postgresql" else "mysql"
    with scratch_database(kind, server_url(kind)) as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture
def other_database(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database of the same kind (for --scratch-url)."""
    yield from _other_database(database_url, tmp_path)


def test_scratch_url_is_used_and_emptied_afterwards(
    verify_app: VerifyApp, database_url: str, other_database: str
) -> None:
    app = verify_app(database_url)
    invoke_ok(app, "db", "upgrade")
    before = app_state(database_url)
    code, data, _ = run_verify(app, "--roundtrip", "--scratch-url", other_database)
    assert (code, data["problems"]) == (0, [])
    assert data["roundtrip"]["scratch"] == make_url(other_database).render_as_string(
        hide_password=True
    )
    assert table_names(other_database) == set()
    assert app_state(database_url) == before
    # A database that is not empty is refused, and left as it was.
    execute(other_database, "CREATE TABLE keep_me (id INTEGER PRIMARY KEY)")
    result = invoke(app, "db", "verify", "--roundtrip", "--scratch-url", other_database)
    assert result.exit_code == 2
    assert "is not empty (table keep_me)" in result.output
    assert table_names(other_database) == {"keep_me"}


# --------------------------------------------------------------------------- drift at head


def test_roundtrip_compares_head_with_the_models(verify_app: VerifyApp, database_url: str) -> None:
    app = verify_app(database_url, models=tags_models)
    code, data, _ = run_verify(app, "--no-db", "--roundtrip")
    assert code == 1
    (problem,) = problems(data)
    assert problem["check"] == "schema-drift"
    assert problem["message"] == (
        "table tags: missing in database (scratch database after upgrading from base to head)"
    )
    assert problem["database"] == "scratch"


def test_branches_and_merges_roundtrip(verify_app: VerifyApp, database_url: str) -> None:
    tags = script(
        "f6f6f6f6f6f6",
        USERS,
        'op.create_table("tags", sa.Column("id", sa.Integer(), primary_key=True))',
        'op.drop_table("tags")',
    )
    merge = script("a7a7a7a7a7a7", [ITEMS, "f6f6f6f6f6f6"], "pass", "pass", message="merge")
    app = verify_app(
        database_url, models=tags_models, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, tags, merge]
    )
    code, data, _ = run_verify(app, "--no-db", "--roundtrip")
    assert (code, data["problems"]) == (0, [])
    assert data["roundtrip"]["revisions"] == 4
    assert data["heads"] == ["a7a7a7a7a7a7"]


# --------------------------------------------------------------------------- passwords


@pytest.mark.postgresql
def test_no_password_in_roundtrip_output(
    verify_app: VerifyApp, postgresql_pool: ScratchPool
) -> None:
    """PostgreSQL trusts local logins here, so a URL may carry a password it never checks."""
    require_server("postgresql", server_url("postgresql"))
    with postgresql_pool.database() as pooled:
        url = pooled.set(password="hunter2")
        full = url.render_as_string(hide_password=False)
        assert "hunter2" in full
        app = verify_app(
            full, models=tags_models, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, FAILING_SCRIPT]
        )
        results: list[Any] = [
            invoke(app, "db", "verify", "--roundtrip"),
            invoke(app, "db", "verify", "--roundtrip", "--format", "json"),
        ]
        for result in results:
            assert result.exit_code == 1
            assert "hunter2" not in result.output
            assert "postgres:***@" in result.output
        dispose(app)


def dispose(app: Flask) -> None:
    with app.app_context():
        for engine in app.extensions["sqlalchemy"].engines.values():
            engine.dispose()


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
)
def test_an_account_that_cannot_create_databases_is_told_what_to_do(
    verify_app: VerifyApp, kind: ServerKind
) -> None:
    """Exit 2 and the same advice on both servers (issue #13 item 14d: MariaDB said exit 3,
    "check that the server is up", for a refused CREATE DATABASE)."""
    role = f"sm_nocreate_{secrets.token_hex(4)}{worker_suffix()}"
    password = f"pw-{secrets.token_hex(6)}"
    admin = server_url(kind)
    admin_text = admin.render_as_string(hide_password=False)
    with scratch_database(kind, admin) as url:
        if kind == "postgresql":
            execute(admin_text, f"CREATE ROLE \"{role}\" LOGIN NOCREATEDB PASSWORD '{password}'")
        else:  # everything on the app's database, nothing on the server
            execute(admin_text, f"CREATE USER '{role}'@'%%' IDENTIFIED BY '{password}'")
            execute(admin_text, f"GRANT ALL PRIVILEGES ON `{url.database}`.* TO '{role}'@'%%'")
        try:
            app_url = url.set(username=role, password=password)
            app = verify_app(app_url.render_as_string(hide_password=False))
            before = scratch_names(admin_text)
            for fmt in ("text", "json"):
                result = invoke(app, "db", "verify", "--no-db", "--roundtrip", "--format", fmt)
                assert result.exit_code == 2, result.output
                assert "cannot create a scratch database on" in result.output
                denied = (
                    "permission denied to create database"
                    if kind == "postgresql"
                    else "Access denied for user"
                )
                assert denied in result.output
                assert "give the account the right to create databases" in result.output
                assert "pass --scratch-url with an empty database" in result.output
                assert password not in result.output
            assert scratch_names(admin_text) == before
            dispose(app)
        finally:
            if kind == "postgresql":
                execute(admin_text, f'DROP ROLE IF EXISTS "{role}"')
            else:
                execute(admin_text, f"DROP USER IF EXISTS '{role}'@'%%'")


# --------------------------------------------------------------------------- server-named indexes

OWNER = "f6f6f6f6f6f6"
OWNER_SCRIPT = script(
    OWNER,
    ITEMS,
    """
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_items_owner_id_users", "users", ["owner_id"], ["id"])
    """,
    """
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_constraint("fk_items_owner_id_users", type_="foreignkey")
        batch_op.drop_column("owner_id")
    """,
    message="add items.owner_id",
)
OWNER_COLUMN = "a7a7a7a7a7a7"
OWNER_COLUMN_SCRIPT = script(
    OWNER_COLUMN,
    ITEMS,
    """
    with op.batch_alter_table("items") as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
    """,
    """
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_column("owner_id")
    """,
    message="add items.owner_id",
)
OWNER_FK = "b8b8b8b8b8b8"
OWNER_FK_SCRIPT = script(
    OWNER_FK,
    OWNER_COLUMN,
    """
    with op.batch_alter_table("items") as batch_op:
        batch_op.create_foreign_key("fk_items_owner_id_users", "users", ["owner_id"], ["id"])
    """,
    """
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_constraint("fk_items_owner_id_users", type_="foreignkey")
    """,
    message="items.owner_id references users",
)


def owner_models(metadata: sa.MetaData) -> None:
    base_models(metadata)
    metadata.tables["items"].append_column(
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id", name="fk_items_owner_id_users"))
    )


@pytest.mark.parametrize(
    "scripts",
    [
        pytest.param([OWNER_SCRIPT], id="column-and-key"),
        pytest.param([OWNER_COLUMN_SCRIPT, OWNER_FK_SCRIPT], id="key-on-existing-column"),
    ],
)
def test_a_foreign_key_added_and_dropped_leaves_no_trace(
    verify_app: VerifyApp, database_url: str, scripts: list[str]
) -> None:
    app = verify_app(
        database_url, models=owner_models, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, *scripts]
    )
    code, data, _ = run_verify(app, "--no-db", "--roundtrip")
    assert [p["message"] for p in data["problems"]] == []
    assert code == 0
    assert data["roundtrip"]["completed"] == 2 + len(scripts)


FORGETFUL = "c9c9c9c9c9c9"
FORGETFUL_SCRIPT = script(
    FORGETFUL,
    ITEMS,
    """
    # Guarded: the roundtrip upgrades again over what the downgrade left.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("items")}
    with op.batch_alter_table("items") as batch_op:
        if "owner_id" not in columns:
            batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_items_owner_id_users", "users", ["owner_id"], ["id"])
    op.create_index("ix_items_owner_id", "items", ["owner_id"], if_not_exists=True)
    """,
    # Drops the key only: the column and the index stay.
    """
    with op.batch_alter_table("items") as batch_op:
        batch_op.drop_constraint("fk_items_owner_id_users", type_="foreignkey")
    """,
    message="add items.owner_id",
)


def forgetful_models(metadata: sa.MetaData) -> None:
    owner_models(metadata)
    sa.Index("ix_items_owner_id", metadata.tables["items"].c.owner_id)


def test_a_forgotten_index_and_column_next_to_a_foreign_key_are_still_reported(
    verify_app: VerifyApp, database_url: str
) -> None:
    app = verify_app(
        database_url,
        models=forgetful_models,
        scripts=[USERS_SCRIPT, ITEMS_SCRIPT, FORGETFUL_SCRIPT],
    )
    code, data, _ = run_verify(app, "--no-db", "--roundtrip")
    assert code == 1
    assert [p["message"] for p in problems(data) if p["check"] != "downgrade-leaves-trace"] == []
    (trace,) = problems(data)
    assert (trace["check"], trace["revision"]) == ("downgrade-leaves-trace", FORGETFUL)
    assert trace["leftover"] == ["column items.owner_id", "index ix_items_owner_id on items"]
    assert (trace["missing"], trace["changed"]) == ([], [])


REPEAT = "e5e5e5e5e5e5"
REPEAT_SCRIPT = script(
    REPEAT,
    ITEMS,
    """
    op.create_table("audit", sa.Column("id", sa.Integer(), primary_key=True))
    """,
    "pass",  # forgets the table: the upgrade cannot run a second time
    message="create audit",
)


def test_a_failed_reupgrade_says_it_was_the_upgrade_after_the_downgrade(
    verify_app: VerifyApp, database_url: str
) -> None:
    """The first upgrade and the downgrade passed; the upgrade run again failed: the report
    says which of the three steps it was, and points at the op's line in the script."""
    app = verify_app(database_url, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, REPEAT_SCRIPT])
    code, data, _ = run_verify(app, "--roundtrip")
    assert code == 1
    (problem,) = problems(data, "roundtrip-failed")
    assert problem["revision"] == REPEAT and problem["phase"] == "re-upgrade", problem
    assert problem["direction"] == "upgrade"
    assert problem["message"].startswith(
        f"Roundtrip stopped: re-upgrade of revision {REPEAT} (create audit) (its upgrade"
        " again, after its downgrade) failed on the scratch database: "
    ), problem["message"]
    lines = script_path(app, REPEAT).read_text().splitlines()
    assert problem["line"] == 1 + next(
        i for i, line in enumerate(lines) if "op.create_table" in line
    ), problem


def test_rows_for_an_unknown_revision_or_a_table_not_made_yet_say_what_to_fix(
    verify_app: VerifyApp, database_url: str, tmp_path: Path
) -> None:
    """Rows under an id the history lacks are their own check (not ``seeded-row-lost``:
    nothing was inserted); rows under the revision that creates their table (inserted before
    it runs) say to declare them under the next revision."""
    app = verify_app(database_url, scripts=[USERS_SCRIPT, ITEMS_SCRIPT])
    rows = tmp_path / "rows.py"
    user = {"id": 1, "email": "ann@example.com"}
    rows.write_text(
        f"ROWS = {{{USERS!r}: {{'users': [{user!r}]}},"
        f" {ITEMS[:6]!r}: {{'users': [{user!r}]}}, 'nope': {{'users': [{user!r}]}}}}\n",
        encoding="utf-8",
    )
    code, data, _ = run_verify(app, "--no-db", "--roundtrip", "--rows", str(rows))
    assert code == 1
    assert checks(data) == [
        "roundtrip-failed",
        "seeded-rows-unknown-revision",
        "seeded-rows-unknown-revision",
    ]
    short, nope = problems(data, "seeded-rows-unknown-revision")
    assert (short["revision"], nope["revision"]) == (ITEMS[:6], "nope")
    assert "which is not in the history: they were never inserted" in nope["message"]
    assert short["help"].startswith(f"write the full id: {ITEMS!r}")
    (stopped,) = problems(data, "roundtrip-failed")
    assert (stopped["revision"], stopped["table"]) == (USERS, "users")
    assert "table users does not exist before that revision runs" in stopped["message"]
    assert stopped["help"].startswith(
        f"if revision {USERS} creates users, declare them under the next revision ({ITEMS})"
    )


def test_rows_file_that_cannot_be_used_is_a_usage_error(
    verify_app: VerifyApp, tmp_path: Path
) -> None:
    """``--rows`` (issue #18: the pytest plugin's seeded-roundtrip without pytest)."""
    app = verify_app(sqlite_url(tmp_path / "app.db"))
    rows = tmp_path / "rows.py"
    rows.write_text("DATA = {}\n", encoding="utf-8")
    without = invoke(app, "db", "verify", "--rows", str(rows))
    assert without.exit_code == 2
    assert "--rows needs --roundtrip" in without.output
    no_rows = invoke(app, "db", "verify", "--no-db", "--roundtrip", "--rows", str(rows))
    assert no_rows.exit_code == 2
    assert "defines no ROWS" in no_rows.output and "Traceback" not in no_rows.output
    rows.write_text("ROWS = {'abc': ['not a table']}\n", encoding="utf-8")
    bad = invoke(app, "db", "verify", "--no-db", "--roundtrip", "--rows", str(rows))
    assert bad.exit_code == 2
    assert "ROWS['abc'] must map table names to lists of rows" in bad.output
    # A path that is not there is said so, with the path, not "FileNotFoundError ... fix it".
    missing = tmp_path / "nope.py"
    gone = invoke(app, "db", "verify", "--no-db", "--roundtrip", "--rows", str(missing))
    assert gone.exit_code == 2
    assert gone.stderr.splitlines()[0] == f"Error: rows file {missing} does not exist", gone.output
    assert "FileNotFoundError" not in gone.output and "fix the file" not in gone.output
    folder = invoke(app, "db", "verify", "--no-db", "--roundtrip", "--rows", str(tmp_path))
    assert folder.exit_code == 2
    assert f"rows file {tmp_path} is a directory, not a file" in folder.stderr, folder.output


# --------------------------------------------------------------------------- kept connections


@pytest.mark.postgresql
def test_a_kept_postgresql_scratch_connection_comes_back_as_a_new_session(
    postgresql_pool: ScratchPool,
) -> None:
    """The steps of a roundtrip share a PostgreSQL connection (a new one costs a backend),
    but nothing one step leaves in its session reaches the next: settings, role, temporary
    tables, cursors, session advisory locks."""
    require_server("postgresql", server_url("postgresql"))
    with postgresql_pool.database() as pooled:
        engine = scratch.scratch_engine(pooled)
        try:
            with engine.connect() as conn:
                pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                timeout = conn.exec_driver_sql("SHOW statement_timeout").scalar()
                conn.exec_driver_sql("SET statement_timeout = '4321ms'")
                conn.exec_driver_sql("SET search_path TO pg_catalog")
                conn.exec_driver_sql("CREATE TEMP TABLE left_by_a_step (id int)")
                conn.exec_driver_sql("SELECT pg_advisory_lock(424242)")
                conn.exec_driver_sql("DECLARE left_open CURSOR WITH HOLD FOR SELECT 1")
                conn.commit()
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() == pid
                assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == timeout
                assert conn.exec_driver_sql("SELECT current_schema()").scalar() != "pg_catalog"
                temp = "SELECT to_regclass('pg_temp.left_by_a_step')"
                assert conn.exec_driver_sql(temp).scalar() is None
                held = (
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid()"
                )
                assert conn.exec_driver_sql(held).scalar() == 0
                cursors = "SELECT count(*) FROM pg_cursors"
                assert conn.exec_driver_sql(cursors).scalar() == 0
        finally:
            engine.dispose()
