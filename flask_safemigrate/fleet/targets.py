"""The fleet's targets: what ``SAFEMIGRATE_TARGETS`` names, imported, called and checked.

A target is a tenant the app's migrations manage besides (never instead of) its own
database: a PostgreSQL schema on the app's database, or a database URL (a SQLite file, a
PostgreSQL or MariaDB/MySQL database). The callable returns an iterable of strings (a URL
has ``://``, anything else is a schema name) or a mapping of names to such strings, so a
tenant can be named in messages without its URL. Each target has a *key*: its name, its
schema, or its URL with the password masked; keys are what the fleet table records, what
``--shard`` hashes and what a child process is told (never a password on a command line).

Every mistake is a :class:`ConfigError` (exit 2) on one line that names the setting.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from flask_safemigrate import database
from flask_safemigrate.errors import ConfigError
from flask_safemigrate.settings import SCHEMA_MAX_BYTES, Settings

__all__ = ["FleetTarget", "find", "load", "resolve_callable"]

SETTING = "SAFEMIGRATE_TARGETS"
_DIALECTS = ("sqlite", "postgresql", "mysql")


@dataclass(frozen=True)
class FleetTarget:
    """One tenant: a schema on the app's database (``schema``) or a database (``url``)."""

    key: str
    kind: Literal["schema", "url"]
    schema: str | None = None
    url: URL | None = None

    def url_on(self, app_url: URL) -> URL:
        """The URL its run connects to: a schema target is the app's database with the
        schema first on ``search_path``, so schema-less model tables live in it (as the
        Alembic cookbook's per-schema ``env.py`` does), for every connection the run opens."""
        if self.url is not None:
            return self.url
        assert self.schema is not None
        return app_url.update_query_dict({"options": f"-csearch_path={self.schema}"})


def resolve_callable(spec: str) -> Any:
    """Import ``package.module:callable``; a :class:`ConfigError` says which part failed."""
    module_name, _, attribute = spec.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any import-time error is theirs to fix
        raise ConfigError(
            f"{SETTING} = {spec!r}: cannot import {module_name!r}:"
            f" {type(exc).__name__}: {_one_line(exc)}",
            hint="name an importable module (run from the app's folder, or install it)",
        ) from None
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ConfigError(
                f"{SETTING} = {spec!r}: module {module_name!r} has no {attribute!r}",
                hint="name a function of that module that returns the tenants",
            ) from None
    if not callable(found):
        raise ConfigError(
            f"{SETTING} = {spec!r} is a {type(found).__name__}, not a callable",
            hint="name a function that returns the tenants (schema names or database URLs)",
        )
    return found


def load(app: Any, settings: Settings) -> list[FleetTarget]:
    """Call the setting's callable (with ``app`` when it takes an argument) and check it.

    The order is the callable's (a canary stage takes the first targets); keys must be
    unique. An empty fleet is valid (nothing to do).
    """
    spec = settings.targets
    if spec is None:
        raise ConfigError(
            f"--fleet needs {SETTING}, which is not set",
            hint=f'set {SETTING} = "package.module:tenants", a function returning schema'
            " names or database URLs",
        )
    function = resolve_callable(spec)
    try:
        given = function(app) if _takes_an_argument(function) else function()
    except Exception as exc:  # the user's code: reported on one line, exit 2
        raise ConfigError(
            f"{SETTING} = {spec!r} raised {type(exc).__name__}: {_masked(exc)}",
            hint="fix the callable; it must return the tenants without failing",
        ) from None
    app_dialect = database.dialect_of(app.extensions["migrate"].db.engine.url)
    return _checked(spec, given, app_dialect, settings)


def _takes_an_argument(function: Any) -> bool:
    """Whether the callable takes the app (``tenants(app)``) or nothing (``tenants()``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: called without the app
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )


def find(targets: Iterable[FleetTarget], key: str) -> FleetTarget:
    """The target with ``key`` (a child process looks its tenant up again by key)."""
    for target in targets:
        if target.key == key:
            return target
    raise ConfigError(
        f"{SETTING} no longer returns the target {key!r}",
        hint="the tenants changed while the fleet ran: run `flask db safe-upgrade --fleet` again",
    )


def _checked(
    spec: str, given: Any, app_dialect: str | None, settings: Settings
) -> list[FleetTarget]:
    items: list[tuple[str | None, Any]]
    if isinstance(given, Mapping):
        items = list(given.items())
    elif isinstance(given, str | bytes) or not isinstance(given, Iterable):
        raise ConfigError(
            f"{SETTING} = {spec!r} returned a {type(given).__name__}, not a list of targets",
            hint="return a list (or a dict of name -> target) of schema names or database URLs",
        )
    else:
        items = [(None, item) for item in given]
    targets: list[FleetTarget] = []
    seen: set[str] = set()
    for position, (name, value) in enumerate(items, 1):
        target = _one(spec, position, name, value, app_dialect, settings)
        if target.key in seen:
            raise ConfigError(
                f"{SETTING} = {spec!r} returned the target {target.key!r} twice",
                hint="each tenant must appear once",
            )
        seen.add(target.key)
        targets.append(target)
    return targets


def _one(
    spec: str,
    position: int,
    name: Any,
    value: Any,
    app_dialect: str | None,
    settings: Settings,
) -> FleetTarget:
    where = f"{SETTING} = {spec!r}, target {position}"
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"{where}: the name {name!r} is not a non-empty string")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{where}: {_safe_repr(value)} is not a schema name or a database URL",
            hint="return strings: 'tenant_a' (a schema) or 'postgresql://.../tenant_a' (a URL)",
        )
    value = value.strip()
    if "://" in value:
        try:
            url = make_url(value)
        except (sa.exc.ArgumentError, ValueError):
            raise ConfigError(
                f"{where}: {database.mask_url(value)} is not a database URL"
            ) from None
        dialect = database.dialect_of(url)
        if dialect not in _DIALECTS:
            raise ConfigError(
                f"{where}: {database.mask_url(url)} is not a SQLite, PostgreSQL or"
                " MariaDB/MySQL URL"
            )
        key = name.strip() if name is not None else database.mask_url(url)
        return FleetTarget(key=key, kind="url", url=url)
    if app_dialect != "postgresql":
        raise ConfigError(
            f"{where}: {value!r} is a schema name, but the app's database is not PostgreSQL",
            hint="schema targets need PostgreSQL; give each tenant's database URL instead",
        )
    if settings.schema is not None:
        raise ConfigError(
            f"{where}: schema targets and SAFEMIGRATE_SCHEMA = {settings.schema!r} do not go"
            " together",
            hint="leave SAFEMIGRATE_SCHEMA unset: each schema target is its own dedicated schema",
        )
    try:
        Settings.from_mapping({"SAFEMIGRATE_SCHEMA": value})
    except ConfigError as error:
        reason = error.message.partition(": ")[2] or error.message
        raise ConfigError(
            f"{where}: schema {value!r} is refused: {reason}",
            hint=f"a plain name of at most {SCHEMA_MAX_BYTES} bytes, not pg_* or"
            " information_schema",
        ) from None
    key = name.strip() if name is not None else value
    return FleetTarget(key=key, kind="schema", schema=value)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


def _masked(exc: BaseException) -> str:
    """The error's text with the password of every URL in it replaced."""
    return _PASSWORD_IN_URL.sub(r"\1***@", _one_line(exc))


def _safe_repr(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."
