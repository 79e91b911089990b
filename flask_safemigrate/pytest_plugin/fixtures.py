"""The plugin's fixtures, registered once the plugin is on (a project may override any).

- ``safemigrate_app`` (session): the app ``safemigrate_app = "pkg:create_app"`` names;
- ``safemigrate_setup``: the project as verify reads it (:func:`.project.setup_of`);
- ``migration_database``: a scratch database for this test, its :class:`~sqlalchemy.engine.URL`;
- ``migration_runner``: a :class:`~.runner.MigrationRunner` on it;
- ``safemigrate_rows``: the rows ``seeded-roundtrip`` inserts (``ROWS`` of ``safemigrate_data``).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import URL, make_url

from flask_safemigrate import scratch
from flask_safemigrate.errors import DatabaseUnreachable, SafeMigrateError
from flask_safemigrate.project import Setup, setup_of
from flask_safemigrate.pytest_plugin.options import DATABASE_URL_ENV, PluginOptions
from flask_safemigrate.pytest_plugin.runner import MigrationRunner
from flask_safemigrate.text import display_path, one_line
from flask_safemigrate.verify.seeding import Rows, load_rows

__all__ = [
    "OPTIONS",
    "RowsFromFile",
    "migration_database",
    "migration_runner",
    "safemigrate_app",
    "safemigrate_options",
    "safemigrate_rows",
    "safemigrate_setup",
]

#: Where ``pytest_configure`` keeps the session's :class:`PluginOptions`.
OPTIONS = pytest.StashKey[PluginOptions]()


def fail(message: str, hint: str | None = None) -> NoReturn:
    """Fail the test with one titled line and what to do: no traceback, and not the error
    being handled either (``from None``), whose words the message already carries."""
    text = f"safemigrate: {message}" + (f"\n  what to do: {hint}" if hint else "")
    raise pytest.fail.Exception(text, pytrace=False) from None


@pytest.fixture(scope="session")
def safemigrate_options(pytestconfig: pytest.Config) -> PluginOptions:
    """The session's plugin settings (ini and environment)."""
    return pytestconfig.stash[OPTIONS]


def _is_module_in(folder: Path, module: str) -> bool:
    """Whether ``module`` (dotted, or a file path as ``flask --app`` takes) is in ``folder``."""
    if module.endswith(".py") or "/" in module or os.sep in module:
        return (folder / module).is_file()
    top = module.partition(".")[0]
    return (folder / f"{top}.py").is_file() or (folder / top).is_dir()


def _import_app_module(module: str, spec: str, setting: str, folders: Sequence[Path]) -> ModuleType:
    """``module``, imported as ``flask --app`` imports it when run in the first of ``folders``
    that holds it (Flask's ``prepare_import``: that folder, or the one above its package, goes
    first on ``sys.path``); from ``sys.path`` as it is when none holds it."""
    from flask.cli import prepare_import

    found = next((folder for folder in folders if _is_module_in(folder, module)), None)
    name = prepare_import(str(found / module)) if found is not None else module
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (name == exc.name or name.startswith(f"{exc.name}.")):
            fail(
                f"{setting} = {spec!r}: importing {name} failed: {one_line(exc)}",
                f"{name} was found, the module it imports was not: install it in the"
                " environment pytest runs in",
            )
        where = " nor ".join(str(folder) for folder in folders)
        fail(
            f"{setting} = {spec!r}: no module {name!r} in {where} (where flask --app looks"
            " when run there) nor on sys.path",
            "write the module's path from the folder of the ini file, dotted (shop/app.py is"
            " shop.app:create_app), or add the folder it is imported from to pythonpath in"
            " the ini (src layout: pythonpath = src)",
        )
    except Exception as exc:  # the project's module may raise anything
        fail(
            f"{setting} = {spec!r}: importing {name} failed: {one_line(exc)}",
            "fix the error in the project's code, or override the safemigrate_app fixture",
        )


def load_app(spec: str, folders: Sequence[Path] = (), setting: str = "safemigrate_app") -> Flask:
    """The app ``"package.module:create_app"`` names, found where ``flask --app`` finds it run
    in the first of ``folders`` that holds the module: the factory called without arguments,
    or an app object (``"package.module:app"``). ``setting`` names the value in messages."""
    # Flask's split: the first colon not followed by a slash (C:\app.py is a path).
    module_name, *attr = re.split(r":(?![\\/])", spec, maxsplit=1)
    module = _import_app_module(module_name.strip(), spec, setting, folders)
    path = "".join(attr).strip() or "create_app"
    if "(" in path:
        return _call_factory(module, path, spec, setting)
    found: Any = module
    for part in path.split("."):
        if not hasattr(found, part):
            fail(
                f"{setting} = {spec!r}: {module.__name__}"
                f" ({display_path(Path(str(module.__file__)))}) has no {path!r}",
                "name the app factory or the app object the module defines, module:create_app"
                " or module:app",
            )
        found = getattr(found, part)
    try:
        app = found if isinstance(found, Flask) else found()
    except Exception as exc:  # the project's factory may raise anything
        fail(
            f"{setting} = {spec!r}: {path}() raised {one_line(exc)}",
            "fix the error in the project's factory, or override the safemigrate_app fixture",
        )
    if not isinstance(app, Flask):
        fail(f"{setting} = {spec!r} gave {type(app).__name__}, not a Flask app")
    return app


def _call_factory(module: ModuleType, call: str, spec: str, setting: str) -> Flask:
    """The app of ``module:create_app("testing")``: Flask's own reading of a factory call with
    literal arguments, as ``flask --app`` makes it, with its refusals worded as ours."""
    from flask.cli import NoAppException, find_app_by_string

    try:
        return find_app_by_string(module, call)
    except NoAppException as exc:
        fail(
            f"{setting} = {spec!r}: {' '.join(str(exc).split())}",
            'name the factory with literal arguments only, module:create_app("testing"), or'
            " define a safemigrate_app fixture that returns the app",
        )
    except Exception as exc:  # the project's factory may raise anything
        fail(
            f"{setting} = {spec!r}: {call} raised {one_line(exc)}",
            "fix the error in the project's factory, or override the safemigrate_app fixture",
        )


def find_app() -> Flask:
    """The app as ``flask`` finds it without ``--app`` and ``FLASK_APP``: ``wsgi.py`` or
    ``app.py`` in the current directory (a factory ``create_app`` or an ``app``)."""
    from flask.cli import NoAppException, ScriptInfo

    try:
        return ScriptInfo(set_debug_flag=False).load_app()
    except NoAppException as exc:
        fail(
            f"no app: safemigrate_app is not set and Flask found none ({one_line(exc)})",
            'add safemigrate_app = "package.module:create_app" to the ini file, or define a'
            " safemigrate_app fixture that returns the app",
        )
    except Exception as exc:  # the project's factory may raise anything
        fail(f"the app Flask found could not be made: {one_line(exc)}")


@pytest.fixture(scope="session")
def safemigrate_app(safemigrate_options: PluginOptions, pytestconfig: pytest.Config) -> Flask:
    """The project's app: ``safemigrate_app``, else ``FLASK_APP``, imported as ``flask --app``
    imports it run in the rootdir (or, failing that, the directory pytest was started in),
    else the one ``flask`` finds. Its own database is never used: every test has a scratch one."""
    folders = list(dict.fromkeys((pytestconfig.rootpath, pytestconfig.invocation_params.dir)))
    if safemigrate_options.app:
        return load_app(safemigrate_options.app, folders)
    flask_app = os.environ.get("FLASK_APP", "").strip()
    if flask_app:
        return load_app(flask_app, folders, "FLASK_APP")
    return find_app()


@pytest.fixture
def safemigrate_setup(safemigrate_app: Flask) -> Setup:
    """The project as ``flask db verify`` reads it: history, migrations directory, targets."""
    try:
        with safemigrate_app.app_context():
            return setup_of(safemigrate_app)
    except SafeMigrateError as exc:
        fail(exc.message, exc.hint)


@pytest.fixture
def migration_database(
    safemigrate_setup: Setup, safemigrate_options: PluginOptions, tmp_path: Path
) -> Iterator[URL | None]:
    """An empty database for this test, dropped afterwards, even when the test fails.

    SQLite (the default): a file in the test's ``tmp_path``. With a server URL
    (``safemigrate_database_url`` or ``SAFEMIGRATE_TEST_DATABASE_URL``): a database
    ``sm_verify_<hex>`` created there, unique per test and per xdist worker. ``None`` for an
    app on Flask-Migrate's multi-database template: a temporary database beside each bind's.
    """
    if safemigrate_setup.multidb:
        yield None
        return
    server = safemigrate_options.database_url
    if not server:
        yield URL.create("sqlite", database=str(tmp_path / "migration.db"))
        return
    try:
        url = make_url(server)
    except (sa.exc.ArgumentError, ValueError):
        fail(
            "safemigrate_database_url is not a database URL",
            f"set it (or {DATABASE_URL_ENV}) to a server URL such as"
            " postgresql+psycopg://user@host/postgres",
        )
    cleanup = scratch.Cleanup()
    with ExitStack() as stack:
        try:
            created = stack.enter_context(
                scratch.scratch_databases({None: url}, safemigrate_setup.settings, None, cleanup)
            )
        except DatabaseUnreachable as exc:
            # A refused login is worded as every command words it (the server is up).
            what = exc.hint if exc.refused and exc.hint else "check that the server is up"
            fail(
                exc.message,
                f"{what}, or name another in safemigrate_database_url ({DATABASE_URL_ENV} wins)",
            )
        except SafeMigrateError as exc:
            fail(exc.message, exc.hint)
        yield created[None]
    if cleanup.errors:
        fail("; ".join(cleanup.errors))


@pytest.fixture
def migration_runner(
    safemigrate_setup: Setup, migration_database: URL | None
) -> Iterator[MigrationRunner]:
    """Upgrade, downgrade, read the position and insert rows on ``migration_database``."""
    runner = MigrationRunner(safemigrate_setup, migration_database)
    try:
        runner.__enter__()
    except SafeMigrateError as exc:
        fail(exc.message, exc.hint)
    try:
        yield runner
    finally:
        runner.__exit__(None, None, None)
    if runner.cleanup.errors:
        fail("; ".join(runner.cleanup.errors))


class RowsFromFile(dict[str, Any]):
    """The ``ROWS`` of a file, with the file's name for messages."""

    def __init__(self, rows: Rows, source: str) -> None:
        super().__init__(rows)
        self.source = source


@pytest.fixture
def safemigrate_rows(safemigrate_options: PluginOptions) -> Rows:
    """The rows ``seeded-roundtrip`` inserts: ``ROWS`` of the ``safemigrate_data`` file
    (``tests/migration_data.py``), ``{}`` when that default file does not exist."""
    path = safemigrate_options.data
    if not path.is_file():
        if safemigrate_options.data_given:
            fail(f"safemigrate_data: no file at {display_path(path)}")
        return {}
    try:
        return RowsFromFile(load_rows(path), display_path(path))
    except SafeMigrateError as exc:
        fail(exc.message, exc.hint)
