"""A table locked by another session (another replica's running migration) does not hold up
pre-flight's size read: it waits a bounded time, then reads the catalog alone."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from flask_safemigrate import live
from flask_safemigrate.live import sizes
from tests.support.databases import execute, nullpool_engine


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
@pytest.mark.parametrize("analysed", [True, False], ids=["analysed", "never-analysed"])
def test_a_table_under_an_exclusive_lock_is_sized_from_the_catalog(
    database_url: str, analysed: bool
) -> None:
    execute(database_url, "CREATE TABLE widgets (id integer PRIMARY KEY, name text)")
    execute(database_url, "INSERT INTO widgets SELECT g, 'w' FROM generate_series(1, 5000) g")
    if analysed:
        execute(database_url, "ANALYZE widgets", autocommit=True)
    engine = nullpool_engine(database_url)
    holder = engine.connect()
    try:
        # What ALTER TABLE of a running migration holds until it commits.
        holder.exec_driver_sql("LOCK TABLE widgets IN ACCESS EXCLUSIVE MODE")
        with engine.connect() as reader:
            reader.exec_driver_sql("SET statement_timeout = '30s'")  # a regression fails, not hangs
            started = time.monotonic()
            read = live.read_sizes(reader, [(None, "widgets"), (None, "absent")], limit=100)
            waited = time.monotonic() - started
            # The lock timeout is back to the server's default for what follows.
            assert reader.execute(sa.text("SHOW lock_timeout")).scalar_one() == "0"
        assert waited < sizes.PG_SIZE_LOCK_WAIT_MS / 1000 + 5, waited
        widgets = read[(None, "widgets")]
        assert widgets.exists and widgets.size_bytes is None, widgets
        assert widgets.note is not None and "locked by another session" in widgets.note
        if analysed:
            assert widgets.rows == 5000 and widgets.estimated, widgets
        else:
            assert widgets.rows is None, widgets  # never "empty"
            assert "rows unknown" in widgets.describe()
        assert read[(None, "absent")] == live.TableSize(exists=False)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


@pytest.mark.parametrize("db_kind", ["postgresql"], indirect=True)
def test_without_a_lock_the_sizes_are_read_and_the_lock_timeout_restored(
    database_url: str,
) -> None:
    execute(database_url, "CREATE TABLE widgets (id integer PRIMARY KEY, name text)")
    execute(database_url, "INSERT INTO widgets SELECT g, 'w' FROM generate_series(1, 5000) g")
    execute(database_url, "ANALYZE widgets", autocommit=True)
    engine = nullpool_engine(database_url)
    try:
        with engine.connect() as reader:
            reader.exec_driver_sql("SET lock_timeout = '7s'")
            (widgets,) = live.read_sizes(reader, [(None, "widgets")], limit=100).values()
            assert reader.execute(sa.text("SHOW lock_timeout")).scalar_one() == "7s"
        assert widgets.exists and widgets.rows == 5000 and widgets.size_bytes, widgets
        assert widgets.note == "an estimate", widgets
    finally:
        engine.dispose()
