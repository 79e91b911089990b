"""How a run's report says things: the one place where one target and several differ.

A single-database run names its database by URL; a multi-database run names each bind
(``binds`` keys in JSON, a ``bind`` on findings, a part per bind in the summary) and refuses
what the multi-database template cannot do (``--sql``, ``SAFEMIGRATE_SCHEMA``). The stages
ask these functions and never test for several targets themselves. Progress is not worded
here: the stages emit :mod:`.events` and the command words them
(:mod:`flask_safemigrate.render.progress`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from flask_safemigrate import database
from flask_safemigrate.checks import database_unreachable
from flask_safemigrate.errors import ConfigError, DatabaseUnreachable, ExitCode
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.settings import Settings
from flask_safemigrate.text import plural
from flask_safemigrate.upgrade.state import Run
from flask_safemigrate.upgrade.targets import Target

__all__ = [
    "ahead",
    "backup_label",
    "database_error_help",
    "headline",
    "ledger_incomplete",
    "no_such_revision",
    "position_text",
    "refuse",
    "shape_facts",
    "tag",
    "unknown_resolved",
    "unreachable",
]


def database_error_help(error: BaseException, reason: str) -> str:
    """What to do about a database error outside any revision (:func:`database.error_help`)."""
    return database.error_help(error, reason)


def refuse(run: Run, settings: Settings) -> None:
    """What the multi-database template cannot do (exit 2); nothing for one target."""
    if not run.multi:
        return
    if run.options.sql:
        raise ConfigError(
            "--sql is not available for Flask-Migrate's multi-database template",
            hint="`flask db upgrade --sql` writes one SQL file per bind",
        )
    if settings.schema is not None:
        raise ConfigError(
            "SAFEMIGRATE_SCHEMA is not supported with the multi-database template",
            hint="unset SAFEMIGRATE_SCHEMA, or give each bind's URL its own database",
        )


def tag(finding: Finding, target: Target, *, database: bool = False) -> Finding:
    """``finding`` with the bind it is about (and its masked URL), when there are several."""
    if not target.multi:
        return finding
    extra: dict[str, Any] = {**finding.extra, "bind": target.key}
    if database:
        extra["database"] = _masked(target)
    return replace(finding, extra=extra)


def _masked(target: Target) -> str:
    return database.mask_url(target.url)


def unreachable(target: Target, error: DatabaseUnreachable, stage: str) -> Finding | None:
    """The finding naming the bind that cannot be reached (one target: the error as it is)."""
    if not target.multi:
        return None
    unchanged = " Nothing was changed on any database." if stage == "preflight" else ""
    finding = database_unreachable(target.label, target.url, error)  # as verify says it
    return replace(
        finding,
        message=f"{finding.message}.{unchanged}",
        extra={"bind": target.key, **finding.extra},
    )


def unknown_resolved(run: Run, revisions: Sequence[str]) -> str:
    where = "no bind's ledger has a failure" if run.multi else "the ledger has no failure"
    return f"--resolved {', '.join(revisions)}: {where} of that revision"


def no_such_revision(run: Run, refs: Sequence[str]) -> str:
    """``--resolved`` with ids that match no script and no recorded failure (a typo)."""
    ledgers = "no bind's ledger" if run.multi else "the ledger"
    which = "that id" if len(refs) == 1 else "those ids"
    return (
        f"--resolved {', '.join(refs)}: no revision matches {which} (no migration script has"
        f" it or starts with it, and {ledgers} has no failure of it); nothing was changed"
    )


def ahead(target: Target, revisions: Sequence[str], wanted: str) -> str:
    who = target.label if target.multi else "the database"
    return (
        f"{who} is at {', '.join(revisions)}, which is not below {wanted!r}:"
        " safe-upgrade only moves forward"
    )


def backup_label(target: Target) -> str:
    """The end of a backup's file name: ``at-<revision>``, the revision the copy is at (the
    database's, before the run applies anything); ``at-base`` with none applied."""
    label = "at-" + ("-".join(rev[:12] for rev in target.current) or "base")
    return f"{target.name}-{label}" if target.multi else label


def ledger_incomplete(target: Target, missing: Sequence[str]) -> Finding:
    of = f" of {target.label}" if target.multi else ""
    finding = Finding(
        rule="ledger-incomplete",
        severity=Severity.ERROR,
        message=f"The ledger{of} has no row for {', '.join(missing)}, applied by this run.",
        help="check that nothing deletes from safemigrate_ledger",
    )
    return tag(finding, target)


def position_text(run: Run, at: str) -> str:
    """Where the database stands, as the lock-lost report says it (``at``: read now)."""
    if not run.multi:
        return f"The database is now at {at}."
    undone = ", ".join(f"{s.revision} on {run.target_of(s.bind).name}" for s in run.rolled_back)
    text = (
        f"Rolled back with it (one transaction per PostgreSQL/SQLite database until every"
        f" bind is done): {undone}. "
        if undone
        else ""
    )
    return text + "Now: " + "; ".join(f"{t.label} at {t.at}" for t in run.targets) + "."


def headline(run: Run, code: ExitCode, stage: str) -> str:
    """One line that says how the run ended (the last line of the text output)."""
    text = _plain_headline(run, code, stage)
    if not run.multi or not run.targets:
        return text
    where = ", ".join(f"{t.name} at {t.at}" for t in run.targets)
    head, _, _ = text.rpartition("database at ")
    if head and text.endswith("."):
        return f"{head}databases: {where}."
    if text.startswith("Already at"):
        return f"Already at the target: {where}; nothing to apply."
    return text


def _plain_headline(run: Run, code: ExitCode, stage: str) -> str:
    at = ", ".join(run.current) or "base"
    if code is not ExitCode.OK and run.started is None and stage == "preflight":
        # Stopped before the database was read (a broken history, a bad id): "at base"
        # would be a guess, and a frightening one.
        return (
            f"safe-upgrade stopped in stage {stage} (exit {int(code)}) before reading the"
            " database: position not read; nothing was changed."
        )
    if code is not ExitCode.OK and run.options.sql and stage == "upgrade":
        return (
            f"safe-upgrade --sql stopped writing the SQL (stage {stage}, exit {int(code)});"
            " nothing ran on the database."
        )
    if code is not ExitCode.OK and run.position_given:
        return (
            f"safe-upgrade --sql stopped in stage {stage} (exit {int(code)}) without reading"
            " the database; nothing was changed."
        )
    if code is not ExitCode.OK:
        return f"safe-upgrade stopped in stage {stage} (exit {int(code)}); database at {at}."
    if run.options.sql:
        return f"SQL for {plural(len(run.plan), 'revision')} printed; nothing was changed."
    if run.options.dry_run:
        if not run.plan:
            return f"Dry run: at {at}, nothing to apply."
        return f"Dry run: {plural(len(run.plan), 'revision')} would be applied; nothing changed."
    if run.applied:
        seconds = sum(step.seconds for step in run.applied)
        return (
            f"Applied {plural(len(run.applied), 'revision')} in {seconds:.2f}s; database at {at}."
        )
    if run.another:
        return f"Another migrator applied the plan; database at {at}."
    return f"Already at {at}: nothing to apply."


def shape_facts(run: Run, facts: dict[str, Any]) -> None:
    """The multi-database JSON: ``bind`` on each applied step, and ``binds``."""
    if not run.multi:
        return
    facts["applied"] = [
        {"revision": s.revision, "seconds": round(s.seconds, 3), "bind": s.bind}
        for s in run.applied
    ]
    facts["binds"] = [
        {
            "bind": target.key,
            "url": _masked(target),
            "from": list(target.started) if run.started is not None else None,
            "current": list(target.current) if run.started is not None else None,
            "plan": [script.revision for script in target.plan],
            "applied": [
                {"revision": s.revision, "seconds": round(s.seconds, 3)}
                for s in run.applied
                if s.bind == target.key
            ],
            "backup": str(target.backup) if target.backup is not None else None,
        }
        for target in run.targets
    ]
