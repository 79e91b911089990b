"""safemigrate_fleet: rows per run and target, attempts, the latest outcome; out of autogenerate."""

from __future__ import annotations

from pathlib import Path

from flask_safemigrate.dedicated_schema import IncludeName
from flask_safemigrate.fleet import table
from tests.support.databases import sqlite_url


def test_rows_record_each_attempt_and_the_latest_outcome(tmp_path: Path) -> None:
    engine = table.control_engine(sqlite_url(tmp_path / "control.db"))
    try:
        table.ensure(engine)
        table.ensure(engine)  # a second shard finds it there
        common = {"kind": "schema", "shard": None, "stage": "parallel", "goal": "abc"}
        first = table.start(engine, run_id="run1", target="acme", from_revision="base", **common)
        table.finish(
            engine,
            run_id="run1",
            target="acme",
            status="failed",
            to_revision="base",
            exit_code=4,
            error="boom",
        )
        second = table.start(engine, run_id="run2", target="acme", from_revision="base", **common)
        table.finish(
            engine,
            run_id="run2",
            target="acme",
            status="ok",
            to_revision="abc",
            exit_code=0,
            error=None,
        )
        rows = table.read(engine)
        latest = table.latest(rows)
    finally:
        engine.dispose()
    assert (first, second) == (1, 2)
    assert [(r.run_id, r.status, r.exit_code) for r in rows] == [
        ("run1", "failed", 4),
        ("run2", "ok", 0),
    ]
    assert latest["acme"].status == "ok"
    assert latest["acme"].finished_at is not None


def test_reading_before_any_run_finds_nothing(tmp_path: Path) -> None:
    engine = table.control_engine(sqlite_url(tmp_path / "control.db"))
    try:
        assert table.read(engine) == []
    finally:
        engine.dispose()


def test_the_fleet_table_is_kept_out_of_autogenerate_and_drift() -> None:
    hook = IncludeName(None, None)
    assert hook(table.FLEET_TABLE, "table", {}) is False
    assert hook("items", "table", {}) is True
