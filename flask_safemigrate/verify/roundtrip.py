"""The roundtrip on scratch databases: every revision upgraded, downgraded and upgraded again.

Where the scratch databases come from, and how the app's own ``env.py`` runs against them
without touching the app: see :mod:`flask_safemigrate.scratch`. Any error stops the roundtrip
as ``roundtrip-failed``; a downgrade that does not restore the schema is
``downgrade-leaves-trace``; at head the schema is compared with the models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic import command as alembic_command
from sqlalchemy.engine import URL, Engine

from flask_safemigrate import database, dedicated_schema, faults, history, scratch
from flask_safemigrate.checks import DRIFT_HINT, describe
from flask_safemigrate.errors import DatabaseUnreachable
from flask_safemigrate.project import Setup
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.schema_diff import Snapshot, drift, take_snapshot
from flask_safemigrate.text import display_path, one_line, plural

__all__ = ["Roundtrip", "run_roundtrip"]


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


class _StepFailed(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _snapshot(engines: Mapping[str | None, Engine], setup: Setup) -> dict[str | None, Snapshot]:
    schemas: list[str | None] = [None]
    if setup.version_schema:
        schemas.append(setup.version_schema)
    snaps = {}
    for bind, engine in engines.items():
        with engine.connect() as conn:
            snaps[bind] = take_snapshot(conn, schemas=schemas, exclude=[setup.version_table])
    return snaps


def _versions(engines: Mapping[str | None, Engine], setup: Setup) -> set[str]:
    with engines[None].connect() as conn:
        return set(
            database.current_revisions(
                conn, version_table=setup.version_table, schema=setup.version_schema
            )
        )


def run_roundtrip(setup: Setup, scratch_url: str | None) -> Roundtrip:
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
        with scratch.scratch_databases(app_urls, setup.settings, scratch_url, cleanup) as urls:
            shown = ", ".join(database.mask_url(url) for url in urls.values())
            trip.facts = {"ran": True, "revisions": len(order), "completed": 0, "scratch": shown}
            hidden = [*setup.urls, *urls.values()]
            engines = {bind: scratch.scratch_engine(url) for bind, url in urls.items()}
            try:
                with scratch.scratch_app_context(setup.app, engines, urls):
                    _walk(setup, order, engines, hidden, trip)
            finally:
                if scratch_url is not None and setup.settings.schema is not None:
                    _drop_scratch_schema(engines[None], setup.settings.schema, hidden, cleanup)
                for engine in engines.values():
                    engine.dispose()
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
    done, total = trip.facts["completed"], len(order)
    count = plural(total, "revision") if done == total else f"{done} of {plural(total, 'revision')}"
    where = "temporary" if scratch_url is None else "given"
    trip.notes.append(
        f"Roundtrip: {count} upgraded, downgraded and upgraded again on the {where} scratch"
        f" database {shown}" + (" (dropped)." if scratch_url is None else " (emptied).")
    )
    return trip


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


#: How a roundtrip failure names the step that failed.
_PHASES = {"upgrade": "upgrade", "downgrade": "downgrade", "re-upgrade": "re-upgrade"}


def _walk(
    setup: Setup,
    order: Sequence[history.Script],
    engines: Mapping[str | None, Engine],
    hidden: Sequence[URL],
    trip: Roundtrip,
) -> None:
    config = setup.alembic_config()

    def step(phase: str, script: history.Script, target: str) -> None:
        """``phase``: ``upgrade``, ``downgrade`` or ``re-upgrade`` (after the downgrade)."""
        direction = "downgrade" if phase == "downgrade" else "upgrade"
        try:
            if direction == "upgrade":
                alembic_command.upgrade(config, target)
            else:
                alembic_command.downgrade(config, target)
        except Exception as exc:  # a script can raise anything; each becomes a finding
            what = _PHASES[phase]
            line = faults.line_in(exc, script.path)
            raise _StepFailed(
                Finding(
                    rule="roundtrip-failed",
                    severity=Severity.ERROR,
                    message=(
                        f"Roundtrip stopped: {what} of revision {describe(script)}"
                        + (
                            " (its upgrade again, after its downgrade)"
                            if phase == "re-upgrade"
                            else ""
                        )
                        + f" failed on the scratch database: {one_line(exc, hidden)}"
                    ),
                    path=display_path(script.path),
                    line=line if line is not None else script.line,
                    help=f"fix {direction}() of {script.path.name}"
                    + (
                        " (it ran once already: the downgrade before it must undo all of it,"
                        " or the upgrade must be able to run again)"
                        if phase == "re-upgrade"
                        else ""
                    )
                    + "; run `flask db verify --roundtrip` again to check",
                    extra={"revision": script.revision, "direction": direction, "phase": phase},
                )
            ) from exc

    try:
        if setup.settings.schema is not None:
            with engines[None].begin() as conn:
                dedicated_schema.ensure_schema(conn, setup.settings.schema)
        before = _snapshot(engines, setup)
        applied = _versions(engines, setup)
        server_indexes = any(e.dialect.name in ("mysql", "mariadb") for e in engines.values())
        for script in order:
            step("upgrade", script, script.revision)
            after_up = _versions(engines, setup)
            upgraded = _snapshot(engines, setup) if server_indexes else {}
            down_target = script.down_revisions[0] if script.is_merge else f"{script.revision}@-1"
            step("downgrade", script, down_target)
            reverted = _versions(engines, setup)
            if reverted != applied:
                raise _StepFailed(
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
            after_down = _snapshot(engines, setup)
            trip.findings.extend(_traces(script, before, upgraded, after_down))
            step("re-upgrade", script, script.revision)
            applied = after_up
            before = _snapshot(engines, setup)
            trip.facts["completed"] += 1
        for target in setup.targets:
            with engines[target.bind].connect() as conn:
                lines = drift(conn, target.metadata, setup.configure_args)
            label = "scratch database" if target.bind is None else f"scratch bind {target.bind!r}"
            trip.findings.extend(
                Finding(
                    rule="schema-drift",
                    severity=Severity.ERROR,
                    message=f"{line} ({label} after upgrading from base to head)",
                    help="the migrations do not build the schema the models describe: "
                    + DRIFT_HINT,
                    extra={"database": "scratch", "difference": line},
                )
                for line in lines
            )
    except _StepFailed as failed:
        trip.findings.append(failed.finding)
    except sa.exc.SQLAlchemyError as exc:
        trip.findings.append(
            Finding(
                rule="roundtrip-failed",
                severity=Severity.ERROR,
                message="Roundtrip stopped: reading the scratch database failed:"
                f" {one_line(exc, hidden)}",
            )
        )


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
                line=script.line,
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
