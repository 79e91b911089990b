"""Fault injection: hostile revision ids and branch labels (issue #13, item 2).

Alembic writes revision ids into its version-table SQL as quoted literals, refuses ``@ - + :``
only when it loads a script, and cannot store an id longer than the version column. Each test
puts one such id into the history of a database already at ``b2`` and runs the real commands:
safe-upgrade must stop in pre-flight (exit 3) naming the file and line, verify must fail the
``invalid-revision-id`` check (exit 1), and the database (every table, every row, the version
row and the ledger) must be exactly as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.apps import MakeApp
from tests.support.cli import invoke, invoke_json
from tests.support.databases import DbKind, nullpool_engine
from tests.support.revisions import write_revision
from tests.upgrade.histories import REVISIONS, TABLES, ledger_rows, models, prepare

A1, B2 = REVISIONS[0], REVISIONS[1]

QUOTE_ID = "c3'; DROP TABLE widgets; UPDATE alembic_version SET version_num='c3"
LONG_ID = "c3" + "x" * 38  # 40 characters: the stock version column holds 32
DASH_ID = "c3-hotfix"  # Alembic refuses '-' only when it loads the script


def hostile_source(revision: str, *, labels: str = "None") -> str:
    """A revision on top of b2 that creates ``parts``; its id is ``revision``."""
    return (
        f'"""hostile\n"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f"revision = {revision!r}\n"
        f"down_revision = {B2!r}\n"
        f"branch_labels = {labels}\n"
        "depends_on = None\n\n\n"
        "def upgrade():\n"
        "    op.create_table('parts', sa.Column('id', sa.Integer(), primary_key=True))\n\n\n"
        "def downgrade():\n"
        "    op.drop_table('parts')\n"
    )


def state_of(url: str) -> dict[str, Any]:
    """Every table with its rows, the version rows and the ledger: what must not change."""
    engine = nullpool_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            tables = {}
            for name in sorted(inspector.get_table_names()):
                if name == "safemigrate_ledger":
                    continue
                rows = conn.execute(sa.text(f"SELECT * FROM {name}")).all()
                tables[name] = sorted(tuple(str(v) for v in row) for row in rows)
    finally:
        engine.dispose()
    return {"tables": tables, "ledger": ledger_rows(url)}


@pytest.fixture
def deployed(make_app: MakeApp, database_url: str) -> tuple[Any, Path, str]:
    """An app whose database is at b2 (widgets and gadgets created), with two rows seeded."""
    app = make_app(database_url, models=models(TABLES[:2]))
    migrations = prepare(app, count=2)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 0, data
    engine = nullpool_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO widgets (id, name) VALUES (1, 'alpha'), (2, 'beta')"))
    engine.dispose()
    return app, migrations, database_url


def assert_refused(app: Any, path: Path, url: str, before: dict[str, Any]) -> None:
    """safe-upgrade (plain and --dry-run) exits 3 naming the file; verify exits 1; no change."""
    for extra in ((), ("--dry-run",)):
        code, data, _ = invoke_json(app, "db", "safe-upgrade", *extra, "--format", "json")
        assert code == 3, data
        assert data["stage"] == "preflight"
        assert data["applied"] == []
        problems = [p for p in data["problems"] if p["check"] == "invalid-revision-id"]
        assert problems, data["problems"]
        assert all(p["path"].endswith(path.name) and p["line"] for p in problems)
    code, data, _ = invoke_json(app, "db", "verify", "--format", "json")
    assert code == 1
    assert "invalid-revision-id" in {p["check"] for p in data["problems"]}
    text = invoke(app, "db", "safe-upgrade")
    assert text.exit_code == 3
    assert "Traceback" not in text.output
    assert f"{path.name}, line " in text.output
    assert state_of(url) == before


def test_quote_in_id_changes_nothing(deployed: tuple[Any, Path, str]) -> None:
    app, migrations, url = deployed
    path = write_revision(migrations, hostile_source(QUOTE_ID), filename="c3_hostile.py")
    before = state_of(url)
    assert before["tables"]["alembic_version"] == [(B2,)]
    assert_refused(app, path, url, before)
    assert "widgets" in state_of(url)["tables"]


def test_dash_id_refused_before_applying(deployed: tuple[Any, Path, str]) -> None:
    app, migrations, url = deployed
    path = write_revision(migrations, hostile_source(DASH_ID), filename="c3_dash.py")
    before = state_of(url)
    assert_refused(app, path, url, before)
    code, data, _ = invoke_json(app, "db", "verify", "--no-db", "--format", "json")
    assert code == 1
    [problem] = [p for p in data["problems"] if p["check"] == "invalid-revision-id"]
    assert "'-'" in problem["message"] and problem["line"] == 6
    # nothing recorded against b2, the revision Alembic's error would have blamed
    assert not [row for row in state_of(url)["ledger"] if not row["success"]]


def test_overlong_id_refused_before_applying(deployed: tuple[Any, Path, str]) -> None:
    app, migrations, url = deployed
    path = write_revision(migrations, hostile_source(LONG_ID), filename="c3_long.py")
    before = state_of(url)
    assert_refused(app, path, url, before)
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert code == 3
    [problem] = data["problems"]
    assert problem["width"] == 32 and "40 characters" in problem["message"]


@pytest.mark.parametrize(
    "db_kind",
    [
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ],
    indirect=True,
)
def test_overlong_id_fits_a_widened_column(
    deployed: tuple[Any, Path, str], db_kind: DbKind
) -> None:
    """The width is read from the database: a column widened to 64 takes the 40-character id."""
    app, migrations, url = deployed
    write_revision(migrations, hostile_source(LONG_ID), filename="c3_long.py")
    alter = {
        "postgresql": "ALTER TABLE alembic_version ALTER COLUMN version_num TYPE VARCHAR(64)",
        "mysql": "ALTER TABLE alembic_version MODIFY version_num VARCHAR(64) NOT NULL",
    }[db_kind]
    engine = nullpool_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(alter))
    engine.dispose()
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--no-verify", "--format", "json")
    assert code == 0, data["problems"]
    assert state_of(url)["tables"]["alembic_version"] == [(LONG_ID,)]


@pytest.mark.parametrize(
    "labels",
    [
        '("x\\"\\"\\"\\nimport os\\nos.system(\'id\')\\n\\"\\"\\"",)',
        "('feature@head',)",
        "('release-2',)",
        "('white space',)",
    ],
)
@pytest.mark.parametrize(
    "db_kind", [pytest.param("sqlite", marks=pytest.mark.sqlite)], indirect=True
)
def test_hostile_branch_label_refused(deployed: tuple[Any, Path, str], labels: str) -> None:
    """Labels never reach SQL but do reach generated merge files and `label@head` parsing."""
    app, migrations, url = deployed
    path = write_revision(
        migrations, hostile_source("c3label", labels=labels), filename="c3_label.py"
    )
    before = state_of(url)
    assert_refused(app, path, url, before)


@pytest.mark.parametrize(
    "db_kind", [pytest.param("sqlite", marks=pytest.mark.sqlite)], indirect=True
)
def test_overlong_id_is_a_warning_without_the_database(deployed: tuple[Any, Path, str]) -> None:
    """--no-db cannot read the column's width: the stock 32 is a warning, not a failure."""
    app, migrations, _ = deployed
    write_revision(migrations, hostile_source(LONG_ID), filename="c3_long.py")
    code, data, _ = invoke_json(app, "db", "verify", "--no-db", "--format", "json")
    [problem] = [p for p in data["problems"] if p["check"] == "invalid-revision-id"]
    assert problem["severity"] == "warning" and "--no-db" in problem["message"]
    assert code == 0
