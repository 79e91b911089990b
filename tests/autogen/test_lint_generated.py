"""Generated scripts lint clean: guards are recognised, nothing the rendering adds is flagged.

The initial migration has no finding at all. The change migration is flagged only for what
the change itself decides (dropping two columns, SM102) and, on MySQL, for the check
constraint the app's hook adds to an existing table (SM208), which MySQL can only add by
copying the table: never for how the hook writes it (the foreign key added to posts goes in
place, with the checks off after an orphan check), and nothing in the generated downgrade,
which restores the previous schema.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

import example_app.models  # registers the tables on example_app.db
from tests.autogen.scenario import Scenario, build_app, generate, migrate
from tests.support.apps import AppTracker, init_migrations
from tests.support.cli import invoke
from tests.support.databases import DbKind


@pytest.fixture
def scenario(database_url: str, tmp_path: Path, track_app: AppTracker) -> Scenario:
    return generate(database_url, tmp_path, track_app)


def lint(scenario: Scenario, db_kind: DbKind, script: Path) -> tuple[int, dict[str, object]]:
    result = invoke(
        scenario.v2, "db", "lint", "--format", "json", "--fail-on", "info",
        "--dialect", db_kind, str(script),
    )  # fmt: skip
    return result.exit_code, json.loads(result.stdout)


def test_the_initial_migration_has_no_finding(scenario: Scenario, db_kind: DbKind) -> None:
    code, report = lint(scenario, db_kind, scenario.first)
    assert (code, report["findings"]) == (0, [])


def test_the_change_is_flagged_only_for_what_it_does(scenario: Scenario, db_kind: DbKind) -> None:
    _, report = lint(scenario, db_kind, scenario.second)
    findings = report["findings"]
    assert isinstance(findings, list)
    found = sorted((f["code"], f["message"].split(",")[0]) for f in findings)
    expected = [
        ("SM102", "drops column posts.reviewer_id"),
        ("SM102", "drops column users.name"),
    ]
    if db_kind == "mysql":
        expected.append(
            (
                "SM208",
                "adds check constraint ck_users_handle_long_enough on users"
                " and validates it at once",
            )
        )
    assert found == sorted(expected), findings
    assert not any(f["message"].startswith("in downgrade()") for f in findings)


def test_the_example_apps_generated_migration_lints_clean_at_warning(
    database_url: str, tmp_path: Path, track_app: AppTracker, db_kind: DbKind
) -> None:
    """What `flask db migrate` writes for the example app's models, from an empty database,
    has no finding at warning or above for its dialect (issue #14's acceptance line); the
    example's own committed migrations are checked in tests/test_example_app.py."""

    def example_models(db: SQLAlchemy) -> None:
        db.metadata.naming_convention = dict(example_app.NAMING_CONVENTION)
        for table in example_app.db.metadata.tables.values():
            table.to_metadata(db.metadata)

    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, example_models, track_app, hook=None)
    init_migrations(app)
    script = migrate(app, migrations, "create the example app's tables")
    assert "op.create_table(" in script.read_text(encoding="utf-8")
    result = invoke(
        app, "db", "lint", "--format", "json", "--fail-on", "warning",
        "--dialect", db_kind, str(script),
    )  # fmt: skip
    findings = json.loads(result.stdout)["findings"]
    assert result.exit_code == 0, findings
    assert [f for f in findings if f["severity"] != "info"] == [], findings


def test_flask_sqlalchemys_default_table_names_lint_clean_at_warning(
    database_url: str, tmp_path: Path, track_app: AppTracker, db_kind: DbKind
) -> None:
    """A newcomer's models without `__tablename__` get Flask-SQLAlchemy's names (`user`,
    `blog_post`): `flask db lint` does not call them singular (the app's convention); a model
    added that way among plural tables is (`tag` next to `users` and `orders`)."""

    def default_named(db: SQLAlchemy) -> None:
        class User(db.Model):  # type: ignore[name-defined]
            id = db.Column(db.Integer, primary_key=True)

        class BlogPost(db.Model):  # type: ignore[name-defined]
            id = db.Column(db.Integer, primary_key=True)
            title = db.Column(db.String(200), nullable=False)

    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, default_named, track_app)
    init_migrations(app)
    script = migrate(app, migrations, "create the newcomer's tables")
    text = script.read_text(encoding="utf-8")
    assert "op.create_table('user'," in text and "op.create_table('blog_post'," in text
    result = invoke(
        app, "db", "lint", "--format", "json", "--fail-on", "warning",
        "--dialect", db_kind, str(script),
    )  # fmt: skip
    findings = json.loads(result.stdout)["findings"]
    assert result.exit_code == 0, findings
    assert [f for f in findings if f["severity"] != "info"] == [], findings


def test_a_default_named_model_among_plural_tables_is_flagged(
    database_url: str, tmp_path: Path, track_app: AppTracker, db_kind: DbKind
) -> None:
    def mostly_plural(db: SQLAlchemy) -> None:
        for name in ("users", "orders"):
            sa.Table(name, db.metadata, sa.Column("id", sa.Integer, primary_key=True))

        class Tag(db.Model):  # type: ignore[name-defined]
            id = db.Column(db.Integer, primary_key=True)

    migrations = tmp_path / "migrations"
    app = build_app(database_url, migrations, mostly_plural, track_app)
    init_migrations(app)
    script = migrate(app, migrations, "create the shop's tables")
    result = invoke(
        app, "db", "lint", "--format", "json", "--select", "singular-table-name",
        "--dialect", db_kind, str(script),
    )  # fmt: skip
    findings = json.loads(result.stdout)["findings"]
    assert [(f["code"], f["severity"], f["message"]) for f in findings] == [
        (
            "SM401",
            "warning",
            "creates tag, a singular name; most of the app's tables are named in the plural"
            " (`tags`)",
        )
    ]
