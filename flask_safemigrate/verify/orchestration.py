"""The ``verify`` entry point: the checks in order, for every database, into one report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from flask import Flask

from flask_safemigrate import app_engine_options, database, history, scratch, suggested
from flask_safemigrate.checks import snapshot_findings, static_findings, stock_width_findings
from flask_safemigrate.compat import load_old_snapshot
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.project import setup_of
from flask_safemigrate.report import Report, Result, Severity
from flask_safemigrate.text import display_path, plural
from flask_safemigrate.verify.compat import run_compat
from flask_safemigrate.verify.database_checks import check_database
from flask_safemigrate.verify.roundtrip import run_roundtrip
from flask_safemigrate.verify.seeding import SeededRows, load_rows

__all__ = ["CHECKS", "SCRATCH_PREFIX", "exit_code", "verify"]

#: Every check ``verify`` can report (docs/architecture.md, "Contracts": names).
CHECKS: Final = (
    "multiple-heads",
    "duplicate-revision",
    "missing-parent",
    "revision-cycle",
    "unparseable-script",
    "missing-downgrade",
    "database-unreachable",
    "unknown-database-revision",
    "not-at-head",
    "schema-drift",
    "edited-after-apply",
    "failed-migration",
    "downgrade-leaves-trace",
    "roundtrip-failed",
    "invalid-revision-id",
    "invalid-index",
    "seeded-row-lost",
    "seeded-rows-unknown-revision",
    "models-snapshot-stale",
    "breaks-previous-release",
    "unmapped-required-column",
)

#: Scratch databases are named ``sm_verify_<12 hex digits>`` (see :mod:`.scratch`).
SCRATCH_PREFIX: Final = scratch.SCRATCH_PREFIX


def verify(
    app: Flask,
    *,
    use_db: bool = True,
    roundtrip: bool = False,
    scratch_url: str | None = None,
    directory: str | Path | None = None,
    x_args: Sequence[str] = (),
    rows: str | Path | None = None,
    compat_with: str | None = None,
) -> Result:
    """Run the checks for ``app``: the report (``command`` ``"verify"``) and its exit code.

    ``use_db=False`` skips everything that reads the app's databases. ``roundtrip=True``
    adds the scratch-database roundtrip; ``scratch_url`` names the (empty) database to use
    instead of a temporary one. ``directory`` replaces the app's migrations directory
    (``flask db -d``), ``x_args`` reach ``env.py`` in the roundtrip (``-x``). Raises
    :class:`ConfigError` (exit 2) for a missing migrations directory or unusable options,
    and :class:`PreflightError` (exit 3) when a database answers a read with an error;
    everything else is a finding. ``rows`` (with ``roundtrip``) names a Python file whose
    ``ROWS`` the roundtrip inserts before each revision and looks for after its upgrade and
    its downgrade (``seeded-row-lost``, :mod:`.seeding`); a bad file is a ``ConfigError``.
    ``compat_with`` (a git ref or a snapshot file) checks the previous release's models
    against the schema the migrations build on a scratch database (``breaks-previous-release``,
    :mod:`.compat`); one that cannot be read is a ``ConfigError``.
    """
    seeds = None
    if rows is not None:
        seeds = SeededRows(load_rows(Path(rows)), display_path(Path(rows)))
    with app.app_context(), app_engine_options.applied(app.config):
        setup = setup_of(app, directory, x_args)
        old = load_old_snapshot(compat_with, setup.directory) if compat_with else None
        findings = static_findings(setup.graph)
        findings.extend(snapshot_findings(setup))
        notes = [_history_note(setup.graph)]
        current: set[str] = set()
        unread = False  # a database that could not be read: its position is unknown (null)
        facts: dict[str, Any] = {}
        if use_db:
            databases = []
            for target in setup.targets:
                result = check_database(setup, target)
                findings.extend(result.findings)
                notes.extend(result.notes)
                current.update(result.current)
                unread = unread or not result.read
                databases.append(
                    {
                        "bind": target.bind,
                        "url": database.mask_url(target.url),
                        "current": sorted(result.current) if result.read else None,
                    }
                )
            if setup.multidb:
                facts["databases"] = databases
        else:
            findings.extend(stock_width_findings(setup.graph))
            notes.append("Database checks skipped (--no-db).")
        if roundtrip:
            if seeds is not None:
                findings.extend(seeds.unknown_revisions(setup.graph))
            trip = run_roundtrip(setup, scratch_url, seeds)
            findings.extend(trip.findings)
            notes.extend(trip.notes)
            facts["roundtrip"] = trip.facts
        if old is not None:
            compat = run_compat(setup, old, scratch_url)
            # The roundtrip's scratch database at head was checked for the same columns.
            findings.extend(f for f in compat.findings if f not in findings)
            notes.extend(compat.notes)
            facts["compat"] = compat.facts
    report = Report(
        "verify",
        [suggested.finding_for(finding, setup.command) for finding in findings],
        facts={
            "heads": list(setup.graph.heads),
            "current": None if unread else sorted(current),
            **facts,
        },
        notes=[suggested.text_for(note, setup.command) for note in notes],
    )
    return Result(report, exit_code(report))


def exit_code(report: Report) -> ExitCode:
    """The exit code of a verify report: 3 when a database could not be reached, 1 when a
    check failed, else 0 (:func:`verify` returns it with the report)."""
    if any(f.rule == "database-unreachable" for f in report.findings):
        return ExitCode.PREFLIGHT
    return ExitCode.CHECKS_FAILED if report.fails(Severity.ERROR) else ExitCode.OK


def _history_note(graph: history.RevisionGraph) -> str:
    """``head X`` for one head; several are counted (as auto-merge-heads words them), so that
    ``head A, B`` is never read as one head among a list of revisions."""
    revisions = plural(len(graph.scripts), "revision")
    if len(graph.heads) == 1:
        return f"History: {revisions}, head {graph.heads[0]}."
    if not graph.heads:
        return f"History: {revisions}, no head."
    return f"History: {revisions}, {plural(len(graph.heads), 'head')} ({', '.join(graph.heads)})."
