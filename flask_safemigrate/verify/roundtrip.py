"""The roundtrip on scratch databases: every revision upgraded, downgraded and upgraded again.

Where the scratch databases come from, and how the app's own ``env.py`` runs against them
without touching the app: see :mod:`flask_safemigrate.scratch`. Any error stops the roundtrip
as ``roundtrip-failed``; a downgrade that does not restore the schema is
``downgrade-leaves-trace``; at head the schema is compared with the models.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from flask_safemigrate import dedicated_schema, history, scratch
from flask_safemigrate.checks import describe
from flask_safemigrate.errors import DatabaseUnreachable
from flask_safemigrate.project import Setup
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.schema_diff import Snapshot, take_snapshot
from flask_safemigrate.text import display_path, one_line, plural
from flask_safemigrate.verify.steps import (
    ScratchRun,
    StepFailed,
    head_drift,
    on_scratch,
    run_step,
    versions,
)

__all__ = ["Roundtrip", "RoundtripHooks", "run_roundtrip"]


_TRACE_HINT = (
    "make downgrade() undo exactly what upgrade() does: drop what it creates and restore"
    " what it drops or alters"
)


@dataclass
class Roundtrip:
    """What the roundtrip found and noted, and its ``roundtrip`` JSON facts."""

    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


class RoundtripHooks(Protocol):
    """What a seeded roundtrip adds around each revision (:mod:`.seeding`)."""

    def before_upgrade(self, run: ScratchRun, script: history.Script) -> list[Finding]:
        """Before ``script`` is upgraded (its rows go in here)."""
        ...

    def after_upgrade(self, run: ScratchRun, script: history.Script) -> list[Finding]:
        """After ``script`` is upgraded."""
        ...

    def after_downgrade(self, run: ScratchRun, script: history.Script) -> list[Finding]:
        """After ``script`` is downgraded again."""
        ...


def _snapshot(readers: Mapping[str | None, Connection], setup: Setup) -> dict[str | None, Snapshot]:
    """Each bind's schema, read on its kept connection; the read's transaction is ended
    (MariaDB would otherwise keep the metadata locks the next step's DDL waits for)."""
    schemas: list[str | None] = [None]
    if setup.version_schema:
        schemas.append(setup.version_schema)
    snaps = {}
    for bind, conn in readers.items():
        try:
            snaps[bind] = take_snapshot(conn, schemas=schemas, exclude=[setup.version_table])
        finally:
            conn.rollback()
    return snaps


@contextmanager
def _readers(engines: Mapping[str | None, Engine]) -> Iterator[dict[str | None, Connection]]:
    """One connection per scratch database for the walk's own reads (snapshots, the version
    table), opened once instead of for every read; the steps keep their own connections."""
    with ExitStack() as stack:
        yield {bind: stack.enter_context(engine.connect()) for bind, engine in engines.items()}


def run_roundtrip(
    setup: Setup, scratch_url: str | None, hooks: RoundtripHooks | None = None
) -> Roundtrip:
    """Upgrade, downgrade and upgrade again every revision from base on scratch databases
    (a temporary one per bind, or the empty ``scratch_url``), then compare head with the
    models. ``hooks`` (a seeded roundtrip) run around each revision's steps."""
    trip = Roundtrip()
    if setup.graph.problems:
        trip.notes.append(
            "Roundtrip skipped: the history has problems (above) that Alembic cannot run."
        )
        trip.facts = {"ran": False, "revisions": 0}
        return trip
    order = setup.graph.path((), "heads")
    cleanup = scratch.Cleanup()
    app_urls = {target.bind: target.url for target in setup.targets}
    try:
        with (
            scratch.scratch_databases(app_urls, setup.settings, scratch_url, cleanup) as urls,
            on_scratch(setup, urls) as run,
        ):
            shown = run.shown
            trip.facts = {"ran": True, "revisions": len(order), "completed": 0, "scratch": shown}
            try:
                _walk(run, order, trip, hooks)
            finally:
                if scratch_url is not None and setup.settings.schema is not None:
                    _drop_scratch_schema(
                        run.engines[None], setup.settings.schema, run.hidden, cleanup
                    )
    except DatabaseUnreachable as exc:
        trip.findings.append(
            Finding(
                rule="database-unreachable",
                severity=Severity.ERROR,
                message=f"Roundtrip not run: {exc.message}",
                help=exc.hint,
                extra=exc.data,
            )
        )
        trip.facts = {"ran": False, "revisions": 0}
        return trip
    for error in cleanup.errors:
        trip.findings.append(
            Finding(rule="roundtrip-failed", severity=Severity.ERROR, message=error)
        )
    where = "temporary" if scratch_url is None else "given"
    database = f"the {where} scratch database {shown}" + (
        " (dropped)" if scratch_url is None else " (emptied)"
    )
    trip.notes.append(_summary(trip, len(order), database))
    return trip


def _summary(trip: Roundtrip, total: int, database: str) -> str:
    """The roundtrip's one line: how far it went, and whether it found problems (which are
    reported below it), so a run that failed never reads as one that went well."""
    done = trip.facts["completed"]
    count = plural(total, "revision") if done == total else f"{done} of {plural(total, 'revision')}"
    errors = Counter(f.rule for f in trip.findings if f.severity is Severity.ERROR)
    if not errors:
        return f"Roundtrip: {count} upgraded, downgraded and upgraded again on {database}."
    found = ", ".join(f"{n} {rule}" for rule, n in sorted(errors.items()))
    outcome = "" if done == total else "stopped after "
    return (
        f"Roundtrip found {plural(errors.total(), 'problem')} ({found}), reported below:"
        f" {outcome}{count} upgraded, downgraded and upgraded again on {database}."
    )


def _drop_scratch_schema(
    engine: Engine, schema: str, hidden: Sequence[URL], cleanup: scratch.Cleanup
) -> None:
    """Empty a ``--scratch-url`` database of the dedicated schema the roundtrip filled."""
    try:
        with engine.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote_schema(schema)
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {quoted} CASCADE")
    except sa.exc.SQLAlchemyError as exc:
        cleanup.errors.append(
            f"schema {schema} of the scratch database could not be dropped after the"
            f" roundtrip: {one_line(exc, hidden)}; drop it by hand before the next run"
        )


def _walk(
    run: ScratchRun,
    order: Sequence[history.Script],
    trip: Roundtrip,
    hooks: RoundtripHooks | None,
) -> None:
    setup, engines = run.setup, run.engines
    try:
        if setup.settings.schema is not None:
            with engines[None].begin() as conn:
                dedicated_schema.ensure_schema(conn, setup.settings.schema)
        with _readers(engines) as readers:
            _walk_scripts(run, order, trip, hooks, readers)
            trip.findings.extend(head_drift(run, readers))
    except StepFailed as failed:
        trip.findings.append(failed.finding)
    except sa.exc.SQLAlchemyError as exc:
        trip.findings.append(
            Finding(
                rule="roundtrip-failed",
                severity=Severity.ERROR,
                message="Roundtrip stopped: reading the scratch database failed:"
                f" {one_line(exc, run.hidden)}",
            )
        )


def _walk_scripts(
    run: ScratchRun,
    order: Sequence[history.Script],
    trip: Roundtrip,
    hooks: RoundtripHooks | None,
    readers: Mapping[str | None, Connection],
) -> None:
    """Each revision in ``order``: upgrade, downgrade (compared with the schema before its
    upgrade), upgrade again; raises :class:`StepFailed` at the first step that fails."""
    setup = run.setup
    before = _snapshot(readers, setup)
    applied = versions(run, readers[None])
    server_indexes = any(c.dialect.name in ("mysql", "mariadb") for c in readers.values())
    for script in order:
        if hooks is not None:
            trip.findings.extend(hooks.before_upgrade(run, script))
        run_step(run, "upgrade", script, script.revision)
        after_up = versions(run, readers[None])
        if hooks is not None:
            trip.findings.extend(hooks.after_upgrade(run, script))
        upgraded = _snapshot(readers, setup) if server_indexes else {}
        down_target = script.down_revisions[0] if script.is_merge else f"{script.revision}@-1"
        run_step(run, "downgrade", script, down_target)
        reverted = versions(run, readers[None])
        if reverted != applied:
            raise StepFailed(
                Finding(
                    rule="roundtrip-failed",
                    severity=Severity.ERROR,
                    message=(
                        f"Roundtrip stopped: downgrading revision {describe(script)} left"
                        f" the version table at {', '.join(sorted(reverted)) or 'base'},"
                        f" expected {', '.join(sorted(applied)) or 'base'}"
                    ),
                    path=display_path(script.path),
                    line=script.line,
                    extra={"revision": script.revision, "direction": "downgrade"},
                )
            )
        after_down = _snapshot(readers, setup)
        trip.findings.extend(_traces(script, before, upgraded, after_down))
        if hooks is not None:
            trip.findings.extend(hooks.after_downgrade(run, script))
        run_step(run, "re-upgrade", script, script.revision)
        applied = after_up
        before = _snapshot(readers, setup)
        trip.facts["completed"] += 1


def _traces(
    script: history.Script,
    before: Mapping[str | None, Snapshot],
    upgraded: Mapping[str | None, Snapshot],
    after: Mapping[str | None, Snapshot],
) -> list[Finding]:
    """What the downgrade of ``script`` left different from ``before`` its upgrade.

    ``upgraded`` (taken on MariaDB/MySQL only) names the indexes the server made for the
    foreign keys the upgrade added: dropping such a key leaves its index, which no
    ``downgrade()`` written for every database could drop, so it is not a trace.
    """
    findings = []
    for bind, snapshot in after.items():
        made = upgraded[bind].server_indexes if bind in upgraded else frozenset()
        added, removed, changed = snapshot.difference(before[bind], server_made=made)
        if not (added or removed or changed):
            continue
        parts = []
        if added:
            parts.append(f"still has {', '.join(added)}")
        if removed:
            parts.append(f"lost {', '.join(removed)}")
        if changed:
            parts.append(f"changed {', '.join(changed)}")
        label = "" if bind is None else f" (bind {bind!r})"
        findings.append(
            Finding(
                rule="downgrade-leaves-trace",
                severity=Severity.ERROR,
                message=(
                    f"Downgrading revision {describe(script)} does not restore the schema"
                    f" before it{label}: the database {'; '.join(parts)}."
                ),
                path=display_path(script.path),
                line=script.line_of("def downgrade"),  # where the fix goes
                help=_TRACE_HINT,
                extra={
                    "revision": script.revision,
                    "leftover": added,
                    "missing": removed,
                    "changed": changed,
                },
            )
        )
    return findings
