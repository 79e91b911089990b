"""The merge revision is a real revision: ``flask db upgrade`` applies it on every database."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.pool import NullPool

from flask_safemigrate import merge
from tests.support.apps import REPO_ROOT, MakeApp
from tests.support.cli import invoke_json, invoke_ok, run_flask
from tests.support.databases import sqlite_url
from tests.support.merge import ROOT, ROOT_UPGRADE, MergeApp, rev, root, run_merge, snapshot

A, B, C, D = "b1b1b1b1b1b1", "c2c2c2c2c2c2", "d3d3d3d3d3d3", "e4e4e4e4e4e4"
MERGED = "m0m0m0m0m0m0"

ADD_NAME = """
op.add_column("users", sa.Column("name", sa.String(length=40), nullable=True))
op.create_index("ix_users_name", "users", ["name"])
"""
DROP_NAME = """
op.drop_index("ix_users_name", table_name="users")
op.drop_column("users", "name")
"""
CREATE_ITEMS = """
op.create_table(
    "items",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("user_id", sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_items_user_id"),
    sa.PrimaryKeyConstraint("id", name="pk_items"),
)
"""
CREATE_TAGS = """
op.create_table(
    "tags",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("id", name="pk_tags"),
)
"""


def schema(url: str) -> dict[str, set[str]]:
    """Table -> column names, and the version table's rows under ``"@version"``."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            out = {
                table: {c["name"] for c in inspector.get_columns(table)}
                for table in inspector.get_table_names()
                if table != "alembic_version"
            }
            out["@version"] = set()
            if inspector.has_table("alembic_version"):  # gone when PostgreSQL rolled back
                rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version")
                out["@version"] = set(rows.scalars())
            return out
    finally:
        engine.dispose()


def test_two_heads_merged_and_applied(database_url: str, merge_app: MergeApp) -> None:
    app, migrations = merge_app(database_url)
    root(migrations)
    rev(migrations, A, ROOT, ADD_NAME, DROP_NAME, labels=["feature"])
    rev(migrations, B, ROOT, CREATE_ITEMS, 'op.drop_table("items")')
    before = snapshot(migrations)

    code, data, _ = run_merge(app)
    assert code == 0
    invoke_ok(app, "db", "upgrade")

    assert schema(database_url) == {
        "users": {"id", "email", "name"},
        "items": {"id", "user_id"},
        "@version": {data["merge_revision"]},
    }
    invoke_ok(app, "db", "downgrade", "base")  # the merge steps back down through both
    assert schema(database_url) == {"@version": set()}
    assert {k: v for k, v in snapshot(migrations).items() if k in before} == before


def test_three_heads_after_an_earlier_merge(database_url: str, merge_app: MergeApp) -> None:
    """The database already sits on one branch when the three heads are merged."""
    app, migrations = merge_app(database_url)
    root(migrations)
    rev(migrations, A, ROOT, ADD_NAME, DROP_NAME)
    rev(migrations, B, ROOT, CREATE_ITEMS, 'op.drop_table("items")')
    rev(migrations, MERGED, (A, B), message="earlier merge")
    rev(migrations, C, MERGED, CREATE_TAGS, 'op.drop_table("tags")')
    rev(migrations, D, MERGED, 'op.add_column("items", sa.Column("qty", sa.Integer()))')
    rev(migrations, "f5f5f5f5f5f5", MERGED, 'op.create_index("ix_users_email", "users", ["email"])')
    invoke_ok(app, "db", "upgrade", C)

    code, data, _ = run_merge(app)
    assert code == 0
    assert data["heads"] == [C, D, "f5f5f5f5f5f5"]
    invoke_ok(app, "db", "upgrade")

    assert schema(database_url) == {
        "users": {"id", "email", "name"},
        "items": {"id", "user_id", "qty"},
        "tags": {"id"},
        "@version": {data["merge_revision"]},
    }


def test_independent_labelled_branches_applied(database_url: str, merge_app: MergeApp) -> None:
    app, migrations = merge_app(database_url)
    root(migrations)
    rev(migrations, A, None, CREATE_TAGS, 'op.drop_table("tags")', labels=["tagging"])
    code, data, _ = run_merge(app, "-m", "join tagging")
    assert code == 0
    invoke_ok(app, "db", "upgrade")
    assert schema(database_url) == {
        "users": {"id", "email"},
        "tags": {"id"},
        "@version": {data["merge_revision"]},
    }


def test_multidb_template(database_url: str, make_app: MakeApp, tmp_path: Path) -> None:
    """Flask-Migrate's multi-database script.py.mako needs the app: it is rendered in one."""
    audit_url = sqlite_url(tmp_path / "audit.db")
    multidb = tmp_path / "multidb"
    app = make_app(
        database_url, migrations=multidb, config={"SQLALCHEMY_BINDS": {"audit": audit_url}}
    )
    with app.app_context():
        flask_migrate.init(str(multidb), multidb=True)

    def script(revision: str, down: str | None, default: str, audit: str = "pass") -> str:
        def indent(body: str) -> str:
            return textwrap.indent(textwrap.dedent(body).strip(), "    ")

        return (
            f'"""step {revision}"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
            f'revision = "{revision}"\ndown_revision = {down!r}\n'
            "branch_labels = None\ndepends_on = None\n\n\n"
            "def upgrade(engine_name):\n"
            '    globals()["upgrade_%s" % engine_name]()\n\n\n'
            "def downgrade(engine_name):\n"
            '    globals()["downgrade_%s" % engine_name]()\n\n\n'
            f"def upgrade_():\n{indent(default)}\n\n\n"
            "def downgrade_():\n    pass\n\n\n"
            f"def upgrade_audit():\n{indent(audit)}\n\n\n"
            "def downgrade_audit():\n    pass\n"
        )

    versions = multidb / "versions"
    (versions / f"{ROOT}_test.py").write_text(script(ROOT, None, ROOT_UPGRADE), encoding="utf-8")
    (versions / f"{A}_test.py").write_text(script(A, ROOT, ADD_NAME), encoding="utf-8")
    (versions / f"{B}_test.py").write_text(
        script(B, ROOT, "pass", audit=CREATE_TAGS), encoding="utf-8"
    )

    code, data, result = run_merge(app)

    assert code == 0, result.output
    text = Path(data["path"]).read_text()
    assert "def upgrade_audit():" in text and "def upgrade_():" in text
    invoke_ok(app, "db", "upgrade")
    assert schema(database_url) == {
        "users": {"id", "email", "name"},
        "@version": {data["merge_revision"]},
    }
    assert schema(audit_url) == {"tags": {"id"}, "@version": {data["merge_revision"]}}


def test_real_flask_binary(database_url: str, tmp_path: Path) -> None:
    """End to end through the ``flask`` executable, with a post-write hook that prints."""
    (tmp_path / "mergeapp.py").write_text(
        textwrap.dedent(
            """
            import os

            from flask import Flask
            from flask_sqlalchemy import SQLAlchemy

            from flask_safemigrate import SafeMigrate

            db = SQLAlchemy()
            app = Flask(__name__)
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
            db.init_app(app)
            SafeMigrate(app, db)
            """
        ),
        encoding="utf-8",
    )
    env = {
        "DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }

    def flask(*args: str) -> tuple[int, str, str]:
        done = run_flask(list(args), app="mergeapp", env=env, cwd=tmp_path)
        return done.returncode, done.stdout, done.stderr

    assert flask("db", "init")[0] == 0
    migrations = tmp_path / "migrations"
    ini = migrations / "alembic.ini"
    ini.write_text(
        ini.read_text() + "\n[post_write_hooks]\nhooks = shout\nshout.type = exec\n"
        "shout.executable = echo\nshout.options = hook-output REVISION_SCRIPT_FILENAME\n",
        encoding="utf-8",
    )
    root(migrations)
    rev(migrations, A, ROOT, ADD_NAME, DROP_NAME)
    rev(migrations, B, ROOT, CREATE_TAGS, 'op.drop_table("tags")')
    rev(migrations, C, ROOT, CREATE_TAGS, 'op.drop_table("tags")')

    code, out, err = flask("db", "auto-merge-heads")
    assert code == 1, out + err
    assert f"branch of head {B}:" in out and f"branch of head {C}:" in out
    assert "Traceback" not in err

    code, out, err = flask("db", "auto-merge-heads", "--force", "--format", "json")
    assert code == 0, out + err
    data = json.loads(out)  # the hook's "hook-output" line went to stderr, not into the JSON
    assert "hook-output" in err
    assert data["heads"] == [A, B, C]
    assert (tmp_path / data["path"]).is_file()  # relative to the working directory
    assert data["path"].startswith("migrations")

    code, out, err = flask("db", "upgrade")
    assert code != 0  # the forced merge really collides: both branches create `tags`
    assert data["merge_revision"] not in schema(database_url)["@version"]
    assert flask("db", "auto-merge-heads", "--check")[0] == 0  # one head now


PRINTING_HOOK = (
    "\n[post_write_hooks]\nhooks = shout\nshout.type = exec\n"
    "shout.executable = echo\nshout.options = hook-output REVISION_SCRIPT_FILENAME\n"
)


def two_heads_and_a_printing_hook(merge_app: MergeApp) -> Flask:
    """Two branches that merge cleanly, and a post-write hook that prints on file descriptor 1."""
    app, migrations = merge_app()
    ini = migrations / "alembic.ini"
    ini.write_text(ini.read_text() + PRINTING_HOOK, encoding="utf-8")
    root(migrations)
    rev(migrations, A, ROOT, ADD_NAME, DROP_NAME)
    rev(migrations, B, ROOT, CREATE_ITEMS, 'op.drop_table("items")')
    return app


def test_safe_upgrade_auto_merge_keeps_hook_output_out_of_the_json(
    merge_app: MergeApp, capfd: pytest.CaptureFixture[str]
) -> None:
    """The command diverts what Alembic and the hook print while its stdout carries JSON."""
    app = two_heads_and_a_printing_hook(merge_app)
    # --no-verify: the app's models are not these tables (drift is not what is tested here).
    args = ("--auto-merge", "--no-verify", "--format", "json")
    code, data, _ = invoke_json(app, "db", "safe-upgrade", *args)
    assert code == 0, data
    assert len(data["applied"]) == 4  # the root, both branches, then the merge revision
    captured = capfd.readouterr()
    assert "hook-output" not in captured.out
    assert "hook-output" in captured.err


def test_merge_heads_leaves_the_callers_stdout_alone(
    merge_app: MergeApp, capfd: pytest.CaptureFixture[str]
) -> None:
    """The library redirects no stream: a program calling it keeps its stdout (the hook's line)."""
    app = two_heads_and_a_printing_hook(merge_app)
    assert merge.merge_heads(app).merged
    assert "hook-output" in capfd.readouterr().out
