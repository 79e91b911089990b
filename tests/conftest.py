"""Shared fixtures: a fresh database per test on SQLite, PostgreSQL and MariaDB, and apps on it.

- ``db_kind``: ``"sqlite"`` | ``"postgresql"`` | ``"mysql"``, each param marked with the
  marker of the same name (``-m "not mysql"`` deselects a server).
- ``database_url``: the URL of a new, empty database for this test (dropped afterwards).
- ``make_app``: ``make_app(database_url, *, migrations=None, config=None, models=None)``,
  a fresh Flask app with its own ``SQLAlchemy`` and ``SafeMigrate``.
- ``track_app``: register an app built elsewhere so its engines are disposed at teardown.
- helpers: :func:`init_migrations`, :func:`write_revision`, :func:`invoke`,
  :func:`invoke_ok`, :func:`run_flask`, :func:`sqlalchemy_of`, :func:`dispose_app`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from unittest import mock

import click.testing
import flask_migrate
import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_safemigrate import SafeMigrate
from tests.databases import (
    DB_KINDS,
    PROBE_TIMEOUT,
    SERVER_KINDS,
    DbKind,
    probe,
    require_server,
    scratch_database,
    server_url,
    sqlite_url,
)

#: The repository root (``example_app`` lives here).
REPO_ROOT = Path(__file__).resolve().parent.parent

Models = Callable[[SQLAlchemy], None]


class MakeApp(Protocol):
    """Signature of the ``make_app`` fixture's factory."""

    def __call__(
        self,
        database_url: str,
        *,
        migrations: Path | None = None,
        config: Mapping[str, Any] | None = None,
        models: Models | None = None,
    ) -> Flask: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--slow",
        action="store_true",
        default=False,
        help="run the long loops too (tests/reliability: 20+ kills per database); CI sets it",
    )


# --------------------------------------------------------------------------- apps and engines


def sqlalchemy_of(app: Flask) -> SQLAlchemy:
    """The Flask-SQLAlchemy instance registered on ``app``."""
    db = app.extensions["sqlalchemy"]
    assert isinstance(db, SQLAlchemy)
    return db


def dispose_app(app: Flask) -> None:
    """Close every pooled connection of the app's engines (safe to call more than once)."""
    db = app.extensions.get("sqlalchemy")
    if db is None:
        return
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()


class AppTracker:
    """Apps whose engines must be disposed before their database is dropped."""

    def __init__(self) -> None:
        self.apps: list[Flask] = []

    def __call__(self, app: Flask) -> Flask:
        self.apps.append(app)
        return app

    def dispose_all(self) -> None:
        for app in self.apps:
            dispose_app(app)


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


@pytest.fixture
def database_url(
    db_kind: DbKind,
    tmp_path: Path,
    server_probes: dict[str, str | None],
    track_app: AppTracker,
) -> Iterator[str]:
    """A fresh, empty database for this test, as a URL string (password included).

    SQLite: a new file under ``tmp_path``. PostgreSQL/MariaDB: ``CREATE DATABASE sm_<hex>``,
    dropped after the test (tracked apps' engines are disposed first). An unreachable server
    skips the test, or fails it when ``CI=true``.
    """
    if db_kind == "sqlite":
        yield sqlite_url(tmp_path / "test.db")
        return
    assert db_kind in SERVER_KINDS
    url = server_url(db_kind)
    if db_kind not in server_probes:
        server_probes[db_kind] = probe(url, PROBE_TIMEOUT)
    error = server_probes[db_kind]
    if error is not None:
        require_server(db_kind, url, error=error)
    with scratch_database(db_kind, url) as scratch:
        try:
            yield scratch.render_as_string(hide_password=False)
        finally:
            track_app.dispose_all()


# --------------------------------------------------------------------------- migrations


def migrations_dir(app: Flask) -> Path:
    """The directory Flask-Migrate uses for ``app``."""
    return Path(app.extensions["migrate"].directory)


def init_migrations(app: Flask) -> Path:
    """Run Flask-Migrate's ``init`` (stock single-database template); returns the directory."""
    directory = migrations_dir(app)
    with app.app_context():
        flask_migrate.init(str(directory))
    return directory


def write_revision(migrations: Path, source: str, *, filename: str | None = None) -> Path:
    """Write a revision script (``source`` is dedented) into ``migrations/versions``.

    The file is named ``<revision>_test.py`` after the script's ``revision = '...'`` unless
    ``filename`` is given.
    """
    text = textwrap.dedent(source).lstrip("\n")
    if filename is None:
        found = re.search(r"""^revision\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]""", text, re.MULTILINE)
        assert found is not None, "the script has no `revision = '...'` line"
        filename = f"{found.group(1)}_test.py"
    path = migrations / "versions" / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- running commands


class _StdoutConfig(flask_migrate.Config):  # type: ignore[misc]
    """Flask-Migrate's ``Config`` printing to the *current* ``sys.stdout``.

    Alembic's ``Config(stdout=sys.stdout)`` default is bound when alembic is imported, so in
    process the output of ``flask db current``/``heads``/``history`` would bypass the CLI
    runner; :func:`invoke` swaps this class in for the duration of the command.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stdout", sys.stdout)
        super().__init__(*args, **kwargs)


def invoke(app: Flask, *args: str, input: str | None = None) -> click.testing.Result:
    """Run ``flask <args>`` for ``app`` in-process with ``app.test_cli_runner()``.

    ``result.output`` includes what Alembic prints (``db current`` shows ``<rev> (head)``).
    """
    with mock.patch.object(flask_migrate, "Config", _StdoutConfig):
        return app.test_cli_runner().invoke(args=list(args), input=input)


def invoke_ok(app: Flask, *args: str) -> click.testing.Result:
    """:func:`invoke` and assert exit code 0 (the message shows output and traceback)."""
    result = invoke(app, *args)
    if result.exit_code != 0:
        detail = ""
        if result.exc_info is not None and not isinstance(result.exception, SystemExit):
            detail = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(
            f"`flask {' '.join(args)}` exited {result.exit_code}\n{result.output}\n{detail}",
            pytrace=False,
        )
    return result


def invoke_json(app: Flask, *args: str) -> tuple[int, dict[str, Any], click.testing.Result]:
    """``flask ARGS`` whose stdout must be one JSON object: exit code, the object, the result."""
    result = invoke(app, *args)
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"not JSON (exit {result.exit_code}):\n{result.output}\n{result.exception!r}")
    assert isinstance(data, dict)
    return result.exit_code, data, result


FLASK = Path(sys.executable).parent / "flask"


def run_flask(
    args: Sequence[str],
    *,
    app: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``flask --app <app> <args>`` in a subprocess (no shell, text, captured).

    ``env`` is added to this process's environment; ``cwd`` defaults to the repository root.
    """
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(FLASK), "--app", app, *args],
        env=full_env,
        cwd=cwd or REPO_ROOT,
        timeout=timeout,
        capture_output=True,
        text=True,
        check=False,
    )
