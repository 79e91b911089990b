"""Connecting with timeout and retries, the version table, and URL masking (real servers)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from flask_safemigrate import database
from flask_safemigrate.errors import DatabaseUnreachable, ExitCode

SECRET = "zebra-s3cr3t-42"


def test_mask_url_hides_the_password() -> None:
    masked = database.mask_url(f"postgresql+psycopg://app:{SECRET}@db.example:5432/app")
    assert SECRET not in masked
    assert masked == "postgresql+psycopg://app:***@db.example:5432/app"
    assert database.mask_url("not a url") == "<unparsable database URL>"
    assert database.mask_text(f"login {SECRET} refused", f"mysql://u:{SECRET}@h/d") == (
        "login *** refused"
    )


def test_dialect_of() -> None:
    assert database.dialect_of("postgresql+psycopg://x@h/d") == "postgresql"
    assert database.dialect_of("mariadb+pymysql://x@h/d") == "mysql"
    assert database.dialect_of("sqlite:///x.db") == "sqlite"
    assert database.dialect_of("oracle://x@h/d") is None


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/test",
        f"mysql+pymysql://root:{SECRET}@127.0.0.1:1/test",
    ],
    ids=["postgresql", "mysql"],
)
def test_unreachable_host_retries_then_fails_masked(url: str) -> None:
    pauses: list[float] = []
    with (
        pytest.raises(DatabaseUnreachable) as info,
        database.connect(url, timeout=1, retries=2, sleep=pauses.append),
    ):
        pass
    error = info.value
    assert error.exit_code == ExitCode.PREFLIGHT
    assert "(3 attempts)" in error.message
    assert pauses == [0.5, 1.0]
    assert "\n" not in error.message
    assert SECRET not in str(error.to_dict())
    assert "***" in error.message


@pytest.mark.sqlite
def test_a_sqlite_file_in_a_missing_directory_names_the_directory(tmp_path: Path) -> None:
    """SQLite has no server or credentials: the help names the directory to check."""
    missing = tmp_path / "no-such-dir"
    with (
        pytest.raises(DatabaseUnreachable) as info,
        database.connect(f"sqlite:///{missing}/app.db", timeout=1, retries=0),
    ):
        pass
    hint = info.value.hint or ""
    assert str(missing) in hint and "exists and is writable" in hint
    assert "server" not in hint
    # Waiting does not create the folder: one attempt, even with retries to spare.
    slept: list[float] = []
    with (
        pytest.raises(DatabaseUnreachable) as info,
        database.connect(f"sqlite:///{missing}/app.db", timeout=1, retries=3, sleep=slept.append),
    ):
        pass
    assert slept == [] and "(1 attempt, not retried:" in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/test",
        f"mysql+pymysql://root:{SECRET}@127.0.0.1:1/test",
    ],
    ids=["postgresql", "mysql"],
)
def test_a_server_url_keeps_the_server_hint(url: str) -> None:
    with (
        pytest.raises(DatabaseUnreachable) as info,
        database.connect(url, timeout=1, retries=0),
    ):
        pass
    assert "check that the server is up" in (info.value.hint or "")


# PostgreSQL trusts every login here, so only MariaDB can refuse one.
@pytest.mark.parametrize("db_kind", [pytest.param("mysql", marks=pytest.mark.mysql)])
def test_refused_login_is_masked(database_url: str) -> None:
    url = sa.engine.make_url(database_url).set(password=SECRET)
    with (
        pytest.raises(DatabaseUnreachable) as info,
        database.connect(url, timeout=2, retries=0, sleep=lambda _: None),
    ):
        pass
    assert SECRET not in info.value.message
    assert "Access denied" in info.value.message


def test_current_revisions(database_url: str) -> None:
    with database.connect(database_url, timeout=5, retries=0) as connection:
        assert database.current_revisions(connection) == ()
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('b2'), ('a1')"))
    engine.dispose()
    with database.connect(database_url, timeout=5, retries=0) as connection:
        assert database.current_revisions(connection) == ("a1", "b2")


_SESSION_VALUE = {
    "sqlite": ("PRAGMA cache_size = -1234", "PRAGMA cache_size"),
    "postgresql": ("SET application_name = 'sm_changed'", "SHOW application_name"),
    "mysql": ("SET @sm_marker = 'sm_changed'", "SELECT @sm_marker"),
}


def test_connect_keeps_the_engine_and_never_the_connection(database_url: str, db_kind: str) -> None:
    """A run connects a dozen times: the engine (its dialect set up once) is kept per URL and
    options, but every connection is new, so nothing set on one reaches the next."""
    change, read = _SESSION_VALUE[db_kind]
    with database.connect(database_url, timeout=5, retries=0) as first:
        engine = first.engine
        before = first.exec_driver_sql(read).scalar()
        first.exec_driver_sql(change)
        assert first.exec_driver_sql(read).scalar() != before
    with database.connect(database_url, timeout=5, retries=0) as second:
        assert second.engine is engine
        assert second.exec_driver_sql(read).scalar() == before
    with database.connect(database_url, timeout=6, retries=0) as other:
        assert other.engine is not engine  # another timeout: other connect arguments
    with database.connect(database_url, timeout=5, retries=0, purpose="lock") as labelled:
        assert labelled.engine is not engine or db_kind == "sqlite"  # no label on SQLite
