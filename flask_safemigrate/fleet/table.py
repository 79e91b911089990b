"""``safemigrate_fleet``: each fleet run's outcome per target, on the control database.

One row per (run, target): inserted ``running`` when the target's child process starts and
updated when it ends, so a fleet run that is killed leaves ``running`` rows behind and the
next run (and ``flask db fleet-status``) sees which targets it did not finish. The
per-target migration lock and ledger keep each target safe whatever this table says; it is
the fleet's memory (attempts, errors, times). A resumed run decides what is left by reading
each target's own version table, never by trusting this one.

The control database is ``SAFEMIGRATE_FLEET_URL`` or the app's database; the table is kept
out of autogenerate and drift like the ledger (``dedicated_schema.IncludeName``). Several
shards write to it at once, each its own rows; two of them creating it at once is tolerated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from flask_safemigrate import database
from flask_safemigrate.errors import PreflightError
from flask_safemigrate.ledger import FLEET_TABLE

__all__ = [
    "FLEET_TABLE",
    "Row",
    "control_engine",
    "ensure",
    "finish",
    "fleet",
    "latest",
    "read",
    "start",
]

_metadata = sa.MetaData()
fleet = sa.Table(
    FLEET_TABLE,
    _metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("target", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("shard", sa.String(20), nullable=True),
    sa.Column("stage", sa.String(10), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("goal", sa.String(255), nullable=False),
    sa.Column("from_revision", sa.String(255), nullable=True),
    sa.Column("to_revision", sa.String(255), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=True),
)


@dataclass(frozen=True)
class Row:
    """One recorded outcome (``status``: running, ok, failed, crashed, skipped, current)."""

    run_id: str
    target: str
    kind: str
    shard: str | None
    stage: str
    status: str
    goal: str
    from_revision: str | None
    to_revision: str | None
    attempts: int
    exit_code: int | None
    error: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["started_at"] = self.started_at.isoformat()
        out["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return out


def control_engine(url: str | URL) -> sa.Engine:
    """An unpooled engine on the control database (SQLite waits up to 30 s for writers)."""
    parsed = sa.make_url(url)
    args: dict[str, Any] = {"timeout": 30} if database.dialect_of(parsed) == "sqlite" else {}
    return sa.create_engine(parsed, poolclass=NullPool, connect_args=args)


def ensure(engine: sa.Engine) -> None:
    """Create the table when missing; :class:`PreflightError` (exit 3) when the control
    database cannot be reached or written."""
    try:
        try:
            _metadata.create_all(engine, checkfirst=True)
        except sa.exc.DatabaseError:
            # Another shard created it between the check and the CREATE.
            if not sa.inspect(engine).has_table(FLEET_TABLE):
                raise
    except sa.exc.SQLAlchemyError as exc:
        why = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
        raise PreflightError(
            f"cannot use the fleet table {FLEET_TABLE} on {database.mask_url(engine.url)}:"
            f" {database.mask_text(why, engine.url)}",
            hint="check SAFEMIGRATE_FLEET_URL (default: the app's database) and that the login"
            " may create and write the table",
        ) from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def start(
    engine: sa.Engine,
    *,
    run_id: str,
    target: str,
    kind: str,
    shard: str | None,
    stage: str,
    goal: str,
    from_revision: str | None,
    status: str = "running",
) -> int:
    """Insert the target's row for this run; returns its attempt number (1 + the earlier
    rows of this target for the same goal that did not end ``ok`` or ``current``)."""
    with engine.begin() as conn:
        earlier = conn.execute(
            sa.select(sa.func.count())
            .select_from(fleet)
            .where(
                fleet.c.target == target,
                fleet.c.goal == goal,
                fleet.c.status.in_(("running", "failed", "crashed")),
            )
        ).scalar_one()
        attempts = int(earlier) + 1
        now = _now()
        conn.execute(
            fleet.insert().values(
                run_id=run_id,
                target=target,
                kind=kind,
                shard=shard,
                stage=stage,
                status=status,
                goal=goal,
                from_revision=from_revision,
                to_revision=from_revision if status != "running" else None,
                attempts=attempts,
                started_at=now,
                finished_at=None if status == "running" else now,
            )
        )
    return attempts


def finish(
    engine: sa.Engine,
    *,
    run_id: str,
    target: str,
    status: str,
    to_revision: str | None,
    exit_code: int | None,
    error: str | None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            fleet.update()
            .where(fleet.c.run_id == run_id, fleet.c.target == target)
            .values(
                status=status,
                to_revision=to_revision,
                exit_code=exit_code,
                error=error[:2000] if error else None,
                finished_at=_now(),
            )
        )


def read(engine: sa.Engine, run_id: str | None = None) -> list[Row]:
    """Every recorded row (of one run), oldest first; ``[]`` when the table does not exist."""
    if not sa.inspect(engine).has_table(FLEET_TABLE):
        return []
    query = sa.select(fleet).order_by(fleet.c.started_at, fleet.c.target)
    if run_id is not None:
        query = query.where(fleet.c.run_id == run_id)
    with engine.connect() as conn:
        return [Row(**dict(row)) for row in conn.execute(query).mappings()]


def latest(rows: Iterable[Row]) -> dict[str, Row]:
    """Each target's most recent row."""
    out: dict[str, Row] = {}
    for row in rows:
        out[row.target] = row
    return out
