"""The ``SafeMigrate`` extension: settings, Flask-Migrate's ``Migrate``, and the ``db`` group."""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flask_migrate
from flask import Flask, current_app

from flask_safemigrate import autogen
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.settings import SPECS, Settings

EXTENSION_KEY = "safemigrate"
#: Flask-Migrate's directory when ``Migrate`` is given none.
DEFAULT_DIRECTORY = "migrations"


@dataclass(frozen=True)
class _AppState:
    """What one app registered: its settings (or why they are invalid), its command name,
    and the migrations directory given to SafeMigrate (``None``: Flask-Migrate's)."""

    settings: Settings | None
    settings_error: ConfigError | None
    command: str
    directory: str | None = None


class SafeMigrate:
    """Makes ``flask db`` safe: adds ``safe-upgrade``, ``verify``, ``lint``, ``auto-merge-heads``.

    Reuses the app's Flask-Migrate ``Migrate`` when ``Migrate(app, db)`` ran first and creates
    one (with ``directory``, ``command`` and ``migrate_kwargs``) when it did not. One instance
    may serve many apps (the app-factory pattern); everything per app lives in ``_states``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        db: Any = None,
        *,
        directory: str | Path | None = None,
        command: str = "db",
        **migrate_kwargs: Any,
    ) -> None:
        self.db = db
        self.directory = directory
        self.command = command
        self.migrate_kwargs = migrate_kwargs
        self._states: weakref.WeakKeyDictionary[Flask, _AppState] = weakref.WeakKeyDictionary()
        if app is not None:
            self.init_app(app, db)

    def init_app(
        self,
        app: Flask,
        db: Any = None,
        *,
        directory: str | Path | None = None,
        command: str | None = None,
        **migrate_kwargs: Any,
    ) -> None:
        """Register on ``app``; refuses a second registration on the same app."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "A 'SafeMigrate' instance has already been registered on this Flask app."
                " Import and use that instance instead."
            )
        db = db if db is not None else self.db
        directory = directory if directory is not None else self.directory
        command = command or self.command
        kwargs = {**self.migrate_kwargs, **migrate_kwargs}

        existing = app.extensions.get("migrate")
        if existing is None:
            if db is None:
                raise RuntimeError(
                    "SafeMigrate needs the Flask-SQLAlchemy instance: SafeMigrate(app, db)"
                    " or safe.init_app(app, db)."
                )
            flask_migrate.Migrate(
                app, db, directory=str(directory or DEFAULT_DIRECTORY), command=command, **kwargs
            )
        else:
            _check_agrees_with(existing, directory, command, kwargs)
            command = existing.migrate.command
            if directory is not None:
                # A Migrate on Flask-Migrate's default yields, as in the other order
                # (`_keep_directory`): this app's record only, the Migrate may serve others.
                existing.directory = str(directory)

        for spec in SPECS:
            app.config.setdefault(spec.key, spec.default)
        try:
            settings: Settings | None = Settings.from_mapping(app.config)
            error = None
        except ConfigError as exc:
            # Raising here would end `flask` in a traceback before any command runs;
            # every command raises it instead, as a one-line error with exit code 2.
            settings, error = None, exc

        given = str(directory) if directory is not None else None
        self._states[app] = _AppState(settings, error, command, given)
        app.extensions[EXTENSION_KEY] = self
        from flask_safemigrate.cli import install_group  # the CLI edge owns `flask db`

        install_group(app, on_migrate=functools.partial(_keep_directory, weakref.ref(app), given))
        autogen.install(app)  # the guarded-autogenerate hook and dated file names

    def get_settings(self, app: Flask | None = None) -> Settings:
        """The app's validated settings; raises the :class:`ConfigError` found at init."""
        state = self._state(app)
        if state.settings_error is not None:
            raise state.settings_error
        assert state.settings is not None
        return state.settings

    @property
    def settings(self) -> Settings:
        """Settings of the current app."""
        return self.get_settings()

    def migrations_directory(self, app: Flask | None = None) -> Path:
        """The app's migrations directory, as configured (a command's ``-d`` aside)."""
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        return Path(app.extensions["migrate"].directory)

    def reload_settings(self, app: Flask) -> Settings:
        """Validate ``app.config`` again and keep the result: a fleet's child process pins
        its tenant (``SAFEMIGRATE_SCHEMA``) in the config before its run. Raises
        :class:`ConfigError` for an invalid value."""
        state = self._state(app)
        settings = Settings.from_mapping(app.config)
        self._states[app] = dataclasses.replace(state, settings=settings, settings_error=None)
        return settings

    def _state(self, app: Flask | None) -> _AppState:
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        try:
            return self._states[app]
        except KeyError:
            raise RuntimeError(
                "This SafeMigrate instance is not registered on this app; call init_app(app)."
            ) from None


def _keep_directory(app_ref: weakref.ref[Flask], directory: str | None) -> None:
    """After a later bare ``Migrate(app, db)``: the directory given to SafeMigrate stays the
    app's.

    ``Migrate.init_app`` replaces ``app.extensions["migrate"]`` with its own directory,
    ``migrations`` when none is given; that default is put back to SafeMigrate's. Only this
    app's record changes (the ``Migrate`` may serve other apps); ``flask db`` passes it to
    Flask-Migrate's commands as their default ``-d``. A later ``Migrate`` given another
    directory explicitly wins, as any later ``Migrate``'s options do.
    """
    app = app_ref()
    state = app.extensions.get("migrate") if app is not None else None
    if directory is None or state is None or state.directory != DEFAULT_DIRECTORY:
        return
    state.directory = directory


def _check_agrees_with(
    state: Any,
    directory: str | Path | None,
    command: str,
    kwargs: Mapping[str, Any],
) -> None:
    """Refuse options that the already-registered ``Migrate`` would silently override.

    ``state`` is the app's ``app.extensions["migrate"]`` (Flask-Migrate's per-app
    ``_MigrateConfig``). Its directory conflicts only when it is not Flask-Migrate's default:
    a bare ``Migrate(app, db)`` cannot be told apart from ``directory="migrations"``, and it
    yields to SafeMigrate's ``directory`` whichever of the two registers first.
    """
    migrate = state.migrate
    conflicts = []
    if (
        directory is not None
        and state.directory != DEFAULT_DIRECTORY
        and not _same_directory(directory, state.directory)
    ):
        conflicts.append(f"directory={str(directory)!r} (Migrate has {state.directory!r})")
    if command != "db" and command != migrate.command:
        conflicts.append(f"command={command!r} (Migrate has {migrate.command!r})")
    conflicts.extend(
        f"{key}={value!r}"
        for key, value in kwargs.items()
        if migrate.alembic_ctx_kwargs.get(key, object()) != value
    )
    if conflicts:
        raise RuntimeError(
            "Migrate(app, db) is already registered on this app with options that differ from"
            f" these SafeMigrate options: {', '.join(conflicts)}. Give each option in one place:"
            " to Migrate, or only to SafeMigrate (which then creates the Migrate)."
        )


def _same_directory(given: str | Path, registered: str) -> bool:
    """Whether two spellings name one directory (``own`` and ``./own``, a ``Path`` and its
    string)."""
    return str(given) == registered or Path(given).resolve() == Path(registered).resolve()
