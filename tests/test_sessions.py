"""Session labels (issue #13 item 8): what each driver is given, and reading a label back."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from flask_safemigrate import database, sessions


def test_a_label_names_purpose_pid_and_host_and_reads_back() -> None:
    text = sessions.label("migrate")
    assert text.startswith(f"safemigrate migrate pid {os.getpid()} host ")
    assert len(text) <= 63  # PostgreSQL keeps 63 bytes of application_name
    parsed = sessions.parse(f"/* {text} */ UPDATE t SET x = 1")
    assert parsed is not None and parsed.purpose == "migrate" and parsed.is_this_process()
    assert parsed.process_gone() is False
    assert sessions.strip_comment(sessions.comment("migrate") + "SELECT 1") == "SELECT 1"
    assert sessions.parse("psql") is None


@pytest.mark.parametrize(
    ("driver", "keyword"),
    [
        ("psycopg", "application_name"),
        ("psycopg2", "application_name"),
        ("pymysql", "program_name"),
    ],
)
def test_drivers_that_take_a_label_get_it(driver: str, keyword: str) -> None:
    assert sessions.connect_args(driver, "check") == {keyword: sessions.label("check")}


@pytest.mark.parametrize("driver", ["mysqldb", "mariadbconnector", "pysqlite", None])
def test_other_drivers_get_no_keyword_they_would_refuse(driver: str | None) -> None:
    assert sessions.connect_args(driver, "check") == {}


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_the_tools_connections_show_their_label_on_the_server(database_url: str) -> None:
    with database.connect(database_url, timeout=5, retries=0, purpose="lock") as connection:
        name = connection.execute(sa.text("SHOW application_name")).scalar_one()
    assert name == sessions.label("lock")
