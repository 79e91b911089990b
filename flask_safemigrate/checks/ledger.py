"""Checks from the ledger's rows: ``edited-after-apply`` and ``failed-migration``; and which
revisions the version table says are applied, which both of them and safe-upgrade's failure
reports read."""

from __future__ import annotations

from collections.abc import Sequence

from flask_safemigrate import database, history, ledger
from flask_safemigrate.checks.graph import describe
from flask_safemigrate.project import Setup, Target
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path

__all__ = ["applied_revisions", "ledger_findings"]


def ledger_findings(
    setup: Setup,
    target: Target,
    entries: Sequence[ledger.Entry],
    current: Sequence[str],
) -> list[Finding]:
    """``edited-after-apply`` and ``failed-migration`` from the ledger's rows.

    Per revision, the latest successful row decides whether it is applied: an ``upgrade`` (or
    ``accept``) row whose checksum differs from the file means the script was edited after
    it ran; after a successful ``downgrade`` the revision is not applied and may be edited.
    A revision the version table says is not applied (downgraded without the ledger) may be
    edited too. A revision whose latest row is a failure has failed and not been run
    successfully since. Error texts are shown on one line with the URL's password masked.
    """
    by_revision: dict[str, list[ledger.Entry]] = {}
    for entry in entries:
        by_revision.setdefault(entry.revision, []).append(entry)
    applied = applied_revisions(setup.graph, current)
    findings: list[Finding] = []
    where = {"database": database.mask_url(target.url)}
    for revision, rows in by_revision.items():
        script = setup.graph.scripts.get(revision)
        last = rows[-1]
        if not last.success:
            error = (last.error or "").strip().splitlines()
            reason = database.mask_text(error[0], target.url) if error else "no error recorded"
            path = display_path(script.path) if script is not None else None
            name = describe(script) if script is not None else revision
            state = "is" if revision in applied else "is not"
            findings.append(
                Finding(
                    rule="failed-migration",
                    severity=Severity.ERROR,
                    message=(
                        f"Revision {name} failed during {last.direction} at "
                        f"{last.started_at.isoformat(timespec='seconds')} by "
                        f"{last.applied_by or 'unknown'} on {target.label}: "
                        f"{reason}; no later run succeeded. The"
                        f" version table says the revision {state} applied."
                    ),
                    path=path,
                    help=_failed_help(revision, database.dialect_of(target.url)),
                    extra={
                        **where,
                        "revision": revision,
                        "direction": last.direction,
                        "error": reason,
                        "left": ledger.left_of(last.error),
                    },
                )
            )
        successes = [row for row in rows if row.success]
        if not successes or script is None or revision not in applied:
            continue
        latest = successes[-1]
        if latest.direction not in ("upgrade", "accept") or latest.checksum is None:
            continue
        try:
            if any(ledger.matches(script.path, known) for known in _reviewed_checksums(rows)):
                continue
            now = ledger.checksum(script.path)
        except OSError:
            continue
        shown = display_path(script.path)
        findings.append(
            Finding(
                rule="edited-after-apply",
                severity=Severity.ERROR,
                message=(
                    f"Migration script {shown} (revision {revision}) was changed after it was"
                    f" applied to {target.label} at "
                    f"{latest.started_at.isoformat(timespec='seconds')} by "
                    f"{latest.applied_by or 'unknown'}: its sha256 is now {now[:12]}..., the"
                    f" ledger recorded {latest.checksum[:12]}..."
                ),
                path=shown,
                line=script.line,
                help=(
                    "never edit an applied migration: revert the edit and put the change in a"
                    " new revision (`flask db revision` / `flask db migrate`). If the edit was"
                    " only cosmetic (comments, formatting), review it and record it with"
                    f" `flask db ledger accept {revision} --reason TEXT`"
                ),
                extra={
                    **where,
                    "revision": revision,
                    "recorded_checksum": latest.checksum,
                    "current_checksum": now,
                },
            )
        )
    return findings


def _reviewed_checksums(rows: Sequence[ledger.Entry]) -> list[str]:
    """The checksums the script may have without being an edit: the latest successful row's,
    then back through the ``accept`` rows to the ``upgrade`` that applied it.

    An ``accept`` records a cosmetic edit; it does not make the bytes that actually ran an
    edit. Restoring the applied script after an accept is therefore no finding.
    """
    known: list[str] = []
    for row in reversed(rows):
        if not row.success:
            continue
        if row.direction not in ("upgrade", "accept"):
            break
        if row.checksum is not None:
            known.append(row.checksum)
        if row.direction == "upgrade":
            break
    return known


def applied_revisions(graph: history.RevisionGraph, current: Sequence[str]) -> set[str]:
    """The current revisions and their ancestors (what the version table says is applied).

    A current revision no script has hides its ancestry: then every known revision counts.
    """
    if any(revision not in graph.scripts for revision in current):
        return set(graph.scripts)
    applied: set[str] = set()
    for revision in current:
        if revision in graph.scripts:
            applied.add(revision)
            try:
                applied |= graph.ancestors(revision)
            except (history.RevisionLookupError, history.RevisionCycleError):
                continue
    return applied


def _failed_help(revision: str, dialect: str | None) -> str:
    """What to repair before ``--resolved``, for the database the run failed on: MariaDB/MySQL
    keep the DDL that ran, PostgreSQL and SQLite rolled the revision back (safe-upgrade runs
    each revision in a transaction), so there only the script or the data needs fixing."""
    go_on = f"then run `flask db safe-upgrade --resolved {revision}` to record the repair and go on"
    if dialect == "mysql":
        return (
            "find out what the failed run left behind (MariaDB/MySQL cannot roll back DDL, so"
            f" part of it may be applied), repair that, fix the script or the data, {go_on}"
        )
    if dialect in ("postgresql", "sqlite"):
        engine = "PostgreSQL" if dialect == "postgresql" else "SQLite"
        return (
            f"fix the script or the data, {go_on} (on {engine} the failed run's transaction"
            " rolled back: only what the script committed itself, in an autocommit_block,"
            " can be left)"
        )
    return (
        "find out what the failed run left behind (a database that cannot roll back DDL keeps"
        f" part of it), repair that, fix the script or the data, {go_on}"
    )
