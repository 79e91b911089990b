"""What ``flask db migrate`` writes with SafeMigrate: guarded ops, the same ops, dated names,
no file when nothing changed, and an app's own ``process_revision_directives`` composed."""

from __future__ import annotations

import ast
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from flask_safemigrate.lint.index import collect_calls
from tests.autogen import models
from tests.autogen.scenario import Scenario, build_app, generate, migrate, revision_of
from tests.support.apps import AppTracker, init_migrations, sqlalchemy_of
from tests.support.cli import invoke, invoke_ok
from tests.support.databases import DbKind, sqlite_url, table_names

CREATES_AND_DROPS = {
    "create_table",
    "drop_table",
    "add_column",
    "drop_column",
    "create_index",
    "drop_index",
    "create_unique_constraint",
    "create_foreign_key",
    "create_check_constraint",
    "drop_constraint",
}
DATED = re.compile(r"^\d{4}_\d{2}_\d{2}_\d{4}_(?P<rev>[0-9a-f]{12})_(?P<slug>[a-z0-9_]+)\.py$")


@pytest.fixture
def scenario(database_url: str, tmp_path: Path, track_app: AppTracker) -> Scenario:
    return generate(database_url, tmp_path, track_app)


Op = tuple[str, str, str | None, tuple[str, ...]]


def _ops(script: Path) -> list[Op]:
    """(direction, op, table, positional arguments) of every op.*/batch_op.* call, in order."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    return [
        (
            call.direction,
            f"{call.receiver}.{call.name}",
            call.table,
            # The enum type is created on its own line before the table (PostgreSQL).
            tuple(ast.unparse(a).replace(", create_type=False", "") for a in call.node.args),
        )
        for call in collect_calls(tree)
        if call.name != "f"
    ]


def test_every_create_and_drop_sits_behind_one_guard(scenario: Scenario, db_kind: DbKind) -> None:
    for script in (scenario.first, scenario.second):
        source = script.read_text(encoding="utf-8")
        tree = ast.parse(source)
        calls = [c for c in collect_calls(tree) if c.name in CREATES_AND_DROPS]
        assert len(calls) >= 8
        unguarded = [f"{c.direction}:{c.line} {c.name}" for c in calls if not c.guarded]
        assert unguarded == [], f"{script.name}\n{source}"
        # One `if` line per op: each guard holds exactly one statement, in the same block.
        guards_ifs = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "guards." in ast.unparse(node.test)
        ]
        assert all(len(node.body) == 1 and not node.orelse for node in guards_ifs)
        enum_ops = source.count(".create(op.get_bind()") + source.count(".drop(op.get_bind()")
        # PostgreSQL attaches a concurrently built unique index as the constraint, in SQL.
        attaches = source.count("guards.constraint_missing(")
        assert attaches == source.count("UNIQUE USING INDEX")
        assert len(guards_ifs) == len(calls) + enum_ops + attaches
        assert source.count("from flask_safemigrate import guards") == 1
        assert ("Enum(" in source and enum_ops > 0) == (db_kind == "postgresql")


def test_same_ops_in_the_same_order_as_alembic_writes(
    scenario: Scenario, database_url: str, tmp_path: Path, track_app: AppTracker, db_kind: DbKind
) -> None:
    """Against Alembic's own script for the same change (SAFEMIGRATE_IDEMPOTENT = False)."""
    stock_dir = tmp_path / "stock"
    shutil.copytree(scenario.migrations, stock_dir)
    (stock_dir / "versions" / scenario.second.name).unlink()
    stock_app = build_app(
        database_url,
        stock_dir,
        models.v2,
        track_app,
        config={"SAFEMIGRATE_IDEMPOTENT": False},
    )
    stock = migrate(stock_app, stock_dir, "add tags, handles and editors")
    assert "guards" not in stock.read_text(encoding="utf-8")

    ours, theirs = _ops(scenario.second), _ops(stock)
    # No index drop before its table's drop, on any dialect (MySQL refuses it when a foreign
    # key needs the index, also for a script generated on SQLite): the same ops otherwise.
    dropped = {(op[0], op[2]) for op in theirs if op[1] == "op.drop_table"}
    redundant = [
        op for op in theirs if op[1] == "batch_op.drop_index" and (op[0], op[2]) in dropped
    ]
    assert redundant, "the scenario drops a table that has an index"
    theirs = [op for op in theirs if op not in redundant]
    if db_kind == "mysql":
        # Foreign keys on existing tables are added in place, with the checks off around them.
        checks = [o for o in ours if o[1] == "op.execute"]
        assert {o[3] for o in checks} == {
            ("'SET foreign_key_checks = 0'",),
            ("'SET foreign_key_checks = 1'",),
        }
        ours = [o for o in ours if o[1] != "op.execute"]
        # MySQL needs foreign keys dropped before indexes: the same ops otherwise.
        assert Counter(ours) == Counter(theirs)
        assert ours != theirs  # the foreign key drop moved
    elif db_kind == "postgresql":
        # Indexes and unique constraints on existing tables are built concurrently (``op.``
        # in an autocommit block, the constraint attached in SQL): the same objects.
        made = Counter(_online_key(o) for o in ours if o[1] != "op.execute")
        assert made == Counter(_online_key(o) for o in theirs)
    else:
        assert ours == theirs


def _online_key(op: Op) -> tuple[str, ...]:
    """What an op makes or drops, whatever form it takes on PostgreSQL."""
    direction, name, table, args = op
    kind = name.rsplit(".", 1)[-1].replace("create_unique_constraint", "create_index")
    name_arg = args[0].replace("batch_op.f(", "op.f(") if args else ""
    return (direction, kind, str(table), name_arg)


def _recording_hook(calls: list[str]) -> Any:
    def hook(context: MigrationContext, revision: Any, directives: Any) -> None:
        calls.append("called")

    return hook


def test_no_change_writes_no_file_and_the_apps_hook_still_runs(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    calls: list[str] = []
    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, models.v1, track_app, hook=_recording_hook(calls))
    init_migrations(app)
    migrate(app, migrations, "create users and posts")
    invoke_ok(app, "db", "upgrade")
    assert calls == ["called"]

    before = sorted((migrations / "versions").iterdir())
    result = invoke_ok(app, "db", "migrate", "-m", "nothing to see")
    assert sorted((migrations / "versions").iterdir()) == before
    assert "Generating" not in result.output
    assert calls == ["called", "called"]


def test_ops_the_apps_hook_adds_are_written_and_guarded(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    """The app's hook runs first: what it adds to an empty autogenerate keeps the file."""
    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, models.v1, track_app)
    init_migrations(app)
    migrate(app, migrations, "create users and posts")
    invoke_ok(app, "db", "upgrade")

    def v1_with_a_new_check(db: SQLAlchemy) -> None:
        models.v1(db)
        db.metadata.tables["posts"].append_constraint(
            sa.CheckConstraint("length(title) < 150", name="title_short")
        )

    app = build_app(database_url, migrations, v1_with_a_new_check, track_app)
    script = migrate(app, migrations, "limit the length of titles")
    source = script.read_text(encoding="utf-8")
    assert "if guards.check_missing('posts', 'ck_posts_title_short'):" in source
    assert "if guards.check_exists('posts', 'ck_posts_title_short'):" in source
    invoke_ok(app, "db", "upgrade")
    invoke_ok(app, "db", "downgrade")


def test_the_guards_import_only_when_used(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, models.v1, track_app, hook=None)
    init_migrations(app)
    migrate(app, migrations, "create users and posts")
    invoke_ok(app, "db", "upgrade")

    def longer_titles(db: SQLAlchemy) -> None:
        models.v1(db)
        db.metadata.tables["posts"].c.title.type = sa.String(300)

    app = build_app(database_url, migrations, longer_titles, track_app, hook=None)
    source = migrate(app, migrations, "allow longer titles").read_text(encoding="utf-8")
    assert "alter_column('title'" in source
    assert "guards" not in source


def test_setting_idempotent_off_writes_alembics_own_script(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    scenario = generate(database_url, tmp_path, track_app, SAFEMIGRATE_IDEMPOTENT=False)
    for script in (scenario.first, scenario.second):
        source = script.read_text(encoding="utf-8")
        assert "guards" not in source and "if_not_exists" not in source
        assert "op.create_table(" in source or "batch_op.add_column(" in source


def test_new_files_are_dated(scenario: Scenario) -> None:
    for script in (scenario.first, scenario.second):
        match = DATED.match(script.name)
        assert match is not None, script.name
        assert match["rev"] == revision_of(script)
    assert scenario.second.name.endswith("_add_tags_handles_and_editors.py")
    result = invoke(scenario.v2, "db", "lint", "--select", "file-name-convention")
    assert result.exit_code == 0, result.output


def test_a_projects_own_file_template_is_kept(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, models.v1, track_app)
    init_migrations(app)
    ini = migrations / "alembic.ini"
    ini.write_text(
        ini.read_text(encoding="utf-8").replace(
            "# file_template = %%(rev)s_%%(slug)s", "file_template = %%(slug)s_%%(rev)s"
        ),
        encoding="utf-8",
    )
    script = migrate(app, migrations, "create users and posts")
    assert script.name == f"create_users_and_posts_{revision_of(script)}.py"


def test_unnamed_constraints_get_names_and_the_downgrade_can_drop_them(
    database_url: str, tmp_path: Path, track_app: AppTracker, db_kind: DbKind
) -> None:
    """Without a naming convention Alembic writes ``create_unique_constraint(None, ...)`` and a
    downgrade ``drop_constraint(None, ...)`` that always fails; the hook names both alike."""

    def plain(db: SQLAlchemy, *, later: bool = False) -> None:
        sa.Table("users", db.metadata, sa.Column("id", sa.Integer, primary_key=True))
        columns: list[sa.schema.SchemaItem] = [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("code", sa.String(20)),
        ]
        if later:
            columns.append(sa.Column("owner_id", sa.Integer, sa.ForeignKey("users.id")))
        table = sa.Table("items", db.metadata, *columns)
        if later:
            table.append_constraint(sa.UniqueConstraint("code"))

    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, plain, track_app, hook=None)
    init_migrations(app)
    migrate(app, migrations, "create users and items")
    invoke_ok(app, "db", "upgrade")
    app = build_app(
        database_url, migrations, lambda db: plain(db, later=True), track_app, hook=None
    )
    source = migrate(app, migrations, "give items owners and unique codes").read_text(
        encoding="utf-8"
    )
    assert not re.search(r"(constraint|foreign_key)\((batch_op\.f\()?None", source), source
    if db_kind == "postgresql":
        assert "if guards.constraint_missing('items', 'uq_items_code'):" in source
    else:
        assert "if guards.unique_missing('items', 'uq_items_code'):" in source
    assert "if guards.foreign_key_missing('items', 'fk_items_owner_id_users'):" in source
    assert "if guards.unique_exists('items', 'uq_items_code'):" in source
    assert "if guards.foreign_key_exists('items', 'fk_items_owner_id_users'):" in source
    invoke_ok(app, "db", "upgrade")
    invoke_ok(app, "db", "downgrade")
    invoke_ok(app, "db", "upgrade")
    with app.app_context():
        inspector = sa.inspect(sqlalchemy_of(app).engine)
        uniques = {u["name"] for u in inspector.get_unique_constraints("items")}
        keys = {f["name"] for f in inspector.get_foreign_keys("items")}
    assert "uq_items_code" in uniques or db_kind == "sqlite"  # SQLite reflects no name
    assert "fk_items_owner_id_users" in keys or db_kind == "sqlite"


def test_a_migrate_registered_after_safemigrate_still_writes_guards(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    """``Migrate(app, db)`` after SafeMigrate replaces Flask-Migrate's config: the commands
    that write revisions put the hook back before Alembic runs."""
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    db = SQLAlchemy()
    models.v1(db)
    db.init_app(app)
    track_app(app)
    SafeMigrate(app, db, directory=tmp_path / "first")
    later = Migrate(app, db, directory=str(tmp_path / "migrations"))
    migrations = init_migrations(app)
    source = migrate(app, migrations, "create users and posts").read_text(encoding="utf-8")
    assert "if guards.table_missing('users'):" in source
    # Installed on the app's config only: the Migrate object (shared by apps) is untouched.
    assert "process_revision_directives" not in later.alembic_ctx_kwargs


def test_flask_db_check_still_reports_pending_changes(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    """``check`` runs the hook too (without autogenerate's flag): no rewrite, no crash."""
    migrations = tmp_path / "migrations"
    v1 = build_app(database_url, migrations, models.v1, track_app, hook=None)
    init_migrations(v1)
    migrate(v1, migrations, "create users and posts")
    invoke_ok(v1, "db", "upgrade")
    assert "No new upgrade operations detected" in invoke_ok(v1, "db", "check").output
    v2 = build_app(database_url, migrations, models.v2, track_app, hook=None)
    result = invoke(v2, "db", "check")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "New upgrade operations detected" in result.output


def _shop(db: SQLAlchemy) -> None:
    """A new table whose foreign key has its own index (``index=True``)."""
    sa.Table("customers", db.metadata, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "orders",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.ForeignKey("customers.id"), nullable=False, index=True),
    )


def test_a_script_generated_on_sqlite_downgrades_on_every_database(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    """Dev on SQLite, deploy to MariaDB: the downgrade dropped the foreign key's index before
    its table, which MariaDB refuses ("needed in a foreign key constraint")."""
    migrations = tmp_path / "migrations"
    dev = build_app(sqlite_url(tmp_path / "dev.db"), migrations, _shop, track_app)
    init_migrations(dev)
    script = migrate(dev, migrations, "create customers and orders")
    assert "drop_index" not in script.read_text(encoding="utf-8")
    prod = build_app(database_url, migrations, _shop, track_app)
    invoke_ok(prod, "db", "upgrade")
    invoke_ok(prod, "db", "downgrade", "base")
    assert table_names(database_url) <= {"alembic_version"}
    invoke_ok(prod, "db", "upgrade")
    assert {"customers", "orders"} <= table_names(database_url)
