"""``flask db graph``'s library function: the app's history as a :class:`HistoryGraph`.

It reads the scripts statically (:func:`flask_safemigrate.project.setup_of`), and, unless
told not to, asks each of the app's databases where it stands and how long the ledger says
each revision took. A database that cannot be read is not an error here: the picture is
still worth having, so the graph says "not connected" and why, and marks nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from flask_safemigrate import app_engine_options, database, ledger
from flask_safemigrate.errors import PreflightError, SafeMigrateError
from flask_safemigrate.graph.collapse import DEFAULT_MIN_RUN, collapse_runs
from flask_safemigrate.graph.model import DatabaseMarks, HistoryGraph, build_model
from flask_safemigrate.project import Setup, setup_of
from flask_safemigrate.text import one_line

__all__ = ["NO_DB_NOTE", "history_graph", "read_marks"]

NO_DB_NOTE = "database: not connected (--no-db)"
#: How many times :func:`.database.connect` tried, at the end of its error: ``(1 attempt)``,
#: ``(1 attempt, not retried: the server answered and refused it)``.
_ATTEMPTS = re.compile(r" \(\d+ attempts?(?:, [^()]*)?\)$")


def _durations(entries: list[ledger.Entry]) -> dict[str, int]:
    """Each revision's last successful upgrade, in milliseconds."""
    found: dict[str, int] = {}
    for entry in entries:
        if entry.direction == "upgrade" and entry.success and entry.duration_ms is not None:
            found[entry.revision] = int(entry.duration_ms)
    return found


def read_marks(setup: Setup) -> DatabaseMarks:
    """Where each of the app's databases stands, and the ledger's durations; a database that
    cannot be read gives an unconnected mark with the one-line reason (password masked).

    One attempt per database, no retries: a picture is not worth a deploy's patience."""
    current: set[str] = set()
    durations: dict[str, int] = {}
    shown: list[str] = []
    for target in setup.targets:
        try:
            with database.connect(
                target.url, timeout=setup.settings.connect_timeout, retries=0, read_only=True
            ) as connection:
                current.update(
                    database.current_revisions(
                        connection,
                        version_table=setup.version_table,
                        schema=setup.version_schema,
                    )
                )
                if setup.settings.ledger:
                    durations.update(
                        _durations(ledger.read_entries(connection, setup.version_schema))
                    )
        except SafeMigrateError as error:
            # One attempt, never retried: "(1 attempt, not retried: ...)" says nothing here,
            # and the note, cut to fit the picture, keeps its end for the reason.
            reason = _ATTEMPTS.sub("", error.message)
            return DatabaseMarks(False, f"database: not connected ({reason})")
        except sa.exc.SQLAlchemyError as error:
            reason = one_line(error, setup.urls)
            return DatabaseMarks(
                False, f"database: not connected (reading {target.label} failed: {reason})"
            )
        shown.append(target.label)
    return DatabaseMarks(True, f"database: {', '.join(shown)}", tuple(sorted(current)), durations)


def history_graph(
    app: Flask,
    directory: str | Path | None = None,
    *,
    use_db: bool = True,
    full: bool = False,
    min_run: int = DEFAULT_MIN_RUN,
) -> HistoryGraph:
    """The history of ``app`` (``directory``: a command's ``-d``) as a graph to draw.

    ``use_db`` False reads no database; ``full`` keeps every revision (else runs of at
    least ``min_run`` plain revisions are folded). Raises :class:`ConfigError` (exit 2) for
    a missing migrations directory and :class:`PreflightError` (exit 3) for a history with a
    cycle, which has no order to draw.
    """
    with app.app_context(), app_engine_options.applied(app.config):
        setup = setup_of(app, directory)
        cycles = [p for p in setup.graph.problems if p.check == "revision-cycle"]
        if cycles:
            raise PreflightError(
                cycles[0].message,
                where=str(cycles[0].path) if cycles[0].path else None,
                hint=cycles[0].hint,
            )
        marks = read_marks(setup) if use_db else DatabaseMarks(False, NO_DB_NOTE)
    model = build_model(setup.graph, marks)
    notes = tuple(p.message for p in setup.graph.problems if p.check != "multiple-heads")
    model = HistoryGraph(model.nodes, model.edges, model.database, notes=notes)
    return model if full else collapse_runs(model, min_run)
