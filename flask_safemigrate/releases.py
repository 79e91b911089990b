"""The release record: the models snapshot of each release safe-upgrade deployed (issue #19).

The next safe-upgrade compares the release recorded last (the one running now) with the
release it deploys, before it migrates (:mod:`flask_safemigrate.upgrade.compat_stage`). The
table sits beside the ledger (the version table's schema, on every database the app
migrates) and, like it, is created on first write and never part of the app's models:
autogenerate, drift checks and snapshots leave :data:`TOOL_TABLES` out. The ledger's
columns are a contract, so the record is a table of its own rather than more columns there.

Columns: ``id`` (insertion order), ``recorded_at`` (UTC, stored without a time zone as the
ledger's), ``heads`` (the revisions the database is at, comma-separated), ``checksum``
(sha256 hex of ``snapshot``), ``snapshot`` (the models snapshot's text, as ``flask db
snapshot`` renders it, of this database only; a long text type on MariaDB/MySQL, whose
``TEXT`` holds 64 KiB), ``allow_breaking`` (the run deployed past breaks because of
``--allow-breaking``), ``breaks`` (what the pre-flight found, one line each, or ``NULL``) and
``recorded_by`` (``user@host``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection

from flask_safemigrate.ledger import FLEET_TABLE, LEDGER_TABLE, applied_by

__all__ = [
    "RELEASE_TABLE",
    "TOOL_TABLES",
    "Release",
    "checksum_of",
    "create",
    "latest",
    "record",
    "release_table",
]

#: The table's name.
RELEASE_TABLE: Final = "safemigrate_release"
#: The tables SafeMigrate keeps in the app's databases (the fleet's on its control database,
#: by default the app's): never the app's own.
TOOL_TABLES: Final = frozenset({LEDGER_TABLE, RELEASE_TABLE, FLEET_TABLE})

_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

TABLE: Final = sa.Table(
    RELEASE_TABLE,
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", sa.DateTime(), nullable=False),
    sa.Column("heads", sa.String(255), nullable=False),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("snapshot", _LONG_TEXT, nullable=False),
    sa.Column("allow_breaking", sa.Boolean(), nullable=False),
    sa.Column("breaks", _LONG_TEXT, nullable=True),
    sa.Column("recorded_by", sa.String(255), nullable=True),
)

_by_schema: dict[str, sa.Table] = {}


def release_table(schema: str | None = None) -> sa.Table:
    """The table in ``schema`` (``None``: the connection's default schema)."""
    if schema is None:
        return TABLE
    table = _by_schema.get(schema)
    if table is None:
        table = _by_schema[schema] = TABLE.to_metadata(sa.MetaData(), schema=schema)
    return table


@dataclass(frozen=True)
class Release:
    """One recorded release; ``snapshot`` is the stored text, unparsed (it may be anything)."""

    id: int
    recorded_at: datetime
    heads: tuple[str, ...]
    checksum: str
    snapshot: str
    allow_breaking: bool
    breaks: str | None
    recorded_by: str | None

    @property
    def label(self) -> str:
        """How messages name it: ``recorded 2026-12-07 15:02 UTC at abc123def456``."""
        at = ", ".join(head[:12] for head in self.heads) or "base"
        return f"recorded {self.recorded_at:%Y-%m-%d %H:%M} UTC at {at}"


def checksum_of(snapshot: str) -> str:
    return hashlib.sha256(snapshot.encode("utf-8")).hexdigest()


def create(connection: Connection, schema: str | None = None) -> None:
    """Create the table unless it exists."""
    release_table(schema).create(connection, checkfirst=True)


def latest(connection: Connection, schema: str | None = None) -> Release | None:
    """The release recorded last; ``None`` when none is (or the table does not exist)."""
    if not sa.inspect(connection).has_table(RELEASE_TABLE, schema=schema):
        return None
    table = release_table(schema)
    row = (
        connection.execute(sa.select(table).order_by(table.c.id.desc()).limit(1)).mappings().first()
    )
    if row is None:
        return None
    moment = row["recorded_at"]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Release(
        id=int(row["id"]),
        recorded_at=moment,
        heads=tuple(head for head in str(row["heads"] or "").split(",") if head),
        checksum=str(row["checksum"]),
        snapshot=str(row["snapshot"] or ""),
        allow_breaking=bool(row["allow_breaking"]),
        breaks=row["breaks"],
        recorded_by=row["recorded_by"],
    )


def record(
    connection: Connection,
    *,
    heads: Sequence[str],
    snapshot: str,
    allow_breaking: bool = False,
    breaks: Sequence[str] = (),
    schema: str | None = None,
) -> None:
    """Create the table when needed and insert one row; the caller commits."""
    create(connection, schema)
    connection.execute(
        release_table(schema).insert(),
        {
            "recorded_at": datetime.now(UTC).replace(tzinfo=None),
            "heads": ",".join(sorted(heads))[:255],
            "checksum": checksum_of(snapshot),
            "snapshot": snapshot,
            "allow_breaking": allow_breaking,
            "breaks": "\n".join(breaks) or None,
            "recorded_by": applied_by(),
        },
    )
