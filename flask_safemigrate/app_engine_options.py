"""The app's ``SQLALCHEMY_ENGINE_OPTIONS`` for the connections the tool opens itself.

``flask db upgrade`` connects through the app's engine, so a password or TLS settings given in
``SQLALCHEMY_ENGINE_OPTIONS["connect_args"]`` (or a ``creator``) just work there. The tool
opens its own short-lived connections, never from the app's pool (pre-flight, the migration
lock, the ledger, the scratch database of ``verify --roundtrip``), and a backup runs a dump
tool: all of them must log in exactly as the app does, or ``safe-upgrade`` reports
``database-unreachable`` for a database ``flask db upgrade`` reaches.

Only what says *how to connect* is taken (:data:`HONOURED`); pool settings are not (the
tool's connections are its own: at most one kept per database for a run's reads,
:func:`.database.reusing`) and neither is ``isolation_level`` (a migration needs
its transaction). The options are read from the config once per command and looked up by
URL: first the exact URL, then any URL of the same server and login (a scratch database
differs from the app's only by its name).

Command entry points wrap their work in :func:`applied`; everything below asks
:func:`for_url` / :func:`engine_kwargs`, so no signature along the way has to carry them.
The same block remembers the URLs as the app's configuration spells them, for messages:
:func:`as_configured` drops the query keys an engine's URL gained on the way (Flask-SQLAlchemy
adds ``?charset=utf8mb4`` to a MySQL/MariaDB URL that has no charset), so a report names the
database as the user wrote it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

#: The engine options that decide how a connection is made, and so apply to the tool's too.
HONOURED = ("connect_args", "creator")

#: ``connect_args`` keys that name the database (libpq, PyMySQL, sqlite3).
_DATABASE_KEYS = frozenset({"dbname", "database", "db"})

_CURRENT: ContextVar[Mapping[str, Mapping[str, Any]]] = ContextVar(
    "flask_safemigrate_engine_options", default=MappingProxyType({})
)
_CONFIGURED: ContextVar[tuple[URL, ...]] = ContextVar(
    "flask_safemigrate_configured_urls", default=()
)


def _keys(url: str | URL) -> tuple[str, str] | None:
    """The exact key and the server-and-login key of a URL (``None`` when unparsable)."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return None
    exact = parsed.render_as_string(hide_password=False)
    # URL.set() ignores None, so the server's URL is built anew, without database or query.
    server = URL.create(
        parsed.drivername, parsed.username, parsed.password, parsed.host, parsed.port
    ).render_as_string(hide_password=False)
    return exact, "server:" + server


def _configured_urls(config: Mapping[str, Any]) -> tuple[URL, ...]:
    """The default engine's and every bind's URL as the configuration gives them."""
    given: list[Any] = [config.get("SQLALCHEMY_DATABASE_URI")]
    for value in (config.get("SQLALCHEMY_BINDS") or {}).values():
        given.append(value.get("url") if isinstance(value, Mapping) else value)
    urls = []
    for url in given:
        try:
            urls.append(make_url(url))
        except (sa.exc.ArgumentError, ValueError, TypeError, AttributeError):
            continue  # None, or what Flask-SQLAlchemy refuses itself
    return tuple(urls)


def _login(url: URL) -> tuple[Any, ...]:
    return (url.drivername, url.username, url.password, url.host, url.port)


def as_configured(url: URL) -> URL:
    """``url`` without the query keys the app's configured URL of that server and login does
    not have (the one of the same database first): what an engine added, never what the
    user wrote. ``url`` itself outside :func:`applied` or for a server the app does not name.
    """
    configured = _CONFIGURED.get()
    same_server = [c for c in configured if _login(c) == _login(url)]
    same_database = [c for c in same_server if c.database == url.database]
    for match in (same_database or same_server)[:1]:
        added = [key for key in url.query if key not in match.query]
        if added:
            return url.difference_update_query(added)
    return url


def from_config(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """URL key -> the honoured options, for the default engine and every bind.

    ``SQLALCHEMY_ENGINE_OPTIONS`` applies to every engine; a bind given as a dict
    (``{"url": ..., "connect_args": ...}``) adds its own on top, as Flask-SQLAlchemy does.
    """
    base = config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
    engines: list[tuple[Any, Mapping[str, Any]]] = []
    if config.get("SQLALCHEMY_DATABASE_URI"):
        engines.append((config["SQLALCHEMY_DATABASE_URI"], {}))
    for value in (config.get("SQLALCHEMY_BINDS") or {}).values():
        if isinstance(value, Mapping):
            engines.append((value.get("url"), value))
        else:
            engines.append((value, {}))
    found: dict[str, dict[str, Any]] = {}
    for url, own in engines:
        options = {
            name: value
            for name, value in {**base, **own}.items()
            if name in HONOURED and value is not None
        }
        keys = _keys(url) if url else None
        if not options or keys is None:
            continue
        exact, server = keys
        found[exact] = options
        found.setdefault(server, options)
    return found


@contextmanager
def applied(config: Mapping[str, Any]) -> Iterator[None]:
    """While the block runs, the tool's own connections use the app's connect options, and
    messages show its URLs as configured (:func:`as_configured`)."""
    token = _CURRENT.set(from_config(config))
    shown = _CONFIGURED.set(_configured_urls(config))
    try:
        yield
    finally:
        _CONFIGURED.reset(shown)
        _CURRENT.reset(token)


def for_url(url: str | URL) -> dict[str, Any]:
    """The honoured options for a connection to ``url`` (``{}`` when the app gave none)."""
    keys = _keys(url)
    if keys is None:
        return {}
    current = _CURRENT.get()
    exact, server = keys
    if exact in current:
        return dict(current[exact])
    options = dict(current.get(server) or {})
    args = options.get("connect_args")
    if isinstance(args, Mapping):
        # Another database on the app's server (a scratch database): never let the app's
        # connect_args send it back to the app's own database.
        options["connect_args"] = {k: v for k, v in args.items() if k not in _DATABASE_KEYS}
    return options


def connect_args_for(url: str | URL) -> dict[str, Any]:
    """Only the app's ``connect_args`` for ``url`` (what a dump tool can be told about)."""
    args = for_url(url).get("connect_args")
    return dict(args) if isinstance(args, Mapping) else {}


def engine_kwargs(url: str | URL, connect_args: Mapping[str, Any]) -> dict[str, Any]:
    """``create_engine`` keywords: the app's options, with the tool's ``connect_args`` on top.

    The tool's own (its connect timeout) win over the app's for the same key: they are what
    ``SAFEMIGRATE_CONNECT_TIMEOUT`` promises.
    """
    options = for_url(url)
    merged = {**connect_args_for(url), **connect_args}
    options["connect_args"] = merged
    return options
