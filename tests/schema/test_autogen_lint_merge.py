"""``flask db migrate``, ``lint`` and ``auto-merge-heads`` in a project with SAFEMIGRATE_SCHEMA."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from tests.support.cli import invoke, invoke_json, invoke_ok
from tests.support.databases import execute, scalars, tables_by_schema
from tests.support.revisions import write_revision
from tests.support.schema import SCHEMA, declare_models

AppFactory = Callable[..., Flask]


def _migrations(app: Flask) -> Path:
    return Path(app.extensions["migrate"].directory)


def _scripts(app: Flask) -> list[Path]:
    return sorted((_migrations(app) / "versions").glob("*.py"))


def test_autogenerate_renders_the_schema_in_ops_and_guards_and_applies_twice(
    schema_app: AppFactory, database_url: str, tmp_path: Path
) -> None:
    execute(
        database_url, "CREATE TABLE public.stray (id int)", autocommit=True
    )  # not ours: never in a script
    app = schema_app()
    invoke_ok(app, "db", "migrate", "-m", "create users and items")
    (script,) = _scripts(app)
    source = script.read_text(encoding="utf-8")
    assert f"if guards.table_missing('users', schema='{SCHEMA}'):" in source
    assert f"if guards.table_missing('items', schema='{SCHEMA}'):" in source
    assert f"schema='{SCHEMA}'" in source.split("op.create_table('users'", 1)[1].split("\n\n")[0]
    assert f"if guards.table_exists('items', schema='{SCHEMA}'):" in source  # downgrade
    assert "stray" not in source

    invoke_ok(app, "db", "safe-upgrade")
    assert tables_by_schema(database_url)[SCHEMA] >= {"users", "items", "safemigrate_ledger"}
    # Applied a second time over its own tables (the version row gone): the guards converge.
    execute(database_url, f"DELETE FROM {SCHEMA}.alembic_version", autocommit=True)
    invoke_ok(app, "db", "upgrade")
    assert len(scalars(database_url, f"SELECT version_num FROM {SCHEMA}.alembic_version")) == 1
    code, report, _ = invoke_json(app, "db", "verify", "--format", "json")
    assert (code, report["problems"]) == (0, []), report

    # Nothing changed: no file; the ledger in the schema is not offered for dropping.
    nothing = invoke_ok(app, "db", "migrate", "-m", "nothing to see here")
    assert len(_scripts(app)) == 1, nothing.output

    # A new column goes into a batch block on the schema'd table, behind its guard.
    later = schema_app(models=declare_models(SCHEMA, bio=True), migrations=_migrations(app))
    invoke_ok(later, "db", "migrate", "-m", "add the biography")
    (added,) = [path for path in _scripts(later) if path != script]
    text = added.read_text(encoding="utf-8")
    assert f"op.batch_alter_table('users', schema='{SCHEMA}')" in text
    assert f"if guards.column_missing('users', 'biography', schema='{SCHEMA}'):" in text
    invoke_ok(later, "db", "safe-upgrade")
    invoke_ok(later, "db", "downgrade")
    invoke_ok(later, "db", "safe-upgrade")


def test_autogenerate_refuses_model_tables_outside_the_schema(schema_app: AppFactory) -> None:
    app = schema_app(models=declare_models(None))
    result = invoke(app, "db", "migrate", "-m", "create users and items")
    assert result.exit_code == 1
    assert f"model tables outside SAFEMIGRATE_SCHEMA '{SCHEMA}': users, items" in result.output
    assert _scripts(app) == []
    assert "Traceback" not in result.output


def test_lint_missing_schema_uses_the_setting(schema_app: AppFactory) -> None:
    app = schema_app()
    write_revision(
        _migrations(app),
        f"""
        from alembic import op
        import sqlalchemy as sa

        revision = "l1"
        down_revision = None


        def upgrade():
            op.add_column("users", sa.Column("a", sa.Text()))
            op.add_column("users", sa.Column("b", sa.Text()), schema={SCHEMA!r})


        def downgrade():
            op.drop_column("users", "b", schema={SCHEMA!r})
        """,
    )

    result = invoke(
        app, "db", "lint", "--select", "missing-schema", "--fail-on", "warning", "--format", "json"
    )

    assert result.exit_code == 1, result.output
    findings = json.loads(result.stdout)["findings"]
    assert [(f["rule"], f["line"]) for f in findings] == [("missing-schema", 9)]
    assert SCHEMA in findings[0]["message"] or "default schema" in findings[0]["message"]


def _branch(revision: str, table: str, *, column: str = "note") -> str:
    return f"""
        from alembic import op
        import sqlalchemy as sa

        revision = {revision!r}
        down_revision = "a1"


        def upgrade():
            op.add_column({table!r}, sa.Column({column!r}, sa.Text()), schema={SCHEMA!r})


        def downgrade():
            op.drop_column({table!r}, {column!r}, schema={SCHEMA!r})
        """


def test_auto_merge_heads_in_a_schema_project(schema_app: AppFactory, database_url: str) -> None:
    from tests.support.schema import users_revision

    app = schema_app()
    migrations = _migrations(app)
    write_revision(migrations, users_revision())
    invoke_ok(app, "db", "safe-upgrade")
    write_revision(migrations, _branch("b1", "users"))
    write_revision(migrations, _branch("c1", "items"))

    code, report, _ = invoke_json(app, "db", "auto-merge-heads", "--format", "json")

    assert (code, report["ok"], sorted(report["heads"])) == (0, True, ["b1", "c1"]), report
    merge = report["merge_revision"]
    result = invoke_ok(app, "db", "safe-upgrade", "--no-verify")  # the models lack `note`
    assert "Applied 3 revisions" in result.output
    assert scalars(database_url, f"SELECT version_num FROM {SCHEMA}.alembic_version") == [merge]
    assert tables_by_schema(database_url)["public"] == set()


def test_auto_merge_heads_refuses_a_conflict_in_the_schema(schema_app: AppFactory) -> None:
    from tests.support.schema import users_revision

    app = schema_app()
    migrations = _migrations(app)
    write_revision(migrations, users_revision())
    write_revision(migrations, _branch("b1", "users"))
    write_revision(migrations, _branch("c1", "users"))

    code, report, _ = invoke_json(app, "db", "auto-merge-heads", "--format", "json")

    assert (code, report["merge_revision"]) == (1, None)
    assert "users.note" in json.dumps(report["conflicts"])
