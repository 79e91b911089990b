"""Connecting with a timeout and retries, reading the version table, and masking URLs.

Every message that names a database goes through :func:`mask_url`: a password must never reach
a terminal, a CI log or a JSON report.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import quote, quote_plus

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import NullPool

from flask_safemigrate import app_engine_options, faults, sessions
from flask_safemigrate.errors import DatabaseUnreachable
from flask_safemigrate.revision_ids import STOCK_VERSION_WIDTH
from flask_safemigrate.safe_text import driver_text

_T = TypeVar("_T")

#: MariaDB/MySQL errors that mean "a concurrent DDL statement changed this table under your
#: transaction; try again": 1412 (table definition has changed, please retry transaction)
#: and 1684 (being modified by a concurrent DDL statement). On a first run, replicas reading
#: the version table and the ledger while the lock holder creates them see these.
TRANSIENT_DDL_ERRORS = frozenset({1412, 1684})
#: Errors that say the login lacks a privilege: PostgreSQL 42501, MySQL 1044/1142/1143/1227.
PRIVILEGE_ERRORS = frozenset({1044, 1142, 1143, 1227})

DIALECT_NAMES = {
    "postgresql": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}


#: URL query keys whose value is a credential (psycopg/libpq and PyMySQL accept a password
#: there). Paths such as ``sslkey`` or ``sslrootcert`` are not secrets and stay visible.
CREDENTIAL_KEYS = frozenset({"password", "passwd", "pwd", "sslpassword"})
#: A secret at least this long is also masked wherever it appears verbatim. A shorter one is
#: masked only where it is structurally a credential: replacing every ``e`` of a message
#: would mangle it (``Und***fin***dTabl***``) and give the password away.
VERBATIM_MIN_LENGTH = 8
MASK = "***"

_MASKED_URL = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*):(?P<secret>[^\s@/]*)@"
)
_KEYS = "|".join(sorted(CREDENTIAL_KEYS))
_KEY_VALUE = re.compile(
    # key=value (libpq conninfo, URL queries) or a quoted key and a colon (JSON, a dict's
    # repr); a bare "password: YES" is MySQL's wording, not a credential.
    rf"""(?P<head>(?<![\w-])(?:(?:{_KEYS})\s*=|(?P<q>["'])(?:{_KEYS})(?P=q)\s*:)\s*)"""
    r"""(?P<secret>'[^']*'|"[^"]*"|[^\s&;,)'"]+)""",
    re.IGNORECASE,
)


def _query_secrets(url: URL) -> list[str]:
    found: list[object] = []
    for key, value in url.query.items():
        if key.lower() in CREDENTIAL_KEYS:
            found.extend(value if isinstance(value, tuple) else [value])
    return [str(v) for v in found if v]


#: Stands in for ``***`` while SQLAlchemy renders the URL (it would percent-encode ``*``).
_PLACEHOLDER = "SMxMASKEDxSM"


def _masked(url: URL) -> str:
    if url.password is not None:
        url = url.set(password=_PLACEHOLDER)
    hidden = {key: _PLACEHOLDER for key in url.query if key.lower() in CREDENTIAL_KEYS}
    if hidden:
        url = url.update_query_dict(hidden)
    return url.render_as_string(hide_password=False).replace(_PLACEHOLDER, MASK)


def mask_url(url: str | URL) -> str:
    """The URL with every credential replaced by ``***`` (and unparsable input withheld).

    The password of ``user:password@`` and the value of each query key in
    :data:`CREDENTIAL_KEYS` (``?password=...``, ``?sslpassword=...``) are masked; the rest of
    the URL (host, port, database, ``sslkey`` paths) stays readable. Query keys the app's
    engine added to its configured URL are left out
    (:func:`~flask_safemigrate.app_engine_options.as_configured`).
    """
    try:
        return _masked(app_engine_options.as_configured(make_url(url)))
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return "<unparsable database URL>"


def secrets_of(url: str | URL) -> list[str]:
    """The credentials a URL carries: its password and credential query values."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return []
    found = [str(parsed.password)] if parsed.password else []
    return found + _query_secrets(parsed)


def mask_text(text: str, url: str | URL) -> str:
    """``text`` with credentials masked where a driver or a message echoed them.

    Structured, not by substring: the password part of every ``scheme://user:password@`` URL
    in the text and the value of every ``password=...`` / ``"passwd": "..."`` pair (whatever
    their value) become ``***``. Beyond that, a secret of ``url`` at least
    :data:`VERBATIM_MIN_LENGTH` long is masked wherever it appears verbatim (raw or
    URL-encoded): a random string that long does not occur by chance, while a short one
    would mangle ordinary words.
    """
    text = _MASKED_URL.sub(lambda m: f"{m['head']}:{MASK}@", text)
    text = _KEY_VALUE.sub(lambda m: m["head"] + MASK, text)
    for secret in secrets_of(url):
        if len(secret) < VERBATIM_MIN_LENGTH:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, MASK)
    return text


def dialect_of(url: str | URL) -> str | None:
    """``postgresql``, ``mysql`` or ``sqlite`` for a URL, ``None`` for anything else."""
    try:
        backend = make_url(url).get_backend_name()
    except (sa.exc.ArgumentError, ValueError, TypeError):
        return None
    return DIALECT_NAMES.get(backend)


def _connect_args(url: URL, timeout: float) -> dict[str, object]:
    backend = url.get_backend_name()
    seconds = max(1, round(timeout))
    if backend == "postgresql":
        return {"connect_timeout": seconds}
    if backend in {"mysql", "mariadb"}:
        return {"connect_timeout": seconds}
    if backend == "sqlite":
        return {"timeout": timeout}
    return {}


def _unreachable_hint(url: URL) -> str:
    """What to check: SQLite has no server or credentials, only a file and its directory."""
    if url.get_backend_name() == "sqlite":
        where = Path(url.database or "").parent
        return (
            f"check that the directory {str(where)!r} exists and is writable, and the path in"
            " the URL (sqlite:///relative or sqlite:////absolute)"
        )
    return (
        "check that the server is up, the URL and the credentials; to wait longer, set the app"
        ' config keys app.config["SAFEMIGRATE_CONNECT_TIMEOUT"] (seconds per attempt) and'
        ' app.config["SAFEMIGRATE_CONNECT_RETRIES"] (attempts after the first), not'
        " environment variables"
    )


#: MariaDB/MySQL errors of a server that is up and said no: access denied (to the server, to
#: the database, by the auth plugin) and unknown database. Retrying changes none of them.
_MYSQL_REFUSED = frozenset({1044, 1045, 1049, 1698})
#: What PostgreSQL's FATAL says for the same (psycopg gives no SQLSTATE for a failed connect).
#: "too many clients" and "starting up" are FATAL too, but pass: they are worth a retry.
_POSTGRES_REFUSED = (
    "password authentication failed",
    "authentication failed for user",
    "no pg_hba.conf entry",
    "does not exist",
    "permission denied for database",
)


def refused_login(error: BaseException) -> bool:
    """Whether the server answered and refused the login (credentials, role, database).

    A wrong password or database name is not a server that is down: retrying it with backoff
    only delays the one line that says what to fix.
    """
    if mysql_error_code(error) in _MYSQL_REFUSED:
        return True
    text = str(getattr(error, "orig", None) or error)
    return "FATAL" in text and any(words in text for words in _POSTGRES_REFUSED)


def _sqlite_cannot_open(url: URL, error: BaseException) -> bool:
    """SQLite could not open (or create) the file: a folder that does not exist, a file or
    folder without permission. Unlike a busy server, retrying with backoff changes nothing."""
    if url.get_backend_name() != "sqlite":
        return False
    return "unable to open database file" in str(getattr(error, "orig", None) or error)


def refused_hint(url: URL) -> str:
    """What to fix when :func:`refused_login` says the server answered and said no (every
    command and the pytest plugin word it the same)."""
    return (
        "the server is up and refused the login: check the user, the password and the database"
        f" name ({url.database!r}) in the URL, and that the user may connect to that database"
    )


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL opens, or ``None`` (another dialect, an in-memory database, or
    a ``file:`` URI, whose mode SQLite reads from the URI itself)."""
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database or ""
    query = {key.lower(): str(value).lower() for key, value in url.query.items()}
    if name in {"", ":memory:"} or query.get("uri") == "true" or name.startswith("file:"):
        return None
    return Path(name)


def refuse_missing_sqlite_file(url: str | URL) -> None:
    """Raise :class:`DatabaseUnreachable` (exit 3) when ``url`` is a SQLite file that does not
    exist: what a command that only reads checks before it opens one (opening creates it)."""
    url = make_url(url)
    path = sqlite_file(url)
    if path is None or path.exists() or not path.parent.is_dir():
        return  # a missing folder: SQLite's own "unable to open" creates nothing either
    raise DatabaseUnreachable(
        f"no SQLite database at {path} (no such file; not created)",
        hint="this command only reads, so it created nothing: check the path in the URL"
        " (Flask-SQLAlchemy puts a relative sqlite:///name.db of SQLALCHEMY_DATABASE_URI in the"
        " app's instance folder); `flask db safe-upgrade` creates the database",
        data={"database": mask_url(url)},
    )


def _first_line(error: BaseException) -> str:
    text = driver_text(getattr(error, "orig", None) or error)
    return text.splitlines()[0] if text else type(error).__name__


@contextmanager
def connect(
    url: str | URL,
    *,
    timeout: float,
    retries: int,
    sleep: Callable[[float], None] = time.sleep,
    purpose: str = "check",
    read_only: bool = False,
) -> Iterator[Connection]:
    """A connection on the tool's own engine, tried ``1 + retries`` times with exponential
    backoff.

    The app's pooled engine is left alone: the timeout must apply to this connection only, and
    a migrator must not hold one of the app's pool slots. The connection carries the
    :mod:`.sessions` label for ``purpose``, so the server shows whose session it is. Inside
    :func:`reusing` a ``check`` connection comes from that block's pool (see there); any
    other is new and closed at the end of the with-block.

    ``read_only`` (a command that only reads: verify, the ledger, a dry run): a SQLite file
    that does not exist raises :class:`DatabaseUnreachable` instead of being opened, because
    opening it would create an empty database at a mistyped path, which later commands then
    read as "at base".
    """
    parsed = make_url(url)
    if read_only:
        refuse_missing_sqlite_file(parsed)
    args = {
        **_connect_args(parsed, timeout),
        **sessions.connect_args(parsed.get_driver_name(), purpose),
    }
    kwargs = app_engine_options.engine_kwargs(parsed, args)
    scope = _reuse_scope()
    pooled = scope is not None and purpose == "check" and not _in_memory(parsed)
    engine = (
        scope.engine(parsed, kwargs) if scope is not None and pooled else _engine(parsed, kwargs)
    )
    try:
        attempt = 0
        while True:
            try:
                connection = engine.connect()
                break
            except sa.exc.DBAPIError as exc:
                refused = refused_login(exc)
                unopenable = not refused and _sqlite_cannot_open(parsed, exc)
                if attempt >= retries or refused or unopenable:
                    tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                    if refused:
                        tries += ", not retried: the server answered and refused it"
                    elif unopenable:
                        tries += ", not retried: waiting does not create a folder or a permission"
                    error = DatabaseUnreachable(
                        f"cannot connect to {mask_url(parsed)}: "
                        f"{mask_text(_first_line(exc), parsed)} ({tries})",
                        hint=refused_hint(parsed) if refused else _unreachable_hint(parsed),
                        data={"database": mask_url(parsed)},
                    )
                    error.refused = refused
                    raise error from None
                sleep(min(0.5 * 2**attempt, 10.0))
                attempt += 1
        try:
            yield connection
        except BaseException:
            if pooled and not connection.closed:  # what went wrong stays with it: not reused
                with suppress(sa.exc.SQLAlchemyError):
                    connection.invalidate()
            raise
        finally:
            connection.close()  # pooled: back to the block's pool, rolled back
    finally:
        if not pooled:
            engine.dispose()  # NullPool: nothing pooled; the engine stays for the next connect


#: The unpooled engines :func:`connect` made, by URL and options, the most recent last.
_ENGINES: OrderedDict[tuple[Any, ...], sa.Engine] = OrderedDict()
_ENGINES_KEPT: Final = 16
_ENGINES_MUTEX = threading.Lock()


def _engine(url: URL, kwargs: Mapping[str, Any]) -> sa.Engine:
    """An engine without a pool for ``url`` and ``kwargs``, made once per process.

    A run connects a dozen times to the same database (pre-flight's reads, the lock, the
    checks under it, the drift check). Each connection is still new (``NullPool``: none is
    kept, so a timeout or a label never carries over); only the engine is kept, so the
    dialect's first-connect setup (server version and settings, a few queries and some
    milliseconds of CPU) is made once instead of every time.
    """
    key = _key(url, kwargs)
    with _ENGINES_MUTEX:  # threads of one process (tests, an app's own workers) share it
        engine = _ENGINES.get(key)
        if engine is None:
            engine = sa.create_engine(url, poolclass=NullPool, **kwargs)
            _ENGINES[key] = engine
            while len(_ENGINES) > _ENGINES_KEPT:
                _ENGINES.popitem(last=False)[1].dispose()
        else:
            _ENGINES.move_to_end(key)
        return engine


def _key(url: URL, kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    return (url.render_as_string(hide_password=False), _frozen(kwargs))


#: The pooled engines of :func:`reusing`, by thread, URL and options, the most recent last:
#: kept between blocks (their dialect's first-connect setup and compiled statements), never
#: a connection (a block closes its own when it ends).
_POOLED: OrderedDict[tuple[Any, ...], sa.Engine] = OrderedDict()
_POOLED_KEPT: Final = 16
#: The keys of :data:`_POOLED` a block uses now (never let go of while it does).
_IN_USE: set[tuple[Any, ...]] = set()


class _Reuse:
    """The pooled engines one :func:`reusing` block uses: its thread's own, so that no other
    thread ever holds one of their connections."""

    def __init__(self) -> None:
        self.engines: dict[tuple[Any, ...], sa.Engine] = {}

    def engine(self, url: URL, kwargs: Mapping[str, Any]) -> sa.Engine:
        """One connection kept (a second one at the same time is opened and closed), pinged
        before each reuse, so that one the server ended meanwhile is replaced."""
        key = (threading.get_ident(), *_key(url, kwargs))
        engine = self.engines.get(key)
        if engine is not None:
            return engine
        with _ENGINES_MUTEX:
            engine = _POOLED.pop(key, None)
            if engine is None:
                engine = sa.create_engine(
                    url, pool_size=1, max_overflow=-1, pool_pre_ping=True, **kwargs
                )
            _POOLED[key] = engine
            _IN_USE.add(key)
            idle = [old for old in _POOLED if old not in _IN_USE]
            for old in idle[: max(0, len(_POOLED) - _POOLED_KEPT)]:
                _POOLED.pop(old).dispose()
        self.engines[key] = engine
        return engine

    def close_idle(self) -> None:
        for engine in self.engines.values():
            engine.dispose()  # closes what is idle in its pool; the engine stays usable

    def end(self) -> None:
        self.close_idle()
        with _ENGINES_MUTEX:
            _IN_USE.difference_update(self.engines)


_REUSE = threading.local()


def _reuse_scope() -> _Reuse | None:
    scope: _Reuse | None = getattr(_REUSE, "scope", None)
    return scope


def _in_memory(url: URL) -> bool:
    """SQLite's in-memory database: each connection is a database of its own."""
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


@contextmanager
def reusing() -> Iterator[None]:
    """Within the block, this thread's ``check`` connections (:func:`connect`) are kept and
    reused, one per database, instead of a new one each time.

    A safe-upgrade reads each database a dozen times in a few seconds; each new connection
    costs a login (~5 ms on PostgreSQL, and the first catalog queries) and the server a
    backend. A kept one is rolled back and reset when its with-block ends, as closing it
    would, and pinged before its next use, so one the server ended meanwhile is replaced by a
    new one as before; one whose with-block raised is never reused. The lock's connection
    (``purpose="lock"``) is always its own. The caller calls :func:`close_idle` before
    anything that may take long (waiting for a lock, a backup, applying), so that no
    connection sits idle through it; everything kept is closed when the block ends. A block
    inside another is part of it; other threads are not in it.
    """
    if _reuse_scope() is not None:
        yield
        return
    scope = _REUSE.scope = _Reuse()
    try:
        yield
    finally:
        _REUSE.scope = None
        scope.end()


def close_idle() -> None:
    """Close the connections :func:`reusing` keeps idle (none outside its block)."""
    scope = _reuse_scope()
    if scope is not None:
        scope.close_idle()


def _frozen(value: Any) -> Any:
    """``value`` as a hashable key: plain values as they are, containers item by item, any
    other object (a ``creator``, an SSL context) by identity."""
    if value is None or isinstance(value, str | int | float | bool | bytes):
        return value
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("seq", tuple(_frozen(item) for item in value))
    return ("object", id(value))


def current_revisions(
    connection: Connection, *, version_table: str = "alembic_version", schema: str | None = None
) -> tuple[str, ...]:
    """The revisions the version table holds (empty for a fresh database)."""
    context = MigrationContext.configure(
        connection,
        opts={"version_table": version_table, "version_table_schema": schema},
    )
    # str(): a version_num column someone made INTEGER yields ints, which no script names
    return tuple(sorted(str(head) for head in context.get_current_heads()))


def version_column_width(
    connection: Connection, *, version_table: str = "alembic_version", schema: str | None = None
) -> int | None:
    """How many characters the version table's ``version_num`` holds; ``None``: no limit.

    A database without the table gets Alembic's ``String(32)`` on the first upgrade, so that
    is the answer then. SQLite does not enforce a declared length, but the width is still
    what the column says, so an id that only SQLite accepts is caught before production.
    """
    inspector = sa.inspect(connection)
    if not inspector.has_table(version_table, schema=schema):
        return STOCK_VERSION_WIDTH
    for column in inspector.get_columns(version_table, schema=schema):
        if column["name"].lower() == "version_num":
            length = getattr(column["type"], "length", None)
            return length if isinstance(length, int) and length > 0 else None
    return None


def mysql_error_code(error: BaseException) -> int | None:
    """The MariaDB/MySQL error number of a (wrapped) driver error, else ``None``."""
    args = getattr(getattr(error, "orig", None), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_transient_ddl(error: BaseException) -> bool:
    """Whether a concurrent DDL statement made this read fail (see TRANSIENT_DDL_ERRORS)."""
    return mysql_error_code(error) in TRANSIENT_DDL_ERRORS


def is_privilege_error(error: BaseException) -> bool:
    """Whether the database refused the statement for lack of a privilege."""
    if getattr(getattr(error, "orig", None), "sqlstate", None) == "42501":
        return True
    return mysql_error_code(error) in PRIVILEGE_ERRORS


def is_transient(error: BaseException) -> bool:
    """Whether a read failed for a passing reason worth another try: a concurrent DDL
    statement (see TRANSIENT_DDL_ERRORS) or a connection that dropped under it."""
    return is_transient_ddl(error) or faults.is_connection_lost(error)


def error_help(error: BaseException, reason: str) -> str:
    """What to do about a database error outside any revision: by its kind, not a guess.

    Transient errors say so (they were retried already); only a refused privilege sends
    the reader to the account's privileges.
    """
    if "database is locked" in reason:
        return (
            "another connection holds a lock on the database: let it finish, or raise the app"
            ' config key app.config["SAFEMIGRATE_CONNECT_TIMEOUT"] (how long SQLite waits for a'
            " lock; not an environment variable)"
        )
    if is_transient_ddl(error):
        return (
            "another migrator changed this table while this run read it (a first run creating"
            " the version table or the ledger); nothing was changed: run the command again"
        )
    if faults.is_connection_lost(error):
        return (
            "the connection dropped while reading (a server restart or failover, a proxy or"
            " network timeout); nothing was changed: run the command again once the server"
            " answers"
        )
    if is_privilege_error(error):
        return "grant the account the privileges the error names on the version table and schema"
    return "see the database's error above; `flask db verify` shows where the database stands"


def retry_transient(
    read: Callable[[], _T], *, attempts: int = 6, sleep: Callable[[float], None] = time.sleep
) -> _T:
    """``read()``, again (a fresh connection and transaction each time: ``read`` opens its
    own) while it fails with a transient error (:func:`is_transient`), up to ``attempts``
    times in all.

    Only for reads: the failed attempt's transaction is gone with its connection.
    """
    attempt = 1
    while True:
        try:
            return read()
        except sa.exc.DBAPIError as exc:
            if attempt >= attempts or not is_transient(exc):
                raise
        sleep(min(0.05 * 2**attempt, 2.0))
        attempt += 1
