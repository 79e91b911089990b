"""What a failure left, as the ledger records it and as MariaDB/MySQL keep it (issue #17)."""

from __future__ import annotations

from flask_safemigrate import ledger
from flask_safemigrate.checks import kept_by_mysql

DDL = "ALTER TABLE widgets ADD COLUMN note TEXT"
DML = "UPDATE widgets SET name = 'x'"
INSERT = "INSERT INTO widgets (id) VALUES (1)"


def test_mariadb_keeps_everything_up_to_its_last_ddl() -> None:
    # a failing data statement: what ran after the last DDL rolls back with the transaction
    assert kept_by_mysql([INSERT, DDL, DML], DML) == [INSERT, DDL]
    assert kept_by_mysql([DML, INSERT], DML) == []
    assert kept_by_mysql([DML], None) == []  # a Python error after data statements only
    # a failing DDL statement committed the transaction before it ran
    assert kept_by_mysql([INSERT], "CREATE UNIQUE INDEX uq ON widgets (name)") == [INSERT]
    assert kept_by_mysql([], DDL) == []


def test_the_ledger_error_says_what_the_failure_left_and_reads_back() -> None:
    nothing = ledger.failure_text("IntegrityError: duplicate", "nothing")
    assert nothing == "IntegrityError: duplicate [left: nothing]"
    assert ledger.left_of(nothing) == "nothing"
    kept = ledger.failure_text("NameError: x", "statements", [DDL, "CREATE  TABLE\n t (id int)"])
    assert kept == f"NameError: x [left: 2 statements: {DDL}; CREATE TABLE t (id int)]"
    assert ledger.left_of(kept) == "statements"
    unknown = ledger.failure_text("connection lost: gone", "unknown")
    assert ledger.left_of(unknown) == "unknown"
    # rows written before the ledger said what was left: unknown, so they still block
    assert ledger.left_of("IntegrityError: duplicate") == "unknown"
    assert ledger.left_of(None) == "unknown"
