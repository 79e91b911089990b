"""What safe-upgrade remembers in the user's cache between runs (issue #16, speed): a drift
check that found nothing (``schema_fingerprint``) and lint results (``lint.cache``).

Remembering may only ever save time: every change the drift check would see (the database
changed by hand, the models changed) is still reported on the next run, on every database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate.checks import drift_findings
from flask_safemigrate.lint.cache import FILE_GLOB as LINT_CACHE
from flask_safemigrate.project import setup_of
from flask_safemigrate.schema_fingerprint import CLEAN_FILE, Models, fingerprint, remember_clean
from tests.support.apps import MakeApp
from tests.support.cli import invoke_json
from tests.support.databases import nullpool_engine
from tests.upgrade.histories import TABLES, models, prepare

NO_BACKUP = {"SAFEMIGRATE_BACKUP": False}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own ``XDG_CACHE_HOME``: what it remembers, and nothing of other tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "flask-safemigrate"


def upgrade_json(app: Any) -> tuple[int, dict[str, Any]]:
    code, data, _ = invoke_json(app, "db", "safe-upgrade", "--format", "json")
    return code, data


def drift_of(data: dict[str, Any]) -> list[str]:
    return [p["message"] for p in data["problems"] if p["check"] == "schema-drift"]


def wider_names(db: SQLAlchemy) -> None:
    """The history's tables, with ``widgets.name`` wider than the history makes it."""
    models()(db)
    db.metadata.remove(db.metadata.tables["widgets"])
    sa.Table(
        "widgets",
        db.metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_widgets"),
    )


def test_a_clean_run_is_remembered_and_a_hand_made_change_still_reported(
    make_app: MakeApp, database_url: str, db_kind: str, tmp_path: Path, cache: Path
) -> None:
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    code, data = upgrade_json(app)
    assert code == 0, data
    assert len(list(cache.glob(LINT_CACHE))) == 1
    # MariaDB has no fingerprint: its drift check runs every time, nothing to remember
    assert (cache / CLEAN_FILE).is_file() is (db_kind != "mysql")
    assert not (tmp_path / "instance").exists()  # nothing under the project
    code, data = upgrade_json(app)  # a no-op, answered from the memory where there is one
    assert code == 0, data
    engine = nullpool_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE gadgets ADD COLUMN colour VARCHAR(20)")
    finally:
        engine.dispose()
    code, data = upgrade_json(app)
    assert code == 1, data
    assert any("colour" in message for message in drift_of(data)), data


def test_changed_models_are_compared_again(
    make_app: MakeApp, database_url: str, tmp_path: Path
) -> None:
    """Same database, same cache, other models: a new table, then a wider column."""
    app = make_app(database_url, models=models(), config=NO_BACKUP)
    migrations = prepare(app)
    code, data = upgrade_json(app)
    assert code == 0, data
    code, data = upgrade_json(app)
    assert code == 0, data
    more = make_app(
        database_url, migrations=migrations, models=models((*TABLES, "labels")), config=NO_BACKUP
    )
    code, data = upgrade_json(more)
    assert code == 1, data
    assert any("labels" in message for message in drift_of(data)), data
    wider = make_app(database_url, migrations=migrations, models=wider_names, config=NO_BACKUP)
    code, data = upgrade_json(wider)
    assert code == 1, data
    assert any("widgets" in message for message in drift_of(data)), data


def test_a_remembered_fingerprint_is_what_skips_the_comparison(
    make_app: MakeApp, database_url: str, db_kind: str, tmp_path: Path
) -> None:
    """Marked clean by hand, a drifting state is not compared (SQLite, PostgreSQL): the
    memory is what decides, keyed by the fingerprint; MariaDB has none and always compares."""
    app = make_app(database_url, models=models((*TABLES, "labels")), config=NO_BACKUP)
    prepare(app)
    code, data = upgrade_json(app)
    assert code == 1 and drift_of(data), data
    memory = tmp_path / "memory"
    with app.app_context():
        setup = setup_of(app)
        (target,) = setup.targets
        with nullpool_engine(database_url).connect() as connection:
            found = drift_findings(setup, target, connection, remember_in=memory)
            assert any("labels" in f.message for f in found)
            assert not (memory / CLEAN_FILE).exists()  # a drifting state is never remembered
            print_ = fingerprint(connection, target.metadata, setup.configure_args)
            if db_kind == "mysql":  # MariaDB
                assert print_ is None
                return
            assert print_ is not None
            remember_clean(memory, print_)
            assert drift_findings(setup, target, connection, remember_in=memory) == []
            assert drift_findings(setup, target, connection) == found  # verify: always compares


def test_no_fingerprint_where_it_would_not_cover_what_is_compared() -> None:
    """SQLite's catalog read covers ``main`` only; an app's own hook decides outside any text."""
    metadata = sa.MetaData()
    sa.Table("things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    engine = sa.create_engine("sqlite://")
    try:
        with engine.connect() as connection:
            assert fingerprint(connection, metadata, {"compare_type": True}) is not None
            assert fingerprint(connection, metadata, {"include_schemas": True}) is None
            assert fingerprint(connection, metadata, {"include_object": lambda *a: True}) is None
            other = sa.MetaData()
            sa.Table("elsewhere", other, sa.Column("id", sa.Integer), schema="aux")
            assert fingerprint(connection, other, {}) is None
    finally:
        engine.dispose()


def test_the_models_compiled_once_fingerprint_as_compiled_each_time(
    database_url: str, db_kind: str
) -> None:
    """A drift check takes its two fingerprints with the models compiled once
    (``schema_fingerprint.Models``): each is the one a fresh fingerprint gives, and a change
    of the live schema between them still changes the second."""
    metadata = sa.MetaData()
    sa.Table("things", metadata, sa.Column("id", sa.Integer, primary_key=True))
    models_ = Models(metadata)
    with nullpool_engine(database_url).connect() as connection:
        first = fingerprint(connection, metadata, {}, models=models_)
        if db_kind == "mysql":  # MariaDB: no fingerprint at all
            assert first is None
            return
        assert first is not None
        assert first == fingerprint(connection, metadata, {})
        connection.execute(sa.text("CREATE TABLE sm_extra (id INTEGER)"))
        second = fingerprint(connection, metadata, {}, models=models_)
        assert second is not None and second != first
        assert second == fingerprint(connection, metadata, {})
        # Models of other metadata are not taken for these.
        other = sa.MetaData()
        sa.Table("others", other, sa.Column("id", sa.Integer, primary_key=True))
        assert fingerprint(connection, other, {}, models=models_) == fingerprint(
            connection, other, {}
        )
        assert fingerprint(connection, other, {}) != second
        connection.rollback()


def test_the_no_op_after_a_first_deploy_is_answered_from_the_memory(
    make_app: MakeApp,
    database_url: str,
    db_kind: str,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first deploy records its release after its drift check (creating
    ``safemigrate_release``); the comparison hides that table, so the fingerprint must too,
    or the next run (the no-op every later deploy is) compares the whole schema again."""
    import flask_safemigrate.checks.drift as drift_module

    app = make_app(database_url, models=models(), config=NO_BACKUP)
    prepare(app)
    code, data = upgrade_json(app)
    assert code == 0, data
    assert data["compat"]["recorded"] is True, data  # the release table is new since the check
    compared: list[object] = []
    real = drift_module.drift

    def counted(*args: Any, **kwargs: Any) -> Any:
        compared.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(drift_module, "drift", counted)
    code, data = upgrade_json(app)
    assert code == 0, data
    # MariaDB has no fingerprint: its comparison runs every time.
    assert len(compared) == (1 if db_kind == "mysql" else 0)
