"""Every ``SAFEMIGRATE_*`` setting, its default, and its validation, in one place.

The docs site's settings table (docs/settings.md) is generated from :data:`SPECS`, so a key cannot
be added here without being documented there. Values may come from Python (``app.config``)
or from the environment as strings (``"30"``, ``"false"``), so parsers accept both.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask_safemigrate.errors import ConfigError

PREFIX = "SAFEMIGRATE_"
DIALECTS = ("auto", "postgresql", "mysql", "sqlite")
SEVERITIES = ("error", "warning", "info")
COMPAT_MODES = ("block", "warn", "off")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _Invalid(ValueError):
    """Raised by a parser with the reason only; the caller adds the key and the value."""


def _number(value: Any, kind: str = "a finite number") -> float:
    """A number >= 0; ``kind`` names what was expected (a count says "a whole number")."""
    if isinstance(value, bool):
        raise _Invalid("expected a number, not a boolean")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _Invalid("expected a number") from None
    else:
        raise _Invalid("expected a number")
    if number != number or number < 0 or number == float("inf"):
        raise _Invalid(f"expected {kind} >= 0")
    return number


def _seconds(value: Any) -> float:
    return _number(value)


def _optional_seconds(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "none"}):
        return None
    return _number(value)


def _count(value: Any) -> int:
    number = _number(value, "a whole number")
    if number != int(number):
        raise _Invalid("expected a whole number >= 0")
    return int(number)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _Invalid("expected true or false")


def _optional_bool(value: Any) -> bool | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in {"", "auto"}):
        return None
    return _bool(value)


def _optional_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("expected a non-empty name")
    return value.strip()


#: PostgreSQL keeps identifiers of at most NAMEDATALEN - 1 bytes and truncates longer ones.
SCHEMA_MAX_BYTES = 63
_SCHEMA_NAME = re.compile(r"[^\W\d][\w$]*")


def _optional_schema(value: Any) -> str | None:
    """A schema name the server keeps as given and every statement can quote.

    Refused here, before anything connects: a name PostgreSQL would silently truncate (the
    tool would then look for a schema that does not exist after creating another), a name
    with quotes, spaces or other characters that end up inside SQL literals and identifiers,
    and the system schemas (``pg_*`` is reserved, ``information_schema`` belongs to the
    server): migrating the app into one of those is never what was meant.
    """
    name = _optional_name(value)
    if name is None:
        return None
    if not _SCHEMA_NAME.fullmatch(name):
        raise _Invalid(
            "expected a plain schema name: letters, digits, _ and $, not starting with a digit"
        )
    size = len(name.encode("utf-8"))
    if size > SCHEMA_MAX_BYTES:
        raise _Invalid(
            f"{size} bytes is longer than PostgreSQL keeps ({SCHEMA_MAX_BYTES}); it would"
            " be truncated"
        )
    if name.lower().startswith("pg_") or name.lower() == "information_schema":
        raise _Invalid("that is a system schema of the server; name the app's own schema")
    return name


_CALLABLE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def _optional_callable(value: Any) -> str | None:
    """``"package.module:callable"``, checked for its shape only: it is imported when a fleet
    command runs (:mod:`flask_safemigrate.fleet.targets`), never at ``init_app``."""
    name = _optional_name(value)
    if name is None:
        return None
    if not _CALLABLE.fullmatch(name):
        raise _Invalid('expected "package.module:callable"')
    return name


def _optional_names(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset) or not all(
        isinstance(item, str) for item in items
    ):
        raise _Invalid("expected a list of strings")
    return tuple(item.strip() for item in items if item.strip())


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in choices:
            raise _Invalid(f"expected one of {', '.join(choices)}")
        return value.strip().lower()

    return parse


def _optional_choice(choices: tuple[str, ...]) -> Callable[[Any], str | None]:
    def parse(value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or value.strip().lower() not in choices:
            raise _Invalid(f"expected one of {', '.join(choices)}")
        return value.strip().lower()

    return parse


_SQLALCHEMY = re.compile(r"\d+\.\d+(?:\.\w+)*")


def _optional_version(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SQLALCHEMY.fullmatch(value.strip()):
        raise _Invalid('expected a version such as "1.4"')
    return value.strip()


def _optional_severity_map(value: Any) -> tuple[tuple[str, str], ...] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _Invalid("expected a mapping of rule name or code to error, warning or info")
    out = []
    for rule, severity in value.items():
        if not isinstance(rule, str) or not isinstance(severity, str):
            raise _Invalid("expected a mapping of rule name or code to error, warning or info")
        if severity.lower() not in SEVERITIES:
            raise _Invalid(f"severity of {rule!r} must be one of {', '.join(SEVERITIES)}")
        out.append((rule, severity.lower()))
    return tuple(sorted(out))


@dataclass(frozen=True)
class Spec:
    """One setting: its Flask key suffix, default, parser, and what it means (the docs table)."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    meaning: str

    @property
    def key(self) -> str:
        return PREFIX + self.name.upper()


SPECS: tuple[Spec, ...] = (
    Spec("connect_timeout", 10, _seconds, "Seconds to wait for each database connection attempt."),
    Spec(
        "connect_retries", 3, _count, "Further connection attempts after the first, with backoff."
    ),
    Spec("lock_wait", 600, _seconds, "Seconds to wait for the migration lock (exit 5 after)."),
    Spec(
        "lock_timeout",
        5,
        _seconds,
        "Seconds a migration statement waits for a lock (PostgreSQL `lock_timeout`; MariaDB/MySQL"
        " `lock_wait_timeout` and `innodb_lock_wait_timeout`, whole seconds; SQLite"
        " `busy_timeout`; 0 = none).",
    ),
    Spec(
        "statement_timeout",
        None,
        _optional_seconds,
        "PostgreSQL `statement_timeout` in seconds for each statement (none by default).",
    ),
    Spec(
        "lock_retries",
        3,
        _count,
        "Retries of a revision that failed on a lock timeout, with backoff.",
    ),
    Spec(
        "lock_retry_pause",
        0.5,
        _seconds,
        "Seconds before the first of those retries; each further pause doubles, up to 10 s.",
    ),
    Spec(
        "backup",
        None,
        _optional_bool,
        "Back up before upgrading: `None` = on for SQLite, off for servers.",
    ),
    Spec(
        "backup_dir",
        None,
        _optional_name,
        "Where backups go (mode 0600); `None` = `<instance folder>/backups`.",
    ),
    Spec(
        "backup_timeout",
        3600,
        _seconds,
        "Seconds the dump tool may run; then its process group is killed, the partial file"
        " removed, exit 3 (0 = no limit).",
    ),
    Spec(
        "backup_keep",
        5,
        _count,
        "Backups of each database kept in the backup directory: after a successful run the"
        " oldest of that database's backups beyond this many are removed, never the new one"
        " nor another database's (0 = keep all).",
    ),
    Spec(
        "heartbeat",
        10,
        _seconds,
        "Seconds between signs of life: while one statement runs (elapsed, the statement,"
        " on PostgreSQL its wait event) and while waiting for the migration lock (time"
        " left); 0 = none.",
    ),
    Spec(
        "large_table_rows",
        100_000,
        _count,
        "Rows from which pre-flight calls a table large: a locking lint finding (index build"
        " without CONCURRENTLY, table rewrite, validating scan) on a smaller or not yet created"
        " table is reported at info with its size; on a large one it keeps its severity.",
    ),
    Spec(
        "max_blocker_age",
        60,
        _seconds,
        "Seconds from which another session's open transaction on a table the plan locks is"
        " named by pre-flight (id, user, application, age, query) before the lock is taken.",
    ),
    Spec("ledger", True, _bool, "Record each applied revision in `safemigrate_ledger`."),
    Spec(
        "compat",
        "block",
        _choice(COMPAT_MODES),
        "Before migrating, compare the release running now (the models safe-upgrade recorded"
        " last) with the one deployed: `block` stops a run that would break it (exit 3;"
        " `--allow-breaking` goes on and is recorded), `warn` goes on with warnings, `off`"
        " neither compares nor records.",
    ),
    Spec(
        "cancel_orphans",
        False,
        _bool,
        "End a killed migrator's statement still running on the server instead of waiting"
        " for it (within `SAFEMIGRATE_LOCK_WAIT`; exit 5 when it outlasts the wait).",
    ),
    Spec(
        "idempotent",
        True,
        _bool,
        "Autogenerate writes each op behind an existence guard.",
    ),
    Spec(
        "require_message",
        True,
        _bool,
        "Refuse an empty or generic `-m` message in `flask db migrate` / `revision`"
        " (and a generic one given to `auto-merge-heads`).",
    ),
    Spec(
        "schema",
        None,
        _optional_schema,
        "A dedicated schema for the version table, the ledger and the app's tables: a plain"
        " name of at most 63 bytes, not `pg_*` or `information_schema`.",
    ),
    Spec(
        "targets",
        None,
        _optional_callable,
        'A fleet (`safe-upgrade --fleet`): `"package.module:callable"` returning the tenants,'
        " each a PostgreSQL schema name on the app's database or a database URL.",
    ),
    Spec(
        "fleet_url",
        None,
        _optional_name,
        "Database holding `safemigrate_fleet`, each fleet run's per-target outcomes; `None` ="
        " the app's database.",
    ),
    Spec(
        "fleet_connections",
        40,
        _count,
        "Connection budget of a fleet run: `--parallel` is capped at this divided by the"
        " connections one target's run holds at once (4).",
    ),
    Spec(
        "fleet_fork",
        True,
        _bool,
        "A fleet run forks each target's process from one that has imported the libraries"
        " already (Linux; about a second of CPU saved per target); `False` starts each as a"
        " fresh `python -m flask` process.",
    ),
    Spec(
        "lint_select",
        None,
        _optional_names,
        "Lint rules (names or codes) to run; `None` = pyproject, else the defaults.",
    ),
    Spec(
        "lint_ignore",
        None,
        _optional_names,
        "Lint rules (names or codes) to skip; `None` = pyproject, else none.",
    ),
    Spec(
        "lint_severity",
        None,
        _optional_severity_map,
        "Severity overrides, e.g. `{'drop-column': 'warning'}`; `None` = pyproject.",
    ),
    Spec(
        "lint_fail_on",
        None,
        _optional_choice(SEVERITIES),
        "Lowest severity that fails `lint`; `None` = pyproject, else `error`.",
    ),
    Spec(
        "lint_dialect",
        None,
        _optional_choice(DIALECTS),
        "Dialect lint targets; `None` = pyproject, else `auto` (the app's engine).",
    ),
    Spec(
        "lint_exclude",
        None,
        _optional_names,
        "Glob patterns of scripts lint skips; `None` = pyproject, else none.",
    ),
    Spec(
        "lint_plural_tables",
        None,
        _optional_bool,
        "Whether tables are named in the plural (`singular-table-name`); `None` = pyproject,"
        " else as most of the app's models' tables are (`flask db lint`), off without them.",
    ),
    Spec(
        "lint_schema",
        None,
        _optional_name,
        "Schema `missing-schema` expects; `None` = pyproject, else `SAFEMIGRATE_SCHEMA`.",
    ),
    Spec(
        "lint_sqlalchemy",
        None,
        _optional_version,
        "SQLAlchemy the migrations run on (`1.4`): below 2, SQLAlchemy 2 removals are"
        " warnings; `None` = pyproject, else the installed one.",
    ),
    Spec(
        "lint_releases",
        None,
        _optional_choice(("off", "git-tags")),
        "Where lint reads which revisions shipped together: `git-tags` (the earliest tag"
        " holding each script), or `off`; `None` = pyproject, else `off`"
        " ([lint](commands/lint.md)).",
    ),
)

_BY_KEY = {spec.key: spec for spec in SPECS}


@dataclass(frozen=True)
class Settings:
    """The validated ``SAFEMIGRATE_*`` values of one app; read once in ``init_app``."""

    connect_timeout: float = 10
    connect_retries: int = 3
    lock_wait: float = 600
    lock_timeout: float = 5
    statement_timeout: float | None = None
    lock_retries: int = 3
    lock_retry_pause: float = 0.5
    backup: bool | None = None
    backup_dir: str | None = None
    backup_timeout: float = 3600
    backup_keep: int = 5
    heartbeat: float = 10
    large_table_rows: int = 100_000
    max_blocker_age: float = 60
    ledger: bool = True
    compat: str = "block"
    cancel_orphans: bool = False
    idempotent: bool = True
    require_message: bool = True
    schema: str | None = None
    targets: str | None = None
    fleet_url: str | None = None
    fleet_connections: int = 40
    fleet_fork: bool = True
    lint_select: tuple[str, ...] | None = None
    lint_ignore: tuple[str, ...] | None = None
    lint_severity: tuple[tuple[str, str], ...] | None = None
    lint_fail_on: str | None = None
    lint_dialect: str | None = None
    lint_exclude: tuple[str, ...] | None = None
    lint_plural_tables: bool | None = None
    lint_schema: str | None = None
    lint_sqlalchemy: str | None = None
    lint_releases: str | None = None

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Settings:
        """Validate every ``SAFEMIGRATE_*`` key of ``config``; unknown keys are refused.

        An unknown key is almost always a typo, and a typo that silently falls back to a
        default (``SAFEMIGRATE_LOCKWAIT``) is worse than an error.
        """
        for key in config:
            if isinstance(key, str) and key.startswith(PREFIX) and key not in _BY_KEY:
                close = difflib.get_close_matches(key, list(_BY_KEY), n=1)
                hint = f"did you mean {close[0]}?" if close else "see docs/settings.md"
                raise ConfigError(f"unknown setting {key}", hint=hint)
        values: dict[str, Any] = {}
        for spec in SPECS:
            raw = config.get(spec.key, spec.default)
            try:
                values[spec.name] = spec.parse(raw)
            except _Invalid as exc:
                raise ConfigError(
                    f"invalid {spec.key} = {raw!r}: {exc}",
                    hint=f"set {spec.key} to a valid value (default: {spec.default!r})",
                ) from None
        return cls(**values)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``: where a project keeps its config."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_tool_table(path: Path) -> dict[str, Any]:
    """``[tool.safemigrate]`` of a pyproject file, or ``{}`` when it has none."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"cannot read {path}: {exc}", hint="fix the file or its [tool.safemigrate] table"
        ) from None
    table = data.get("tool", {}).get("safemigrate", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.safemigrate] in {path} must be a table")
    return table
