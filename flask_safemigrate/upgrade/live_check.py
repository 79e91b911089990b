"""Pre-flight reads the live database: each pending statement's table size and lock, and the
sessions that hold a long transaction on those tables (see :mod:`flask_safemigrate.live`).

One connection per target with a plan, two reads on it (sizes, then sessions). A read that
fails (no privilege, the connection dropped) is reported as a warning and the run goes on
with lint's judgement as it was: reading the database must never be what stops a deploy.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from flask_safemigrate import blockers, live
from flask_safemigrate.caches import user_cache
from flask_safemigrate.errors import DatabaseUnreachable
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import one_line
from flask_safemigrate.upgrade import events, wording
from flask_safemigrate.upgrade.state import Run
from flask_safemigrate.upgrade.targets import Target

__all__ = ["dry_run_notes", "judge", "read"]


def read(run: Run) -> None:
    """Fill ``run.sized`` for every target with a plan; name long transactions."""
    run.sized = []
    for target in run.targets:
        if target.plan:
            _read_target(run, target)


def _read_target(run: Run, target: Target) -> None:
    settings = run.setup.settings
    bind = (target.key or "") if target.multi else None  # the template's upgrade_<bind>()
    statements = live.pending_statements(
        target.plan, target.dialect, bind=bind, cache_dir=user_cache()
    )
    keys = {(s.schema, s.live_table) for s in statements if not s.created_in_plan}
    sizes: dict[live.TableKey, live.TableSize] = {}
    found: list[blockers.Holder] = []
    if keys:
        step = "sizes"
        try:
            with run.connect(target) as connection:
                sizes = live.read_sizes(connection, keys, limit=settings.large_table_rows)
                connection.rollback()
                step = "sessions"
                existing = sorted({key[1] for key, size in sizes.items() if size.exists})
                if existing:
                    found = blockers.holders(
                        connection, existing, older_than=settings.max_blocker_age
                    )
        except (sa.exc.SQLAlchemyError, DatabaseUnreachable) as exc:
            run.findings.append(wording.tag(_unread(run, target, step, exc), target))
    run.sized += [
        live.Sized(
            s,
            sizes.get((s.schema, s.live_table)),
            *live.lock_of(s, target.dialect),
            bind=target.progress_name,
        )
        for s in statements
    ]
    for holder in found:
        run.findings.append(wording.tag(_holder(run, target, holder), target))
        age = "?" if holder.age_seconds is None else f"{holder.age_seconds:.0f}s"
        what = "pid" if holder.table is not None else "connection"
        run.progress.emit(
            events.LongTransaction(
                target=target.progress_name,
                database=target.label,
                session=f"{what} {holder.id} (user {holder.user}, application"
                f" {holder.application}, transaction open {age})"
                + (f" holding {holder.mode} on {holder.table}" if holder.table else ""),
            )
        )
    if sizes:
        run.progress.emit(
            events.SizesRead(
                target=target.progress_name,
                database=target.label,
                tables=len(sizes),
                existing=sum(1 for size in sizes.values() if size.exists),
                missing=tuple(sorted(key[1] for key, size in sizes.items() if not size.exists)),
            )
        )


def _unread(run: Run, target: Target, step: str, exc: BaseException) -> Finding:
    reason = exc.message if isinstance(exc, DatabaseUnreachable) else one_line(exc, run.setup.urls)
    what = "table sizes" if step == "sizes" else "the sessions holding locks on the plan's tables"
    return Finding(
        rule="table-sizes-unread" if step == "sizes" else "sessions-unread",
        severity=Severity.WARNING,
        message=f"pre-flight could not read {what} of {target.label}: {reason}; locking"
        " findings are judged without them",
        help="grant the login read access to the catalog (PostgreSQL pg_class and"
        " pg_total_relation_size; MariaDB/MySQL information_schema and the PROCESS privilege)",
    )


def _holder(run: Run, target: Target, holder: blockers.Holder) -> Finding:
    age = "?" if holder.age_seconds is None else f"{holder.age_seconds:.0f}s"
    if holder.table is not None:
        what = f"holds {holder.mode} on {holder.table}, which the plan locks"
    else:
        tables = sorted({i.statement.live_table for i in run.sized if i.size and i.size.exists})
        what = (
            "is open in this database (InnoDB does not say which tables it holds; one that"
            f" read {', '.join(tables)} keeps its metadata lock until it ends)"
        )
    limit = run.setup.settings.max_blocker_age
    return Finding(
        rule="long-transaction",
        severity=Severity.WARNING,
        message=f"{'pid' if holder.table is not None else 'connection'} {holder.id} (user"
        f" {holder.user}, application {holder.application}) has had a transaction open for"
        f" {age} (SAFEMIGRATE_MAX_BLOCKER_AGE = {limit:g}s) that {what}; its last query:"
        f" {holder.query or '-'}. The migration's lock waits for it.",
        help="end or commit that session first"
        f" ({blockers.how_to_end(target.dialect, [holder.id])}),"
        " or the revision will wait SAFEMIGRATE_LOCK_TIMEOUT and retry",
        extra={"blocker": holder.to_dict()},
    )


def judge(run: Run, findings: Sequence[Finding]) -> list[Finding]:
    """Lint's findings with the size-bound locking ones judged by the live sizes."""
    return live.judge(findings, run.sized, large=run.setup.settings.large_table_rows)


def dry_run_notes(run: Run, revision: str) -> list[str]:
    """``--dry-run``'s lines under one revision: kind, table, rows, size, lock, impact."""
    lines = []
    for item in run.sized:
        if item.statement.revision != revision:
            continue
        statement, size = item.statement, item.size
        if statement.created_in_plan:
            where = f"created by {statement.created_in_plan} in this plan"
        elif size is None:
            where = "size not read"
        else:
            where = size.describe()
        lines.append(
            f"      {statement.kind} on {statement.table} ({where}): lock {item.lock};"
            f" {item.impact}"
        )
    return lines
