"""``flask db ledger accept`` and ``flask db ledger show``: the ledger, reviewed from the CLI.

An edit of an applied migration is an incident (``edited-after-apply``) until someone who
read it says it changed nothing the database sees: :func:`accept_edit` records that
(an ``accept`` row with the script's new checksum and the reviewer's reason, on every one of
the app's databases where the revision is applied). :func:`show_ledger` lists the rows.
Both return a :class:`~flask_safemigrate.report.Result` for the command to render; expected
failures are raised as :class:`~flask_safemigrate.errors.SafeMigrateError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Connection

from flask_safemigrate import app_engine_options, applied_script, database, history, ledger
from flask_safemigrate.checks import applied_revisions
from flask_safemigrate.errors import ChecksFailed, ConfigError, ExitCode, PreflightError
from flask_safemigrate.project import Setup, Target, setup_of
from flask_safemigrate.report import Report, Result
from flask_safemigrate.text import display_path, one_line

__all__ = ["accept_edit", "entry_dict", "show_ledger"]


def accept_edit(
    app: Flask, revision: str, reason: str | None = None, directory: str | Path | None = None
) -> Result:
    """Record ``revision``'s script as it is now as reviewed (an ``accept`` ledger row).

    Raises :class:`ConfigError` (exit 2) for an unknown revision or a ledger turned off,
    :class:`ChecksFailed` (exit 1) for a script that does not parse (nothing is recorded:
    a broken file cannot be the reviewed one) or a revision applied to none of the app's
    databases, and :class:`PreflightError` (exit 3) for a database that cannot be read or
    written. A database whose ledger already matches the file gets no new row.
    ``directory`` replaces the app's migrations directory (``flask db -d``).
    """
    reason = " ".join(reason.split()) if reason else None
    with app.app_context(), app_engine_options.applied(app.config):
        setup = setup_of(app, directory)
        _require_ledger(setup)
        script = _script(setup.graph, revision, setup.command)
        shown = display_path(script.path)
        databases: list[dict[str, Any]] = []
        for target in setup.targets:
            databases.append(_accept_on(setup, target, script, reason))
    if not any(d["applied"] for d in databases):
        raise ChecksFailed(
            f"revision {script.revision} ({shown}) is applied to none of the app's databases:"
            " there is no recorded checksum to replace",
            hint="safe-upgrade records the script's checksum when it applies it",
            data={"revision": script.revision, "databases": databases},
        )
    report = Report(
        command="ledger accept",
        facts={
            "revision": script.revision,
            "path": shown,
            "checksum": ledger.checksum(script.path),
            "reason": reason,
            "databases": databases,
        },
    )
    return Result(report, ExitCode.OK)


def show_ledger(app: Flask, directory: str | Path | None = None) -> Result:
    """Every ledger row of each of the app's databases, in insertion order.

    Raises :class:`ConfigError` (exit 2) when the ledger is turned off and
    :class:`PreflightError` (exit 3) when a database cannot be read. ``directory``: as
    :func:`accept_edit`.
    """
    with app.app_context(), app_engine_options.applied(app.config):
        setup = setup_of(app, directory)
        _require_ledger(setup)
        databases = []
        for target in setup.targets:
            with _connected(setup, target, "reading") as connection:
                entries = ledger.read_entries(connection, setup.version_schema)
            databases.append(
                {
                    "database": database.mask_url(target.url),
                    "bind": target.bind,
                    "entries": [entry_dict(entry, target) for entry in entries],
                }
            )
    return Result(Report(command="ledger show", facts={"databases": databases}), ExitCode.OK)


def entry_dict(entry: ledger.Entry, target: Target) -> dict[str, Any]:
    """One row as JSON: the ledger's column names, timestamps in ISO 8601 (UTC), the
    ``error`` text (an ``accept`` row's reason) on one line with the URL's password masked."""
    error = None
    if entry.error:
        error = database.mask_text(" ".join(entry.error.split()), target.url)
    return {
        "id": entry.id,
        "revision": entry.revision,
        "direction": entry.direction,
        "checksum": entry.checksum,
        "started_at": entry.started_at.isoformat(timespec="seconds"),
        "finished_at": (
            entry.finished_at.isoformat(timespec="seconds") if entry.finished_at else None
        ),
        "duration_ms": entry.duration_ms,
        "success": entry.success,
        "applied_by": entry.applied_by,
        "error": error,
    }


def _require_ledger(setup: Setup) -> None:
    if not setup.settings.ledger:
        raise ConfigError(
            "the ledger is turned off (SAFEMIGRATE_LEDGER = False): there is nothing to read"
            " or record",
            hint="set SAFEMIGRATE_LEDGER = True (the default) to keep one",
        )


def _script(graph: history.RevisionGraph, revision: str, command: str) -> history.Script:
    """The script ``revision`` names (an id, a unique prefix or a branch label); ``command``
    starts the command the refusal suggests (``flask db -d DIR`` for another directory).

    A script that does not parse has no revision the graph knows; when its file name starts
    with ``revision`` (as Alembic names them) it is that script, refused for what it is.
    """
    for problem in graph.problems:
        if (
            problem.check == "unparseable-script"
            and problem.path is not None
            and problem.path.name.startswith(revision)
        ):
            raise ChecksFailed(
                f"refusing to accept revision {revision}: {problem.message.rstrip('.')}",
                where=display_path(problem.path),
                hint="fix the script so it parses, then accept it again",
                data={"revision": revision, "path": display_path(problem.path)},
            )
    try:
        (found,) = graph.resolve(revision)
    except (history.RevisionLookupError, ValueError) as exc:
        raise ConfigError(
            f"unknown revision {revision!r}: {str(exc).rstrip('.')}",
            hint=f"name a revision of `{command} history` (its id or a unique prefix)",
            data={"revision": revision},
        ) from None
    return graph.scripts[found]


def _accept_on(
    setup: Setup, target: Target, script: history.Script, reason: str | None
) -> dict[str, Any]:
    """Accept ``script`` on one database: what was recorded there, as a JSON object."""
    result: dict[str, Any] = {
        "database": database.mask_url(target.url),
        "bind": target.bind,
        "applied": False,
        "recorded": False,
        "previous_checksum": None,
    }
    with _connected(setup, target, "updating the ledger of") as connection:
        current = database.current_revisions(
            connection, version_table=setup.version_table, schema=setup.version_schema
        )
        if script.revision not in applied_revisions(setup.graph, current):
            return result
        result["applied"] = True
        rows = [
            e
            for e in ledger.read_entries(connection, setup.version_schema)
            if e.revision == script.revision and e.success and e.checksum is not None
        ]
        latest = rows[-1].checksum if rows else None
        result["previous_checksum"] = latest
        if latest is not None and ledger.matches(script.path, latest):
            return result  # nothing to accept: verify sees no edit here
        if latest is not None:  # compared with what ran (the last upgrade), not an accept
            ran = [e.checksum for e in rows if e.direction == "upgrade"]
            result["operations"] = _compare(setup, script, str((ran or [latest])[-1]), reason)
        ledger.accept(
            connection,
            revision=script.revision,
            path=script.path,
            schema=setup.version_schema,
            reason=reason,
        )
        connection.commit()
        result["recorded"] = True
    return result


def _compare(setup: Setup, script: history.Script, recorded: str, reason: str | None) -> str:
    """``same``, ``changed`` or ``unknown`` (the applied text is not in git): whether the
    edit changes the calls ``upgrade()``/``downgrade()`` make. A change is refused without
    ``--reason``: the databases at this revision never run the edited script."""
    old = applied_script.applied_text(script.path, recorded)
    if old is None:
        return "unknown"
    if applied_script.operations(old) == applied_script.operations(script.path.read_bytes()):
        return "same"
    if reason is None:
        raise ChecksFailed(
            f"refusing to accept revision {script.revision} without --reason: its upgrade() or"
            " downgrade() makes other calls than the applied script (its version committed in"
            " git), so the edit changes what the migration does, and the databases already at"
            f" {script.revision} will never run it; nothing was recorded",
            where=display_path(script.path),
            hint="restore the applied script and put the change in a new revision (`"
            f"{setup.command} migrate` or `{setup.command} revision`); if the databases"
            " need no change, accept it with --reason TEXT saying why",
            data={"revision": script.revision, "operations": "changed"},
        )
    return "changed"


@contextmanager
def _connected(setup: Setup, target: Target, doing: str) -> Iterator[Connection]:
    """``database.connect`` for one target, its SQL errors as one clear :class:`PreflightError`
    (an unreachable database raises ``DatabaseUnreachable``, exit 3, from ``connect``)."""
    try:
        with database.connect(
            target.url,
            timeout=setup.settings.connect_timeout,
            retries=setup.settings.connect_retries,
            read_only=True,
        ) as connection:
            yield connection
    except sa.exc.SQLAlchemyError as exc:
        raise PreflightError(
            f"{doing} database {target.label} failed: {one_line(exc, setup.urls)}",
            hint="check the account's privileges on the ledger table and its schema",
            data={"database": database.mask_url(target.url)},
        ) from None
