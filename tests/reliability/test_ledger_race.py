"""Replicas racing on a first run: the ledger is created while another replica reads it.

Issue 13, item 15: on MariaDB a replica whose pre-flight transaction already read the version
table fails reading ``safemigrate_ledger`` when the lock holder creates it just then: error
1412 ("Table definition has changed, please retry transaction", or 1684 while the DDL is in
flight). It was reported as a privileges problem, exit 3, and failed a deploy of sixteen
replicas now and then (``test_concurrency16.py[mysql-half-migrated]``).

Here the race is made to happen every time, with real DDL at the exact moment: the ledger is
created from another connection just as the pre-flight looks for it. The product reads again
in a fresh transaction; the run goes through and the ledger holds each revision once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from flask_safemigrate import database, ledger
from tests.support.apps import MakeApp
from tests.support.cli import invoke_json, invoke_ok
from tests.support.databases import DbKind, nullpool_engine
from tests.support.timing import TIMING
from tests.upgrade.histories import REVISIONS, ledger_rows, models, prepare

pytestmark = TIMING


@contextmanager
def ledger_created_when_first_looked_for(url: str) -> Iterator[list[str]]:
    """Create the ledger from another connection the moment a reader first looks for it.

    That reader's transaction has already read the version table (its snapshot predates
    the ledger); the looking is ``DESCRIBE`` on MariaDB, a catalog query elsewhere.
    """
    fired: list[str] = []
    other = nullpool_engine(url)

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if fired or ledger.LEDGER_TABLE not in statement + str(_args[0] if _args else ""):
            return
        fired.append(statement)
        with other.begin() as conn:
            ledger.create(conn)

    event.listen(sa.engine.Engine, "before_cursor_execute", before)
    try:
        yield fired
    finally:
        event.remove(sa.engine.Engine, "before_cursor_execute", before)
        other.dispose()


def test_a_ledger_created_during_preflight_is_read_again_not_blamed_on_privileges(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app)
    invoke_ok(app, "db", "upgrade", REVISIONS[1])  # half-migrated by plain Flask-Migrate: no ledger
    with ledger_created_when_first_looked_for(database_url) as fired:
        code, data, result = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    assert fired, "the race was not staged: nothing looked for the ledger"
    assert "privilege" not in result.output
    assert code == 0, result.output
    assert [step["revision"] for step in data["applied"]] == list(REVISIONS[2:])
    rows = ledger_rows(database_url)
    assert sorted(r["revision"] for r in rows if r["success"]) == sorted(REVISIONS[2:])


@pytest.mark.parametrize("db_kind", [pytest.param("mysql", marks=pytest.mark.mysql)], indirect=True)
def test_transient_ddl_errors_are_retried_in_a_fresh_transaction(
    db_kind: DbKind, database_url: str
) -> None:
    """The real MariaDB error 1412 on the first attempt; the second attempt reads the table."""
    engine = nullpool_engine(database_url)
    attempts: list[int] = []
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE seen (x INT)"))

        def read() -> list[Any]:
            attempts.append(len(attempts) + 1)
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT * FROM seen")).all()  # the snapshot starts here
                if len(attempts) == 1:
                    with engine.begin() as other:
                        other.execute(sa.text("CREATE TABLE late (id INT PRIMARY KEY)"))
                        other.execute(sa.text("CREATE INDEX ix_late ON late (id)"))
                return list(conn.execute(sa.text("SELECT * FROM late")).all())

        assert database.retry_transient(read, sleep=lambda _: None) == []
        assert attempts == [1, 2]

        def always_fails() -> None:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT * FROM no_such_table"))

        with pytest.raises(sa.exc.ProgrammingError):  # not transient: not retried
            database.retry_transient(always_fails, sleep=lambda _: None)
    finally:
        engine.dispose()
