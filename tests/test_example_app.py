"""The example app's migrations on SQLite, PostgreSQL and MariaDB, and the app on top of them."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from flask import Flask

import example_app
from example_app.models import slugify
from flask_safemigrate.console import main
from tests.support.apps import REPO_ROOT, AppTracker, sqlalchemy_of
from tests.support.cli import invoke, invoke_ok, run_flask
from tests.support.databases import engine_for, sqlite_url, table_names

INITIAL, ADD_SLUG, BACKFILL, NOT_NULL = REVISIONS = (
    "eac99d14dc58",
    "9cc6a16d2bc0",
    "7ae4db413f4c",
    "50b556ad4f8b",
)
HEAD = NOT_NULL
APP_TABLES = {"users", "items"}

# Lightweight tables for seeding at a given revision (the models describe head only).
users = sa.table(
    "users",
    sa.column("id", sa.Integer),
    sa.column("username", sa.String),
    sa.column("email", sa.String),
)
items = sa.table(
    "items",
    sa.column("id", sa.Integer),
    sa.column("owner_id", sa.Integer),
    sa.column("title", sa.String),
    sa.column("slug", sa.String),
)


@pytest.fixture
def app(database_url: str, track_app: AppTracker) -> Flask:
    """The example app on this test's fresh database."""
    return track_app(
        example_app.create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    )


def current_revisions(url: str) -> set[str]:
    with engine_for(url) as engine, engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def schema_diffs(app: Flask) -> list[Any]:
    """What autogenerate would change: the database at ``app``'s URL against the models.

    Types are compared everywhere, server defaults too except on MariaDB/MySQL, where Alembic
    reports false differences: ``false`` is reflected as ``'0'`` and ``now()`` as
    ``'current_timestamp()'`` (the insert in the head test checks the defaults work there).
    """
    db = sqlalchemy_of(app)
    with app.app_context(), db.engine.connect() as conn:
        opts = {"compare_type": True, "compare_server_default": conn.dialect.name != "mysql"}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, db.metadata))


def slugs(url: str) -> dict[int, str | None]:
    with engine_for(url) as engine, engine.connect() as conn:
        return {row.id: row.slug for row in conn.execute(sa.select(items.c.id, items.c.slug))}


def backfill_module() -> ModuleType:
    """The data migration's module, loaded by Alembic the way it loads it for an upgrade."""
    script = ScriptDirectory(str(example_app.MIGRATIONS_DIR)).get_revision(BACKFILL)
    assert script is not None
    return script.module


# --------------------------------------------------------------------------- without a database


def test_migrations_folder_is_the_stock_flask_migrate_template() -> None:
    template = Path(flask_migrate.__file__).parent / "templates" / "flask"
    for name in ("env.py", "script.py.mako", "README"):
        assert filecmp.cmp(template / name, example_app.MIGRATIONS_DIR / name, shallow=False), name
    # alembic.ini is rendered from alembic.ini.mako, which has no template variables.
    rendered = (example_app.MIGRATIONS_DIR / "alembic.ini").read_text(encoding="utf-8")
    assert rendered == (template / "alembic.ini.mako").read_text(encoding="utf-8")


def test_revisions_form_one_linear_history() -> None:
    scripts = ScriptDirectory(str(example_app.MIGRATIONS_DIR))
    assert scripts.get_heads() == [HEAD]
    assert scripts.get_bases() == [INITIAL]
    chain = [script.revision for script in scripts.walk_revisions("base", "heads")]
    assert chain == list(reversed(REVISIONS))
    for script in scripts.walk_revisions():
        source = Path(script.path).read_text(encoding="utf-8")
        assert f"Revision ID: {script.revision}\n" in source
        assert f"Revises: {script.down_revision or ''}".rstrip() + "\n" in source
        assert "Create Date: " in source
        assert "from example_app" not in source  # migrations never import the app


def test_migration_slugify_is_a_frozen_copy_of_the_apps() -> None:
    frozen = backfill_module().slugify
    titles = ["Hello, World!", "Café au Lait", "  --  ", "ÆØÅ", "x" * 300, "Ünïcödé 2.0"]
    for title in titles:
        assert frozen(title) == slugify(title)
    assert slugify("Café au Lait!") == "cafe-au-lait"
    assert slugify("!!!") == "item"


def test_migrations_directory_is_absolute_inside_the_package(
    tmp_path: Path, track_app: AppTracker
) -> None:
    app = track_app(
        example_app.create_app({"SQLALCHEMY_DATABASE_URI": sqlite_url(tmp_path / "x.db")})
    )
    directory = Path(app.extensions["migrate"].directory)
    assert directory.is_absolute()
    assert directory == Path(example_app.__file__).parent / "migrations"


def test_database_url_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, track_app: AppTracker
) -> None:
    from_env, from_config = sqlite_url(tmp_path / "env.db"), sqlite_url(tmp_path / "cfg.db")
    monkeypatch.setenv("DATABASE_URL", from_env)
    assert track_app(example_app.create_app()).config["SQLALCHEMY_DATABASE_URI"] == from_env
    app = track_app(example_app.create_app({"SQLALCHEMY_DATABASE_URI": from_config}))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == from_config
    # Without either: a SQLite file in the instance folder.
    instance = tmp_path / "instance"
    assert example_app.default_database_uri(instance) == f"sqlite:///{instance}/example.db"


# --------------------------------------------------------------------------- on every database


def test_upgrade_downgrade_upgrade(app: Flask, database_url: str) -> None:
    invoke_ok(app, "db", "upgrade")
    assert table_names(database_url) == APP_TABLES | {"alembic_version"}
    assert current_revisions(database_url) == {HEAD}
    assert (diffs := schema_diffs(app)) == [], diffs

    invoke_ok(app, "db", "downgrade", "base")
    assert table_names(database_url) <= {"alembic_version"}
    assert current_revisions(database_url) == set()

    invoke_ok(app, "db", "upgrade")
    assert current_revisions(database_url) == {HEAD}
    assert (diffs := schema_diffs(app)) == [], diffs


def test_each_revision_downgrades_to_its_parent(app: Flask, database_url: str) -> None:
    for revision in REVISIONS:
        invoke_ok(app, "db", "upgrade", revision)
        assert current_revisions(database_url) == {revision}
    for parent in [*reversed(REVISIONS[:-1]), "base"]:
        invoke_ok(app, "db", "downgrade")  # one step: the default "-1"
        assert current_revisions(database_url) == (set() if parent == "base" else {parent})
    assert table_names(database_url) <= {"alembic_version"}


def test_schema_at_head_matches_the_models_in_detail(app: Flask, database_url: str) -> None:
    invoke_ok(app, "db", "upgrade")
    with engine_for(database_url) as engine, engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert {ix["name"] for ix in inspector.get_indexes("items")} >= {
            "ix_items_owner_id",
            "ix_items_slug",
        }
        fks = inspector.get_foreign_keys("items")
        assert [(fk["name"], fk["referred_table"]) for fk in fks] == [
            ("fk_items_owner_id_users", "users")
        ]
        uniques = inspector.get_unique_constraints("users")
        assert [(uq["name"], uq["column_names"]) for uq in uniques] == [
            ("uq_users_username", ["username"])
        ]
        slug = {col["name"]: col for col in inspector.get_columns("items")}["slug"]
        assert slug["nullable"] is False

        # Server defaults really work: a row inserted without them reads back False / a time.
        conn.execute(sa.insert(users).values(id=1, username="ann", email="ann@example.com"))
        row = conn.execute(sa.text("SELECT is_admin, created_at FROM users")).one()
        assert row.is_admin in (False, 0)
        assert row.created_at is not None
        conn.rollback()


def test_backfill_transforms_rows_and_is_reversible(app: Flask, database_url: str) -> None:
    invoke_ok(app, "db", "upgrade", ADD_SLUG)
    # Ids with a gap larger than a batch (BATCH_SIZE, 1000): 1001-2000 is a whole range
    # without rows, and 2001 opens the next. The slug set by hand sits in a batch beside one
    # the backfill writes. Each batch_size=2 pass below runs a SELECT per range of two ids:
    # the highest id sets the test's length (4242 took 2,121 per pass, over 20 s on a server).
    titles = {
        1: "Hello, World!",
        2: "Café au Lait",
        3: "!!!",
        2001: "Far away id",
        4: "Already Slugged",
    }
    with engine_for(database_url) as engine, engine.begin() as conn:
        conn.execute(sa.insert(users).values(id=1, username="ann", email="ann@example.com"))
        conn.execute(
            sa.insert(items),
            [{"id": i, "owner_id": 1, "title": t, "slug": None} for i, t in titles.items()],
        )
        conn.execute(sa.update(items).where(items.c.id == 4).values(slug="by-hand"))

    expected = {1: "hello-world", 2: "cafe-au-lait", 3: "item", 2001: "far-away-id"}
    invoke_ok(app, "db", "upgrade", BACKFILL)
    assert slugs(database_url) == {**expected, 4: "by-hand"}

    # Running the migration again (as after a half-applied upgrade) changes nothing.
    invoke_ok(app, "db", "stamp", ADD_SLUG)
    invoke_ok(app, "db", "upgrade", BACKFILL)
    assert slugs(database_url) == {**expected, 4: "by-hand"}
    module = backfill_module()
    with engine_for(database_url) as engine, engine.begin() as conn:
        assert module.backfill_slugs(conn, batch_size=2) == 0

    # The downgrade clears what the backfill wrote and keeps the slug set by hand.
    invoke_ok(app, "db", "downgrade", ADD_SLUG)
    assert slugs(database_url) == {**dict.fromkeys(expected), 4: "by-hand"}
    with engine_for(database_url) as engine, engine.begin() as conn:
        assert module.clear_backfilled_slugs(conn) == 0

    # Small batches (several per id range, empty ranges in between) give the same result.
    with engine_for(database_url) as engine, engine.begin() as conn:
        assert module.backfill_slugs(conn, batch_size=2) == len(expected)
        assert module.backfill_slugs(conn, batch_size=2) == 0
    assert slugs(database_url) == {**expected, 4: "by-hand"}
    with engine_for(database_url) as engine, engine.begin() as conn:
        assert module.clear_backfilled_slugs(conn, batch_size=3) == len(expected)

    invoke_ok(app, "db", "upgrade")
    assert current_revisions(database_url) == {HEAD}
    assert slugs(database_url) == {**expected, 4: "by-hand"}


def test_backfill_on_an_empty_table(app: Flask, database_url: str) -> None:
    invoke_ok(app, "db", "upgrade", ADD_SLUG)
    invoke_ok(app, "db", "upgrade", BACKFILL)
    invoke_ok(app, "db", "downgrade", ADD_SLUG)
    assert slugs(database_url) == {}
    assert current_revisions(database_url) == {ADD_SLUG}


def test_backfill_refuses_offline_mode(app: Flask, database_url: str) -> None:
    schema_sql = invoke_ok(app, "db", "upgrade", "--sql", ADD_SLUG)
    assert "CREATE TABLE users" in schema_sql.output
    data_sql = invoke(app, "db", "upgrade", "--sql", f"{ADD_SLUG}:{BACKFILL}")
    assert data_sql.exit_code == 1
    assert f"revision {BACKFILL} reads rows" in data_sql.output
    assert "offline (--sql) mode" in data_sql.output
    assert table_names(database_url) == set()


def test_the_app_works_at_head(app: Flask) -> None:
    invoke_ok(app, "db", "upgrade")
    client = app.test_client()
    assert client.get("/health").json == {"status": "ok"}
    user = client.post("/users", json={"username": "ann", "email": "ann@example.com"})
    assert user.status_code == 201, user.text
    assert user.json is not None and user.json["is_admin"] is False
    item = client.post("/items", json={"owner_id": user.json["id"], "title": "Café au Lait!"})
    assert item.status_code == 201, item.text
    listed = client.get("/items").json
    assert listed is not None
    assert [(i["slug"], i["is_archived"]) for i in listed["items"]] == [("cafe-au-lait", False)]
    assert client.post("/items", json={"owner_id": 999, "title": "x"}).status_code == 404
    assert client.post("/users", json={"username": "bob"}).status_code == 400


# --------------------------------------------------------------------------- the real `flask`


def test_flask_cli_end_to_end(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": sqlite_url(tmp_path / "e2e.db"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    upgrade = run_flask(["db", "upgrade"], app="example_app", env=env)
    assert upgrade.returncode == 0, upgrade.stderr
    assert f"Running upgrade {BACKFILL} -> {HEAD}" in upgrade.stderr

    # From another working directory: the migrations folder is found inside the package.
    current = run_flask(["db", "current"], app="example_app", env=env, cwd=tmp_path)
    assert current.returncode == 0, current.stderr
    assert f"{HEAD} (head)" in current.stdout
    assert table_names(env["DATABASE_URL"]) == APP_TABLES | {"alembic_version"}
    assert not (tmp_path / "migrations").exists()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_the_example_migrations_lint_clean_at_warning(dialect: str) -> None:
    """Our own example passes our own linter for every dialect it runs on (issue #14): its
    NOT NULL step validates the check in an autocommit block, not in the ADD's transaction,
    and it needs no suppression comment: lint reads its `postgresql = ... == "postgresql"`
    branch per dialect (an unused one would be SM900)."""
    directory = str(example_app.MIGRATIONS_DIR)
    options = ["--fail-on", "warning", "--dialect", dialect, "--report-unused-ignores"]
    result = CliRunner().invoke(main, ["lint", directory, *options])
    assert result.exit_code == 0, result.output
    select = ["--select", "validate-in-same-transaction,set-not-null", "--dialect", dialect]
    again = CliRunner().invoke(main, ["lint", directory, "--fail-on", "info", *select])
    assert again.exit_code == 0, again.output
