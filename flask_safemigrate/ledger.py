"""The applied-migration ledger: one row per revision applied, reverted or attempted.

``safe-upgrade`` writes a row for every revision it runs (the table and its columns are a
contract: docs/architecture.md); ``verify`` reads them to find scripts edited after they were
applied (``edited-after-apply``) and revisions whose last attempt failed (``failed-migration``).
The table lives in the version table's schema, is created on first write, and is never part of
the app's metadata, so autogenerate and drift reports do not see it.

Columns: ``id`` (insertion order; not a contract column, but every table needs a primary
key and timestamps are too coarse to order two rows written in the same second), ``revision``,
``direction`` (``upgrade`` | ``downgrade`` | ``accept`` | ``resolve``), ``checksum`` (sha256
hex of the script's text with line endings normalised to LF, trailing whitespace and trailing
blank lines removed: :func:`checksum`; older rows hold the sha256 of the bytes, still
valid), ``started_at`` and ``finished_at`` (UTC, stored without a time zone so the three
databases agree), ``duration_ms``, ``success``, ``applied_by`` (``user@host``) and ``error``
(one line, for failed attempts; an ``accept`` row's reason).

An ``accept`` row re-records the checksum of an applied revision after a purely cosmetic edit
(a comment, formatting): see :func:`accept`. A ``resolve`` row says that someone repaired what
a failed attempt left behind (``flask db safe-upgrade --resolved REV``), so the failure no
longer blocks the next run.

A failed row's ``error`` ends with what the failure left (:func:`failure_text`): ``[left:
nothing]``, ``[left: N statements: ...]`` or ``[left: unknown]``. A failure that left nothing
(its transaction rolled back) is followed at once by a ``resolve`` row written by
safe-upgrade itself (:data:`AUTO_RESOLVED`): nobody needs to repair anything, so nothing
blocks the next run. Rows written before this suffix existed read as ``unknown``
(:func:`left_of`).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = [
    "AUTO_RESOLVED",
    "DIRECTIONS",
    "FLEET_TABLE",
    "LEDGER_TABLE",
    "TABLE",
    "Direction",
    "Entry",
    "accept",
    "applied_by",
    "checksum",
    "create",
    "exists",
    "failure_text",
    "ledger_table",
    "left_of",
    "matches",
    "matches_data",
    "read_entries",
    "record",
    "resolve",
]

#: The table's name; autogenerate, drift checks and snapshots always leave it out.
LEDGER_TABLE: Final = "safemigrate_ledger"
#: The fleet table (:mod:`flask_safemigrate.fleet.table`): kept out of autogenerate and drift too.
FLEET_TABLE: Final = "safemigrate_fleet"

Direction = Literal["upgrade", "downgrade", "accept", "resolve"]
DIRECTIONS: Final[tuple[Direction, ...]] = ("upgrade", "downgrade", "accept", "resolve")

_metadata = sa.MetaData()

#: The ledger in the default schema; :func:`ledger_table` gives it in another schema.
TABLE: Final = sa.Table(
    LEDGER_TABLE,
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("revision", sa.String(255), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("checksum", sa.String(64), nullable=True),
    sa.Column("started_at", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=True),
    sa.Column("success", sa.Boolean(), nullable=False),
    sa.Column("applied_by", sa.String(255), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Index("ix_safemigrate_ledger_revision", "revision"),
)

_by_schema: dict[str, sa.Table] = {}


def ledger_table(schema: str | None = None) -> sa.Table:
    """The ledger ``Table`` in ``schema`` (``None``: the connection's default schema)."""
    if schema is None:
        return TABLE
    table = _by_schema.get(schema)
    if table is None:
        table = TABLE.to_metadata(sa.MetaData(), schema=schema)
        _by_schema[schema] = table
    return table


@dataclass(frozen=True)
class Entry:
    """One ledger row. Timestamps are UTC and time-zone aware."""

    id: int
    revision: str
    direction: str
    checksum: str | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    success: bool
    applied_by: str | None
    error: str | None


def checksum(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of the script with cosmetic whitespace taken out.

    Line endings are normalised to ``\\n``, each line loses its trailing spaces and tabs, and
    trailing blank lines go: a checkout with ``core.autocrlf``, a Windows editor or an editor
    that trims whitespace on save changes no statement, so it must not read as an edit of an
    applied migration. Digests recorded by older versions (the raw bytes, or the bytes with
    normalised line endings) stay valid: :func:`matches` accepts them too.
    """
    return hashlib.sha256(_canonical(Path(path).read_bytes())).hexdigest()


def _normalised(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _canonical(data: bytes) -> bytes:
    """The text :func:`checksum` digests: LF endings, no trailing whitespace on any line, no
    trailing blank lines, one final newline (an empty file stays empty)."""
    lines = [line.rstrip(b" \t\f\v") for line in _normalised(data).split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    return b"\n".join(lines) + b"\n" if lines else b""


def matches(path: str | os.PathLike[str], recorded: str) -> bool:
    """Whether ``recorded`` is a checksum of the script as it is now, whitespace aside.

    Accepted: :func:`checksum` (the canonical text), and what earlier versions recorded
    for the same file: the sha256 of the raw bytes, of the bytes with line endings
    normalised to ``\\n``, and of the ``\\r\\n`` form (a raw digest recorded from a CRLF
    checkout, now read from an LF one). An old digest cannot see through a later
    whitespace-only edit (the old text is gone); the next ``upgrade`` or ``accept`` row
    records the canonical form, which does.
    """
    return matches_data(Path(path).read_bytes(), recorded)


def matches_data(data: bytes, recorded: str) -> bool:
    """:func:`matches` for a script's bytes (a version read from git, say)."""
    normal = _normalised(data)
    candidates = (_canonical(data), data, normal, normal.replace(b"\n", b"\r\n"))
    return any(hashlib.sha256(c).hexdigest() == recorded for c in candidates)


#: The ``error`` text of the ``resolve`` row safe-upgrade writes after a failure that left
#: nothing behind.
AUTO_RESOLVED: Final = (
    "resolved by safe-upgrade: the failure left nothing behind (its transaction rolled back)"
)

_LEFT = re.compile(r" \[left: (?P<left>nothing|unknown|\d+ statements?(?:: .*)?)\]$", re.DOTALL)


def failure_text(reason: str, left: str, statements: Sequence[str] = ()) -> str:
    """A failed row's ``error``: the reason, then what the failure left (``[left: ...]``)."""
    if left == "statements" and statements:
        count = f"{len(statements)} statement{'' if len(statements) == 1 else 's'}"
        shown = "; ".join(" ".join(s.split())[:200] for s in statements)
        return f"{reason} [left: {count}: {shown}]"
    if left == "statements":
        return f"{reason} [left: unknown]"
    return f"{reason} [left: {left}]"


def left_of(error: str | None) -> str:
    """What a failed row says its failure left: ``nothing``, ``statements`` or ``unknown``
    (a row written before the ledger said so, or a text without the suffix)."""
    found = _LEFT.search(error or "")
    if found is None:
        return "unknown"
    left = found["left"]
    return left if left in ("nothing", "unknown") else "statements"


def applied_by() -> str:
    """``user@host`` of this process (``unknown`` for a part that cannot be found)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no USER/LOGNAME variable
        user = "unknown"
    return f"{user}@{socket.gethostname() or 'unknown'}"


def exists(connection: Connection, schema: str | None = None) -> bool:
    """Whether the ledger table exists (a fresh inspector: no cache survives DDL)."""
    return sa.inspect(connection).has_table(LEDGER_TABLE, schema=schema)


def create(connection: Connection, schema: str | None = None) -> None:
    """Create the ledger table (and its index) unless it exists."""
    ledger_table(schema).create(connection, checkfirst=True)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def record(
    connection: Connection,
    *,
    revision: str,
    direction: Direction,
    checksum: str | None,
    started_at: datetime,
    finished_at: datetime | None = None,
    success: bool,
    error: str | None = None,
    who: str | None = None,
    schema: str | None = None,
    ensure_table: bool = True,
    witness: str | None = None,
) -> bool | None:
    """Insert one row, creating the table first when needed.

    ``ensure_table=False`` skips the existence check for a caller that created the table
    already (safe-upgrade writes one row per revision and should not inspect each time).

    ``witness`` (PostgreSQL): an SQL boolean expression the insert returns (``RETURNING``), so
    the caller learns it in the same round trip; its value is returned (``None`` when it was
    not asked, or on an app's ``schema_translate_map``, whose insert is compiled: ask apart).
    safe-upgrade passes the migration lock's :attr:`.HeldLock.witness`.

    Naive datetimes are taken as UTC. ``duration_ms`` is computed from the two timestamps;
    ``who`` defaults to :func:`applied_by`. The caller owns the transaction (commit it).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    if ensure_table:
        create(connection, schema)
    started = _naive_utc(started_at)
    finished = _naive_utc(finished_at) if finished_at is not None else None
    duration = round((finished - started).total_seconds() * 1000) if finished is not None else None
    values: Mapping[str, Any] = {
        "revision": revision,
        "direction": direction,
        "checksum": checksum,
        "started_at": started,
        "finished_at": finished,
        "duration_ms": duration,
        "success": success,
        "applied_by": who if who is not None else applied_by(),
        "error": error,
    }
    if connection.get_execution_options().get("schema_translate_map"):
        # The app maps schemas at execution (a tenant per schema): only a compiled statement
        # is translated, and the row must go where read_entries will look.
        connection.execute(ledger_table(schema).insert(), values)
        return None
    sql, order, processors = _insert_of(connection.dialect, schema)
    params = {
        name: processors[name](value) if name in processors else value
        for name, value in values.items()
    }
    arguments = tuple(params[n] for n in order) if order else params
    if witness is None:
        connection.exec_driver_sql(sql, arguments)
        return None
    return bool(connection.exec_driver_sql(f"{sql} RETURNING {witness}", arguments).scalar())


#: Per dialect and schema: the ledger's INSERT as the driver takes it (see :func:`_insert_of`).
_inserts: weakref.WeakKeyDictionary[
    sa.Dialect, dict[str | None, tuple[str, tuple[str, ...], dict[str, Callable[[Any], Any]]]]
] = weakref.WeakKeyDictionary()


def _insert_of(
    dialect: sa.Dialect, schema: str | None
) -> tuple[str, tuple[str, ...], dict[str, Callable[[Any], Any]]]:
    """The INSERT of one row, compiled once per dialect and schema: its SQL, the order of
    its parameters (for a positional paramstyle, else empty) and the columns' bind
    processors (SQLite's text datetimes, booleans as integers).

    safe-upgrade writes one row per revision inside the revision's transaction; run through
    ``exec_driver_sql``, a row costs a third of the CPU of ``execute(insert)`` (no cache
    lookup of the compiled statement, no ``RETURNING id`` nobody reads: :meth:`~sa.Insert.inline`)
    and still passes the engine's events (the session label, the statement recorder).
    """
    per_schema = _inserts.setdefault(dialect, {})
    if schema not in per_schema:
        table = ledger_table(schema)
        columns = [column for column in table.columns if column.name != "id"]
        # inline(): no implicit ``RETURNING id`` (nobody reads it; a witness takes its place).
        compiled = (
            table.insert()
            .inline()
            .compile(dialect=dialect, column_keys=[column.name for column in columns])
        )
        processors: dict[str, Callable[[Any], Any]] = {}
        for column in columns:
            # The dialect's own type (SQLite's DATETIME writes text): the generic type has no
            # processor, which left datetimes to sqlite3's default adapter, deprecated in 3.12.
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[column.name] = processor
        order = tuple(compiled.positiontup or ()) if compiled.positional else ()
        per_schema[schema] = (str(compiled), order, processors)
    return per_schema[schema]


def accept(
    connection: Connection,
    *,
    revision: str,
    path: str | os.PathLike[str],
    schema: str | None = None,
    reason: str | None = None,
) -> str:
    """Re-record the checksum of an applied revision after a cosmetic edit; returns it.

    Only for edits that change nothing the database sees (comments, formatting): the row
    tells ``verify`` that the current file is the one that counts from now on. ``reason``
    (why the reviewer accepted it) is kept in the row's ``error`` column, the ledger's one
    text column: an ``accept`` row is a success, so no check reads it as an error.
    ``flask db ledger accept REV --reason TEXT`` calls this.
    """
    now = datetime.now(UTC)
    digest = checksum(path)
    record(
        connection,
        revision=revision,
        direction="accept",
        checksum=digest,
        started_at=now,
        finished_at=now,
        success=True,
        error=reason,
        schema=schema,
    )
    return digest


def resolve(connection: Connection, *, revision: str, schema: str | None = None) -> None:
    """Record that someone repaired what a failed attempt at ``revision`` left behind.

    The failure stops blocking ``safe-upgrade`` (``--resolved REV`` writes this row); the
    revision itself is not marked applied: the version table still decides that.
    """
    now = datetime.now(UTC)
    record(
        connection,
        revision=revision,
        direction="resolve",
        checksum=None,
        started_at=now,
        finished_at=now,
        success=True,
        schema=schema,
    )


def read_entries(connection: Connection, schema: str | None = None) -> list[Entry]:
    """Every row in insertion order; ``[]`` when the ledger table does not exist."""
    if not exists(connection, schema):
        return []
    table = ledger_table(schema)
    rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings()
    entries = []
    for row in rows:
        started = _aware_utc(row["started_at"])
        assert started is not None  # NOT NULL column
        entries.append(
            Entry(
                id=int(row["id"]),
                revision=str(row["revision"]),
                direction=str(row["direction"]),
                checksum=row["checksum"],
                started_at=started,
                finished_at=_aware_utc(row["finished_at"]),
                duration_ms=row["duration_ms"],
                success=bool(row["success"]),
                applied_by=row["applied_by"],
                error=row["error"],
            )
        )
    return entries
