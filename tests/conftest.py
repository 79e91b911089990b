"""Shared fixtures: a fresh database per test on SQLite, PostgreSQL and MariaDB, and apps on it.

- ``db_kind``: ``"sqlite"`` | ``"postgresql"`` | ``"mysql"``, each param marked with the
  marker of the same name (``-m "not mysql"`` deselects a server).
- ``database_url``: the URL of an empty database for this test (dropped afterwards; on
  PostgreSQL emptied and reused by the next test, see :mod:`tests.support.scratch_pool`).
- ``postgresql_pool`` (session): this process's pool of scratch PostgreSQL databases, all
  dropped at the end of the session.
- ``make_app``: ``make_app(database_url, *, migrations=None, config=None, models=None)``,
  a fresh Flask app with its own ``SQLAlchemy`` and ``SafeMigrate``.
- ``track_app``: register an app built elsewhere so its engines are disposed at teardown.
- ``merge_app``: an app with stock migrations and no revisions (merge and hostile-merge tests).
- ``user_cache_of_the_session`` (automatic): ``XDG_CACHE_HOME`` of the session's own.

Helpers (app building, running commands, revision scripts, servers) live in :mod:`tests.support`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from hypothesis import settings

from flask_safemigrate import SafeMigrate
from tests.support.apps import AppTracker, MakeApp, Models, init_migrations
from tests.support.databases import (
    DB_KINDS,
    PROBE_TIMEOUT,
    SERVER_KINDS,
    DbKind,
    empty_sqlite,
    probe,
    require_server,
    scratch_database,
    server_url,
    sqlite_url,
)
from tests.support.merge import MergeApp
from tests.support.scratch_pool import ScratchPool
from tests.support.timing import split_per_database

#: pytester (tests of the harness) and ``--dist loadgroup`` keeping each ``xdist_group`` (the
#: timing group) on one worker.
pytest_plugins = ("pytester", "tests.support.xdist_groups")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="run the long loops too (tests/reliability: 20+ kills per database); CI sets it",
    )


#: Examples per property of the lint fuzzer (tests/lint/test_fuzz.py): the full count with
#: ``--slow`` (CI), a third of it in the default run, where it was the slowest module left.
FUZZ_EXAMPLES = {"slow": 150, "quick": 50}


def pytest_configure(config: pytest.Config) -> None:
    """The ``fuzz`` Hypothesis profile, which the fuzzer's settings start from."""
    speed = "slow" if config.getoption("--slow") else "quick"
    settings.register_profile("fuzz", max_examples=FUZZ_EXAMPLES[speed])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Kills on different databases form groups of their own (:mod:`tests.support.timing`)."""
    split_per_database(items)


@pytest.fixture(scope="session", autouse=True)
def user_cache_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """safe-upgrade's cache (``caches.user_cache``) in a folder of this session, for every
    test and every ``flask`` process it starts: never the runner's ``~/.cache``, never under
    a test's own folder (whose files the bad-input tests compare)."""
    folder = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


# --------------------------------------------------------------------------- apps


@pytest.fixture
def track_app() -> Iterator[AppTracker]:
    """``track_app(app)`` registers an app; its engines are disposed at teardown.

    ``database_url`` disposes them too, before it drops the database.
    """
    tracker = AppTracker()
    yield tracker
    tracker.dispose_all()


@pytest.fixture
def make_app(tmp_path: Path, track_app: AppTracker) -> MakeApp:
    """Factory of fresh apps: own ``SQLAlchemy()``, ``models(db)`` if given, ``SafeMigrate``.

    The migrations directory defaults to ``tmp_path / "migrations"`` (not created: see
    :func:`init_migrations`); ``config`` is applied last.
    """

    def make(
        database_url: str,
        *,
        migrations: Path | None = None,
        config: Mapping[str, Any] | None = None,
        models: Models | None = None,
    ) -> Flask:
        app = Flask(__name__, instance_path=str(tmp_path / "instance"))
        app.config.update(SQLALCHEMY_DATABASE_URI=database_url, TESTING=True)
        if config is not None:
            app.config.update(config)
        db = SQLAlchemy()
        if models is not None:
            models(db)
        db.init_app(app)
        track_app(app)
        SafeMigrate().init_app(app, db, directory=migrations or tmp_path / "migrations")
        return app

    return make


# --------------------------------------------------------------------------- databases


@pytest.fixture(params=[pytest.param(kind, marks=getattr(pytest.mark, kind)) for kind in DB_KINDS])
def db_kind(request: pytest.FixtureRequest) -> DbKind:
    """Which database the test runs on; the param carries the marker of the same name."""
    kind: DbKind = request.param
    return kind


@pytest.fixture(scope="session")
def server_probes() -> dict[str, str | None]:
    """Each server is probed once per session: kind -> ``None`` (up) or the error."""
    return {}


@pytest.fixture(scope="session")
def postgresql_pool() -> Iterator[ScratchPool]:
    """Scratch PostgreSQL databases reused from test to test; dropped when the session ends."""
    pool = ScratchPool(server_url("postgresql"))
    yield pool
    pool.close()


@pytest.fixture
def database_url(
    db_kind: DbKind,
    tmp_path: Path,
    server_probes: dict[str, str | None],
    track_app: AppTracker,
    postgresql_pool: ScratchPool,
) -> Iterator[str]:
    """An empty database for this test, as a URL string (password included).

    SQLite: a new file under ``tmp_path``. MariaDB: ``CREATE DATABASE sm_<hex>``, dropped
    after the test. PostgreSQL: a database of ``postgresql_pool``, as empty as a new one and
    emptied after the test. Tracked apps' engines are disposed first. An unreachable server
    skips the test, or fails it when ``CI=true``.
    """
    if db_kind == "sqlite":
        yield empty_sqlite(tmp_path / "test.db")
        return
    assert db_kind in SERVER_KINDS
    url = server_url(db_kind)
    if db_kind not in server_probes:
        server_probes[db_kind] = probe(url, PROBE_TIMEOUT)
    error = server_probes[db_kind]
    if error is not None:
        require_server(db_kind, url, error=error)
    if db_kind == "postgresql":
        scratch_of = postgresql_pool.database()
    else:
        scratch_of = scratch_database(db_kind, url)
    with scratch_of as scratch:
        try:
            yield scratch.render_as_string(hide_password=False)
        finally:
            track_app.dispose_all()


@pytest.fixture
def merge_app(make_app: MakeApp, tmp_path: Path) -> MergeApp:
    """An app with stock (single-database) migrations and no revisions yet.

    Without ``database_url`` it runs on a SQLite file that the merge never opens.
    """

    def make(database_url: str | None = None) -> tuple[Flask, Path]:
        app = make_app(database_url or sqlite_url(tmp_path / "unused.db"))
        return app, init_migrations(app)

    return make
