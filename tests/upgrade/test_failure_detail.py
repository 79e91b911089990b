"""A failed revision's report carries the database's detail: which key value was duplicated.

PostgreSQL puts the offending value on a ``DETAIL:`` line after the message's first line
("could not create unique index"); without it the operator at 3 a.m. knows the index but not
the row to fix.
"""

from __future__ import annotations

from tests.support.apps import MakeApp
from tests.support.cli import invoke
from tests.support.databases import DbKind
from tests.upgrade.histories import fail_after_widgets

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
    # the ledger keeps it for the next run's pre-flight too
    result = invoke(app, "db", "safe-upgrade")
    assert result.exit_code == 3, result.output
    assert expected in result.output, result.output
