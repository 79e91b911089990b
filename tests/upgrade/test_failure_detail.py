"""A failed revision's report carries the database's detail: which key value was duplicated.

PostgreSQL puts the offending value on a ``DETAIL:`` line after the message's first line
("could not create unique index"); without it the operator at 3 a.m. knows the index but not
the row to fix.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.apps import MakeApp
from tests.support.cli import invoke
from tests.support.databases import DbKind, engine_for
from tests.support.revisions import revision_script, write_revision
from tests.upgrade.histories import REVISIONS, fail_after_widgets, models, prepare

UNIQUE_REV = "f7000000uni7"

UPGRADE = """
op.execute(sa.text("INSERT INTO widgets (id, name) VALUES (1, 'dup-name'), (2, 'dup-name')"))
op.create_index('uq_widgets_name', 'widgets', ['name'], unique=True)
"""


def test_a_duplicate_key_failure_names_the_duplicated_value(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    app, problem = fail_after_widgets(make_app, database_url, UNIQUE_REV, UPGRADE)
    expected = "widgets.name" if db_kind == "sqlite" else "dup-name"
    assert expected in problem["error"], problem["error"]
    assert expected in problem["message"], problem["message"]
    assert "\n" not in problem["message"]
    # MariaDB committed the INSERT before the failing CREATE INDEX: the ledger keeps the
    # failure for the next run's pre-flight. Elsewhere nothing was left: the next run tries
    # again (and fails the same way while the data is unchanged).
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == (3 if db_kind == "mysql" else 4), result.output
    assert expected in result.output, result.output


CONCURRENT_REV = "f8000000con8"

CONCURRENT = """
op.execute(sa.text("INSERT INTO widgets (id, name) VALUES (1, 'dup-name'), (2, 'dup-name')"))
with op.get_context().autocommit_block():
    op.create_index(
        'uq_widgets_name', 'widgets', ['name'], unique=True, postgresql_concurrently=True
    )
"""


def test_a_failed_concurrent_index_is_named_as_left_invalid(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """PostgreSQL keeps the index of a failed ``CREATE INDEX CONCURRENTLY``, marked INVALID:
    the guard ``flask db migrate`` writes would skip it on the next run, so it must be dropped."""
    _, problem = fail_after_widgets(make_app, database_url, CONCURRENT_REV, CONCURRENT)
    with engine_for(database_url) as engine, engine.connect() as conn:
        names = {i["name"] for i in sa.inspect(conn).get_indexes("widgets")}
    if db_kind == "postgresql":
        assert "uq_widgets_name" in names  # the server kept it, INVALID
        assert "INVALID" in problem["message"], problem["message"]
        assert "DROP INDEX CONCURRENTLY uq_widgets_name" in problem["help"], problem["help"]
    else:
        assert "uq_widgets_name" not in names
        assert "INVALID" not in problem["message"]
        assert "DROP INDEX" not in problem["help"]


TEXT_REV = "f9000000txt9"


def _line_of(path: str, text: str) -> int:
    lines = Path(path).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_the_text_report_has_the_statement_the_detail_and_the_ops_line(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    """What the JSON has, the text shows too: the statement, the database's whole message
    (PostgreSQL's DETAIL), and ``where:`` at the failing op, not at ``revision =``."""
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    migrations = prepare(app, count=1)
    path = write_revision(migrations, revision_script(TEXT_REV, REVISIONS[0], UPGRADE))
    result = invoke(app, "db", "safe-upgrade", "--skip-lint")
    assert result.exit_code == 4, result.output
    out = result.stdout
    op_line = _line_of(str(path), "op.create_index")
    assert re.search(rf"^  where: \S*{TEXT_REV}_test\.py:{op_line}$", out, re.MULTILINE), out
    assert "  statement: CREATE UNIQUE INDEX uq_widgets_name ON widgets (name)" in out, out
    if db_kind == "postgresql":
        assert "Key (name)=(dup-name) is duplicated" in out, out
    elif db_kind == "mysql":
        assert "Duplicate entry 'dup-name'" in out and "(error 1062)" in out, out
        assert "(1062, " not in out, out  # not the driver's raw tuple
    else:
        assert "UNIQUE constraint failed: widgets.name" in out, out


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_postgresqls_hint_is_in_the_report(make_app: MakeApp, database_url: str) -> None:
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    migrations = prepare(app, count=1)
    write_revision(
        migrations,
        revision_script(TEXT_REV, REVISIONS[0], 'op.execute(sa.text("SELECT no_such_fn(1)"))'),
    )
    result = invoke(app, "db", "safe-upgrade", "--skip-lint")
    assert result.exit_code == 4, result.output
    assert "function no_such_fn(integer) does not exist; HINT: No function matches" in (
        result.stdout
    ), result.stdout
