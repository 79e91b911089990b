"""What ``flask db migrate`` writes for a changed column on MariaDB carries ``existing_type``.

Alembic's MySQL implementation refuses an ``alter_column`` that restates the column without
its type (lint's SM323); autogenerate passes ``existing_type`` (and ``existing_nullable``,
``existing_server_default``) on every ``alter_column`` it writes, and the SafeMigrate hook
leaves those ops as Alembic made them. This pins that down where it matters.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate.lint.engine import LintConfig, lint
from flask_safemigrate.lint.index import collect_calls
from tests.autogen.scenario import build_app, migrate
from tests.support.apps import AppTracker, init_migrations
from tests.support.cli import invoke_json, invoke_ok
from tests.support.databases import engine_for


def _widgets(length: int, nullable: bool, comment: str | None) -> Callable[[SQLAlchemy], None]:
    def declare(db: SQLAlchemy) -> None:
        sa.Table(
            "widgets",
            db.metadata,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column(
                "name",
                sa.String(length=length),
                nullable=nullable,
                server_default="unnamed",
                comment=comment,
            ),
        )

    return declare


@pytest.mark.mysql
@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
def test_a_changed_column_is_written_with_its_existing_type(
    database_url: str, tmp_path: Path, track_app: AppTracker
) -> None:
    migrations = tmp_path / "migrations"
    v1 = build_app(database_url, migrations, _widgets(50, True, None), track_app, hook=None)
    init_migrations(v1)
    migrate(v1, migrations, "create widgets")
    invoke_ok(v1, "db", "upgrade")

    # Nullability and comment alone: each a MODIFY COLUMN that needs the type.
    v2 = build_app(database_url, migrations, _widgets(50, False, "shown"), track_app, hook=None)
    script = migrate(v2, migrations, "require widget names")
    alters = [
        c
        for c in collect_calls(ast.parse(script.read_text(encoding="utf-8")))
        if c.name == "alter_column"
    ]
    assert {c.direction for c in alters} == {"upgrade", "downgrade"}
    for call in alters:
        assert ast.unparse(call.param("existing_type") or ast.Constant(None)) == (
            "mysql.VARCHAR(length=50)"
        ), ast.unparse(call.node)
        assert call.has_keyword("existing_server_default"), ast.unparse(call.node)

    report = lint(
        [script], LintConfig(select=("mysql-alter-without-existing-type",), dialect="mysql")
    )
    assert report.findings == []
    code, data, _ = invoke_json(v2, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data
    with engine_for(database_url) as engine:
        (name,) = [c for c in sa.inspect(engine).get_columns("widgets") if c["name"] == "name"]
    assert name["nullable"] is False and name["comment"] == "shown"
    assert "unnamed" in str(name["default"])  # the default survived MODIFY
