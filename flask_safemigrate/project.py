"""The project as read from the app once: the history, the version table and the databases.

verify and safe-upgrade both start here (:func:`setup_of`), and the shared checks
(:mod:`flask_safemigrate.checks`) take a :class:`Setup` and a :class:`Target`; keeping it
below all three is what lets them share the checks without importing one another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import URL, Engine

from flask_safemigrate import database, dedicated_schema, history, suggested
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.settings import Settings
from flask_safemigrate.text import placed

__all__ = ["MISSING_DIRECTORY_HINT", "Setup", "Target", "setup_of", "uses_multidb"]

#: What to do when the migrations directory is missing (every command says the same).
MISSING_DIRECTORY_HINT = (
    "run `flask db init` to create it, or name the directory the migrations are in:"
    " `flask db -d DIR ...` or SafeMigrate(directory=...)"
)


@dataclass(frozen=True)
class Target:
    """One database the migrations manage: the default engine (``bind`` None) or a bind."""

    bind: str | None
    url: URL
    metadata: sa.MetaData

    @property
    def label(self) -> str:
        """How messages name it: the URL with the password masked (and the bind key)."""
        shown = database.mask_url(self.url)
        return shown if self.bind is None else f"{shown} (bind {self.bind!r})"


@dataclass
class Setup:
    """What verify and safe-upgrade read from the app once."""

    app: Flask
    settings: Settings
    migrate_state: Any
    directory: Path
    locations: list[Path]
    graph: history.RevisionGraph
    configure_args: Mapping[str, Any]
    version_table: str
    version_schema: str | None
    targets: list[Target]
    multidb: bool
    #: ``-x`` arguments for ``env.py`` (``context.get_x_argument()``), as the command got them.
    x_args: tuple[str, ...] = ()
    #: How this run's commands start when a message suggests one: ``flask db``, or
    #: ``flask db -d DIR`` when the run's directory is not the app's (:mod:`.suggested`).
    command: str = suggested.DEFAULT_PREFIX

    def alembic_config(self, **opts: bool) -> Any:
        """Flask-Migrate's Alembic config for this directory (configure callbacks run), with
        the command's ``-x`` arguments: what ``flask db upgrade -d DIR -x ...`` would use.
        ``opts`` become ``cmd_opts`` flags (``quiet=True``)."""
        return self.migrate_state.migrate.get_config(
            str(self.directory), x_arg=list(self.x_args), opts=[k for k, on in opts.items() if on]
        )

    @property
    def urls(self) -> list[URL]:
        """The app's database URLs: their passwords are masked in every message."""
        return [t.url for t in self.targets]


def _is_multidb(directory: Path) -> bool:
    """Whether ``env.py`` is Flask-Migrate's multi-database template (it migrates every bind)."""
    try:
        text = (directory / "env.py").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "bind_names" in text


def uses_multidb(app: Flask, directory: str | Path | None = None) -> bool:
    """Whether ``app``'s migrations (or ``directory``, a command's ``-d``) use the
    multi-database template (False when unknown)."""
    if directory is not None:
        return _is_multidb(Path(directory))
    safe = app.extensions.get("safemigrate")
    return safe is not None and _is_multidb(Path(safe.migrations_directory(app)))


def setup_of(
    app: Flask,
    directory: str | Path | None = None,
    x_args: Sequence[str] = (),
    *,
    cache_dir: Path | None = None,
) -> Setup:
    """Read ``app``'s project; ``directory`` (a command's ``-d``) replaces the app's
    migrations directory, ``x_args`` (its ``-x``) reach ``env.py``. ``cache_dir``
    (safe-upgrade: the user's cache): the history is read through a
    :class:`.history.ScriptCache` there, which skips the parse of scripts read before."""
    safe = app.extensions.get("safemigrate")
    state = app.extensions.get("migrate")
    if safe is None or state is None:
        raise ConfigError(
            "SafeMigrate is not registered on this app", hint="call SafeMigrate(app, db)"
        )
    settings: Settings = safe.get_settings(app)
    command = suggested.command_prefix(directory, safe.migrations_directory(app))
    directory = Path(directory if directory is not None else safe.migrations_directory(app))
    if not directory.is_dir():
        raise ConfigError(
            f"no migrations directory at {placed(directory)}",
            hint=MISSING_DIRECTORY_HINT,
        )
    try:
        locations = history.version_locations(directory)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="fix alembic.ini") from None
    if cache_dir is None:
        graph = history.load_graph(locations)
    else:
        scripts = history.ScriptCache(cache_dir)
        graph = history.load_graph(locations, read=scripts.read)
        scripts.save()
    dedicated_schema.install(app)  # again: a later Migrate(app, db) replaces configure_args
    state = app.extensions["migrate"]
    configure_args: Mapping[str, Any] = dict(state.configure_args)
    version_table = str(configure_args.get("version_table") or "alembic_version")
    version_schema = configure_args.get("version_table_schema")
    db = state.db
    if settings.schema is not None:
        dedicated_schema.check_dialect(db.engine.url, settings.schema, configure_args)
    multidb = _is_multidb(directory)
    engines: Mapping[str | None, Engine] = db.engines
    binds: list[str | None] = [None]
    if multidb:
        binds += sorted(key for key in engines if key is not None)
    targets = []
    for bind in binds:
        metadatas = getattr(db, "metadatas", None)
        metadata = metadatas[bind] if metadatas is not None else db.metadata
        targets.append(Target(bind, engines[bind].url, metadata))
    return Setup(
        app=app,
        settings=settings,
        migrate_state=state,
        directory=directory,
        locations=locations,
        graph=graph,
        configure_args=configure_args,
        version_table=version_table,
        version_schema=version_schema,
        targets=targets,
        multidb=multidb,
        x_args=tuple(x_args),
        command=command,
    )
