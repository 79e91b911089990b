"""``flask db verify --compat-with REF`` (issue #19 step 2): the previous release's models
snapshot against the schema the migrations build on a scratch database."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_safemigrate import models_snapshot
from flask_safemigrate.checks.compat import ADVICE, advice
from flask_safemigrate.text import display_path
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import table_names
from tests.support.revisions import write_revision
from tests.support.verify import (
    ITEMS,
    ITEMS_SCRIPT,
    USERS_SCRIPT,
    VerifyApp,
    base_models,
    problems,
    run_verify,
    script,
)

CHANGE = "e5e5e5e5e5e5"

#: One revision with every kind of break the check knows.
BREAKING_SCRIPT = script(
    CHANGE,
    ITEMS,
    """
    op.drop_table("items")
    mood = sa.Enum("happy", "sad", name="mood")
    mood.create(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("age", sa.Integer(), nullable=False))
        batch_op.add_column(sa.Column("nickname", sa.String(40), nullable=False))
        batch_op.add_column(sa.Column("mood", mood, nullable=True))
        batch_op.alter_column(
            "email", existing_type=sa.String(50), type_=sa.String(20), existing_nullable=False
        )
        batch_op.create_unique_constraint("uq_users_nickname", ["nickname"])
    """,
    'raise RuntimeError("one way: the test only upgrades")',
)

#: The expand/contract versions of the same changes: nothing the running release relies on.
SAFE_SCRIPT = script(
    CHANGE,
    ITEMS,
    """
    op.drop_table("items")
    mood = sa.Enum("happy", "sad", "sadder", "glad", name="mood")
    mood.create(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("age", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("nickname", sa.String(40), nullable=False))
        batch_op.add_column(sa.Column("mood", mood, nullable=True))
        batch_op.alter_column(
            "email", existing_type=sa.String(50), type_=sa.String(100), existing_nullable=False
        )
    """,
    'raise RuntimeError("one way: the test only upgrades")',
)


def running_release(metadata: sa.MetaData) -> None:
    """The models of the release running before BREAKING_SCRIPT: it maps items, a legacy
    column the migrations no longer have, a nullable nickname it does not set, three moods."""
    base_models(metadata)
    users = metadata.tables["users"]
    users.append_column(sa.Column("legacy", sa.Integer))
    users.append_column(sa.Column("nickname", sa.String(40)))
    users.append_column(sa.Column("mood", sa.Enum("happy", "sad", "sadder", name="mood")))


def expanded_release(metadata: sa.MetaData) -> None:
    """The release before SAFE_SCRIPT: items and legacy no longer mapped (the contract
    step), nickname always set by a Python default."""
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(50), nullable=False),
        sa.Column("nickname", sa.String(40), default="anon"),
        sa.Column("mood", sa.Enum("happy", "sad", "sadder", name="mood")),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )


def deployed_release(metadata: sa.MetaData) -> None:
    """The release SAFE_SCRIPT is for: it maps what the migrations build (nickname is NOT
    NULL without a server default: models that did not map it could not insert a user,
    ``unmapped-required-column``)."""
    sa.Table(
        "users",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("age", sa.Integer, nullable=False, server_default="0"),
        sa.Column("nickname", sa.String(40), nullable=False),
        sa.Column("mood", sa.Enum("happy", "sad", "sadder", "glad", name="mood")),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )


def snapshot_text(models: Callable[[sa.MetaData], None]) -> str:
    metadata = sa.MetaData()
    models(metadata)
    data = {
        "format": models_snapshot.FORMAT,
        "databases": [{"bind": None, "tables": models_snapshot.describe_metadata(metadata)}],
    }
    return models_snapshot.render(data)


def breaks(data: dict[str, object]) -> set[tuple[str, str, str | None, str]]:
    return {
        (p["change"], p["table"], p["column"], p["severity"])
        for p in problems(data, "breaks-previous-release")  # type: ignore[arg-type]
    }


@pytest.mark.usefixtures("db_kind")
def test_each_break_is_named_with_its_expand_contract_advice(
    verify_app: VerifyApp, database_url: str, tmp_path: Path
) -> None:
    old = tmp_path / "release-1.json"
    old.write_text(snapshot_text(running_release), encoding="utf-8")
    app = verify_app(database_url, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, BREAKING_SCRIPT])
    code, data, _ = run_verify(app, "--no-db", "--compat-with", str(old))
    assert code == 1
    assert breaks(data) == {
        ("table-dropped", "items", None, "error"),
        ("column-dropped", "users", "legacy", "error"),
        ("not-null-added", "users", "age", "error"),
        ("made-not-null", "users", "nickname", "error"),
        ("type-narrowed", "users", "email", "error"),
        ("type-narrowed", "users", "mood", "error"),
        ("unique-added", "users", "nickname", "warning"),
    }
    found = {(p["change"], p["column"]): p for p in problems(data, "breaks-previous-release")}
    for (change, column), problem in found.items():  # each names its place, with its advice
        table = problem["table"]
        where = table if column is None else f"{table}.{column}"
        assert problem["message"].startswith(f"{where}: "), problem
        assert problem["help"] == advice(change, table, column, enum=column == "mood"), problem
    email = found["type-narrowed", "email"]
    assert email["message"] == (
        "users.email: type narrowed: string(50) -> string(20); the previous release"
        f" ({display_path(old)})"
        " fails against the schema the migrations build"
    )
    assert email["help"] == ADVICE["type-narrowed"].format(t="users", c="email")
    # The advice fits the type: the enum clause only for the enum column.
    assert "enum" not in email["help"] and "removed value" not in email["help"]
    assert "stops writing the removed value" in found["type-narrowed", "mood"]["help"]
    assert "release N+2 drops it" in found["column-dropped", "legacy"]["help"]
    assert "sadder" in found["type-narrowed", "mood"]["message"]
    assert data["compat"] == {"with": display_path(old), "ran": True, "findings": 7}
    # The scratch database is gone, the app's own was never touched.
    assert table_names(database_url) == set()


@pytest.mark.usefixtures("db_kind")
def test_the_expand_contract_versions_report_nothing(
    verify_app: VerifyApp, database_url: str, tmp_path: Path
) -> None:
    old = tmp_path / "release-1.json"
    old.write_text(snapshot_text(expanded_release), encoding="utf-8")
    app = verify_app(
        database_url, models=deployed_release, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, SAFE_SCRIPT]
    )
    code, data, result = run_verify(app, "--no-db", "--compat-with", str(old))
    assert (code, problems(data)) == (0, []), result.output
    assert data["compat"]["ran"] is True


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_a_snapshot_from_a_git_ref(verify_app: VerifyApp, tmp_path: Path) -> None:
    app = verify_app(
        f"sqlite:///{tmp_path / 'app.db'}",
        scripts=[USERS_SCRIPT, ITEMS_SCRIPT, BREAKING_SCRIPT],
    )
    migrations = Path(app.extensions["migrate"].directory)
    snapshot = migrations / "models.snapshot.json"
    snapshot.write_text(snapshot_text(running_release), encoding="utf-8")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", str(snapshot))
    git(tmp_path, "commit", "-q", "-m", "release 1")
    git(tmp_path, "tag", "v1")
    invoke_ok(app, "db", "snapshot")  # the working tree has today's models
    code, data, _ = run_verify(app, "--no-db", "--compat-with", "v1")
    assert code == 1
    label = f"v1:{display_path(snapshot)}"
    assert data["compat"]["with"] == label
    assert ("column-dropped", "users", "legacy", "error") in breaks(data)
    assert problems(data, "models-snapshot-stale") == []


@pytest.mark.parametrize(
    ("ref", "says"),
    [
        ("no-such-tag", "not a file, and git cannot read it: "),
        (".", "a directory, not a snapshot file"),
    ],
)
def test_a_bad_ref_or_path_is_one_line_and_exit_2(
    verify_app: VerifyApp, tmp_path: Path, ref: str, says: str
) -> None:
    app = verify_app(f"sqlite:///{tmp_path / 'app.db'}")
    git(tmp_path, "init", "-q")
    result = invoke(app, "db", "verify", "--no-db", "--compat-with", ref)
    assert result.exit_code == 2
    first, *rest = result.stderr.splitlines()
    assert first.startswith(f"Error: --compat-with {ref}: {says}")
    assert all(line.startswith("  help: ") for line in rest)
    assert "Traceback" not in result.output


def test_a_file_that_is_not_a_snapshot_is_exit_2(verify_app: VerifyApp, tmp_path: Path) -> None:
    app = verify_app(f"sqlite:///{tmp_path / 'app.db'}")
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps({"tables": []}), encoding="utf-8")
    result = invoke(app, "db", "verify", "--no-db", "--compat-with", str(bad), "--format", "json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error["message"] == (
        f"--compat-with {bad}: {display_path(bad)} is not a models snapshot (no 'databases' list)"
    )


# --------------------------------------------------------------------- types, checks, renames

PRICES = "f6f6f6f6f6f6"
NARROW = "f7f7f7f7f7f7"

#: ``prices``, the table the next revisions narrow, check, rename (or do the safe way).
PRICES_SCRIPT = script(
    PRICES,
    ITEMS,
    """
    op.create_table(
        "prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(10, 2), nullable=True),
        sa.Column("rate", sa.Numeric(10, 4), nullable=True),
        sa.Column("fee", sa.Numeric(10, 2), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=True),
        sa.Column("qty", sa.Integer(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=True),
        sa.Column("label", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_prices"),
    )
    """,
    'op.drop_table("prices")',
    message="create prices",
)


def prices(metadata: sa.MetaData, *extra: sa.SchemaItem) -> None:
    """The models that match ``PRICES_SCRIPT`` (the release running before NARROW), and
    ``extra`` items."""
    base_models(metadata)
    sa.Table(
        "prices",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("rate", sa.Numeric(10, 4)),
        sa.Column("fee", sa.Numeric(10, 2)),
        sa.Column("total", sa.BigInteger),
        sa.Column("qty", sa.Integer),
        sa.Column("kind", sa.Text),
        sa.Column("label", sa.String(40)),
        *extra,
    )


#: Each narrowing the issue names, a new check, a rename: one revision.
NARROWING_SCRIPT = script(
    NARROW,
    PRICES,
    """
    kind = sa.Enum("retail", "wholesale", name="price_kind")
    kind.create(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("prices") as batch_op:
        batch_op.alter_column(
            "amount", existing_type=sa.Numeric(10, 2), type_=sa.Numeric(6, 2)
        )
        batch_op.alter_column(
            "rate", existing_type=sa.Numeric(10, 4), type_=sa.Numeric(10, 2)
        )
        batch_op.alter_column("fee", existing_type=sa.Numeric(10, 2), type_=sa.Integer())
        batch_op.alter_column("total", existing_type=sa.BigInteger(), type_=sa.Integer())
        batch_op.alter_column("qty", existing_type=sa.Integer(), type_=sa.SmallInteger())
        batch_op.alter_column(
            "kind",
            existing_type=sa.Text(),
            type_=kind,
            postgresql_using="kind::price_kind",
        )
        batch_op.create_check_constraint("ck_prices_qty", "qty >= 0")
        batch_op.alter_column(
            "label", existing_type=sa.String(length=40), new_column_name="title"
        )
    """,
    'raise RuntimeError("one way: the test only upgrades")',
)

#: The expand/contract versions: widen instead of narrow; a new column of the new type (or
#: the new name) beside the old one, backfilled, the old one kept; the check the running
#: release's models already declare.
WIDENING_SCRIPT = script(
    NARROW,
    PRICES,
    """
    kind = sa.Enum("retail", "wholesale", name="price_kind")
    kind.create(op.get_bind(), checkfirst=True)
    with op.batch_alter_table("prices") as batch_op:
        batch_op.alter_column(
            "amount", existing_type=sa.Numeric(10, 2), type_=sa.Numeric(12, 2)
        )
        batch_op.alter_column(
            "rate", existing_type=sa.Numeric(10, 4), type_=sa.Numeric(12, 6)
        )
        batch_op.alter_column("qty", existing_type=sa.Integer(), type_=sa.BigInteger())
        batch_op.add_column(sa.Column("fee_cents", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("kind_code", kind, nullable=True))
        batch_op.add_column(sa.Column("title", sa.String(length=40), nullable=True))
        batch_op.create_check_constraint("ck_prices_qty", "qty >= 0")
    op.execute("UPDATE prices SET title = label, fee_cents = fee * 100")
    for value in ("retail", "wholesale"):  # a literal: PostgreSQL casts it to the enum
        op.execute(f"UPDATE prices SET kind_code = '{value}' WHERE kind = '{value}'")
    """,
    'raise RuntimeError("one way: the test only upgrades")',
)

#: What the scratch schema reads back for ``kind`` made an enum: SQLite has no enum type, and
#: SQLAlchemy declares one there as a VARCHAR as long as the longest value.
KIND_NARROWED = {
    "postgresql": "text -> enum (retail, wholesale)",
    "mysql": "text -> enum (retail, wholesale)",
    "sqlite": "text of any length -> string(9)",
}


@pytest.mark.usefixtures("db_kind")
def test_narrowed_types_a_new_check_and_a_rename_are_named_with_their_advice(
    verify_app: VerifyApp, database_url: str, tmp_path: Path, db_kind: str
) -> None:
    old = tmp_path / "release-1.json"
    old.write_text(snapshot_text(prices), encoding="utf-8")
    app = verify_app(
        database_url, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, PRICES_SCRIPT, NARROWING_SCRIPT]
    )
    code, data, result = run_verify(app, "--no-db", "--compat-with", str(old))
    assert code == 1, result.output
    assert breaks(data) == {
        ("type-narrowed", "prices", "amount", "error"),
        ("type-narrowed", "prices", "rate", "error"),
        ("type-narrowed", "prices", "fee", "error"),
        ("type-narrowed", "prices", "total", "error"),
        ("type-narrowed", "prices", "qty", "error"),
        ("type-narrowed", "prices", "kind", "error"),
        ("check-added", "prices", None, "warning"),
        ("column-renamed", "prices", "label", "error"),
    }
    found = {(p["change"], p["column"]): p for p in problems(data, "breaks-previous-release")}
    narrowed = {
        column: found["type-narrowed", column]["message"].split(";")[0]
        for column in ("amount", "rate", "fee", "total", "qty", "kind")
    }
    kind_label = "mysql" if db_kind == "mariadb" else db_kind
    assert narrowed == {
        "amount": "prices.amount: type narrowed: numeric(10, 2) -> numeric(6, 2)",
        "rate": "prices.rate: type narrowed: numeric(10, 4) -> numeric(10, 2)",
        "fee": "prices.fee: type narrowed: numeric -> integer (the fractions are lost)",
        "total": "prices.total: type narrowed: bigint -> integer",
        "qty": "prices.qty: type narrowed: integer -> smallint",
        "kind": f"prices.kind: type narrowed: {KIND_NARROWED[kind_label]}",
    }
    for column in narrowed:  # numbers, and a string made an enum: no "removed value"
        assert found["type-narrowed", column]["help"] == ADVICE["type-narrowed"].format(
            t="prices", c=column
        )
        assert "enum" not in found["type-narrowed", column]["help"]
    check = found["check-added", None]
    assert check["table"] == "prices"
    assert check["message"].startswith("prices: check (")
    assert "qty" in check["message"] and "may be refused" in check["message"]
    assert check["help"] == ADVICE["check-added"].format(t="prices", c=None)
    # The rename is one break, as at deploy: read from the pending script, not a drop of
    # label and an addition of title.
    renamed = found["column-renamed", "label"]
    assert renamed["renamed_to"] == "title"
    assert renamed["message"].startswith("prices.label: column renamed to title; the previous")
    assert renamed["help"] == ADVICE["column-renamed"].format(t="prices", c="label", n="title")
    assert data["compat"]["findings"] == 8


@pytest.mark.usefixtures("db_kind")
def test_widened_types_a_declared_check_and_an_expanded_rename_report_nothing(
    verify_app: VerifyApp, database_url: str, tmp_path: Path
) -> None:
    old = tmp_path / "release-1.json"
    declared = sa.CheckConstraint("qty >= 0", name="ck_prices_qty")
    old.write_text(snapshot_text(lambda m: prices(m, declared)), encoding="utf-8")
    app = verify_app(
        database_url, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, PRICES_SCRIPT, WIDENING_SCRIPT]
    )
    code, data, result = run_verify(app, "--no-db", "--compat-with", str(old))
    assert (code, problems(data)) == (0, []), result.output
    assert data["compat"] == {"with": display_path(old), "ran": True, "findings": 0}


RENAMED, READDED, PENDING = "f8f8f8f8f8f8", "f9f9f9f9f9f9", "fafafafafafa"


def test_with_a_git_ref_only_the_scripts_after_it_are_read_for_renames(
    verify_app: VerifyApp, tmp_path: Path
) -> None:
    """Release v1 renamed ``label`` to ``title`` and then added a new ``label``; the pending
    script renames ``title`` to ``heading``. Only that rename is the previous release's
    break: the scripts v1 has are not pending, so its own rename is not read again (it would
    make ``label``, a column of its own, read as renamed to ``heading`` too)."""
    rename = script(
        RENAMED, PRICES, 'op.alter_column("prices", "label", new_column_name="title")', None
    )
    readd = script(
        READDED, RENAMED, 'op.add_column("prices", sa.Column("label", sa.String(40)))', None
    )
    app = verify_app(
        f"sqlite:///{tmp_path / 'app.db'}",
        scripts=[USERS_SCRIPT, ITEMS_SCRIPT, PRICES_SCRIPT, rename, readd],
    )
    migrations = Path(app.extensions["migrate"].directory)

    def v1_models(metadata: sa.MetaData) -> None:
        prices(metadata, sa.Column("title", sa.String(40)))

    (migrations / "models.snapshot.json").write_text(snapshot_text(v1_models), encoding="utf-8")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", str(migrations))
    git(tmp_path, "commit", "-q", "-m", "release 1")
    git(tmp_path, "tag", "v1")
    write_revision(
        migrations,
        script(
            PENDING,
            READDED,
            """
            with op.batch_alter_table("prices") as batch_op:
                batch_op.alter_column("title", new_column_name="heading")
            """,
            None,
        ),
    )
    code, data, result = run_verify(app, "--no-db", "--compat-with", "v1")
    assert code == 1, result.output
    (renamed,) = problems(data, "breaks-previous-release")
    assert (renamed["change"], renamed["table"], renamed["column"], renamed["renamed_to"]) == (
        "column-renamed",
        "prices",
        "title",
        "heading",
    )
    assert renamed["message"].startswith("prices.title: column renamed to heading; the previous")


def test_on_sqlite_an_enum_is_read_back_as_a_varchar_that_refuses_nothing(
    verify_app: VerifyApp, tmp_path: Path
) -> None:
    """Why SQLite reports a string made an enum only by its length (KIND_NARROWED): SQLite
    has no enum type, the scratch schema says VARCHAR(longest value), and SQLite enforces
    neither that length nor the values. The length the schema declares is reported; a string
    already that short would not be, and rightly: shown on the database itself, after the
    upgrade the column still takes a value of neither kind, longer than 9 characters."""
    made_enum = script(
        NARROW,
        PRICES,
        """
        with op.batch_alter_table("prices") as batch_op:
            batch_op.alter_column(
                "label",
                existing_type=sa.String(length=40),
                type_=sa.Enum("retail", "wholesale", name="price_kind"),
            )
        """,
        None,
    )
    old = tmp_path / "release-1.json"
    old.write_text(snapshot_text(prices), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = verify_app(url, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, PRICES_SCRIPT, made_enum])
    code, data, _ = run_verify(app, "--no-db", "--compat-with", str(old))
    # VARCHAR(40) -> VARCHAR(9): the length is what SQLite's schema says, and it is reported.
    assert code == 1
    assert breaks(data) == {("type-narrowed", "prices", "label", "error")}
    (problem,) = problems(data, "breaks-previous-release")
    assert "string(40) -> string(9)" in problem["message"]
    invoke_ok(app, "db", "upgrade")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO prices (id, label) VALUES (1, 'neither of the two')"))
            stored = conn.execute(sa.text("SELECT label FROM prices")).scalar_one()
    finally:
        engine.dispose()
    assert stored == "neither of the two"


# ------------------------------------------------------------- columns the database numbers

EVENTS = "f8f8f8f8f8f8"
SEQ = "f9f9f9f9f9f9"

#: ``events``, keyed by a string: the one table where a column the database numbers can be
#: added beside the primary key (MariaDB allows one AUTO_INCREMENT column per table).
EVENTS_SCRIPT = script(
    EVENTS,
    ITEMS,
    """
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("payload", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    """,
    'op.drop_table("events")',
    message="create events",
)

#: A NOT NULL column without a server default that the database fills on every insert, and
#: the unique key MariaDB requires on it: MariaDB AUTO_INCREMENT, a PostgreSQL identity.
NUMBERED_COLUMN = {
    "mysql": "ALTER TABLE events ADD COLUMN seq INTEGER NOT NULL AUTO_INCREMENT UNIQUE",
    "postgresql": "ALTER TABLE events ADD COLUMN seq INTEGER GENERATED BY DEFAULT AS IDENTITY"
    " UNIQUE",
}


def events(metadata: sa.MetaData) -> None:
    """The release before SEQ, and the one deployed with it: neither maps ``seq``."""
    base_models(metadata)
    sa.Table(
        "events",
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("payload", sa.String(200)),
    )


@pytest.mark.parametrize("db_kind", ["postgresql", "mysql"], indirect=True)
def test_a_column_the_database_numbers_breaks_nothing(
    verify_app: VerifyApp, database_url: str, db_kind: str, tmp_path: Path
) -> None:
    """A column added NOT NULL without a server default, but numbered by the database (a
    MariaDB AUTO_INCREMENT that is not the primary key, a PostgreSQL identity), with a unique
    key on it: the running release's inserts, which do not name it, get a new number each.
    Before, MariaDB reported it as an added NOT NULL column (error) and both as a unique key
    that may refuse the running release's rows (warning). Shown on the database itself: the
    running release's insert succeeds after the upgrade."""
    seq = script(
        SEQ, EVENTS, f"op.execute({NUMBERED_COLUMN[db_kind]!r})", 'op.drop_column("events", "seq")'
    )
    old = tmp_path / "release-1.json"
    old.write_text(snapshot_text(events), encoding="utf-8")
    app = verify_app(
        database_url, models=events, scripts=[USERS_SCRIPT, ITEMS_SCRIPT, EVENTS_SCRIPT, seq]
    )
    code, data, result = run_verify(app, "--no-db", "--compat-with", str(old))
    assert (code, problems(data)) == (0, []), result.output
    assert data["compat"] == {"with": display_path(old), "ran": True, "findings": 0}
    invoke_ok(app, "db", "upgrade")
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO events (id, payload) VALUES ('a', 'x'), ('b', 'y')"))
            numbers = conn.execute(sa.text("SELECT seq FROM events ORDER BY id")).scalars().all()
    finally:
        engine.dispose()
    assert len(set(numbers)) == 2 and None not in numbers
