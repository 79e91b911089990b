"""The pieces the roundtrip is made of, shared with the pytest plugin's built-in tests.

A scratch run (:func:`on_scratch`) opens the scratch databases and an app context in which
the app's own ``env.py`` sees only them; :func:`run_step` runs one Alembic upgrade or
downgrade there and turns any error into the ``roundtrip-failed`` finding that names the
revision; :func:`head_drift` compares the scratch schema with the models (and
:func:`head_unmapped` looks for columns they leave out that inserts need). ``flask db verify
--roundtrip`` and the plugin (``flask_safemigrate.pytest_plugin``) both call these, so the
two cannot disagree about what failed or how it is worded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic import command as alembic_command
from sqlalchemy.engine import URL, Connection, Engine

from flask_safemigrate import database, faults, history, scratch
from flask_safemigrate.checks import DRIFT_HINT, describe, unmapped_findings
from flask_safemigrate.project import Setup
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.schema_diff import drift
from flask_safemigrate.text import display_path, one_line

__all__ = [
    "ScratchRun",
    "StepFailed",
    "head_drift",
    "head_unmapped",
    "on_scratch",
    "run_step",
    "versions",
]


class StepFailed(Exception):
    """A step of a scratch run failed; ``finding`` says which revision and what to do."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


@dataclass
class ScratchRun:
    """Open scratch databases: one engine per bind, Alembic's config, what to hide."""

    setup: Setup
    urls: Mapping[str | None, URL]
    engines: Mapping[str | None, Engine]
    #: Every URL whose password a message must never show (the app's and the scratch ones).
    hidden: Sequence[URL]
    config: Any

    @property
    def shown(self) -> str:
        """The scratch databases as messages name them (passwords masked)."""
        return ", ".join(database.mask_url(url) for url in self.urls.values())


@contextmanager
def on_scratch(setup: Setup, urls: Mapping[str | None, URL]) -> Iterator[ScratchRun]:
    """Engines on ``urls`` (one per bind) and the app context whose ``env.py`` uses them.

    The engines are disposed of at the end, so nothing stays connected after the block
    (PostgreSQL keeps connections between steps, each reset to a new session); the databases
    themselves belong to the caller (:func:`flask_safemigrate.scratch.scratch_databases`).
    """
    engines = {bind: scratch.scratch_engine(url) for bind, url in urls.items()}
    try:
        with scratch.scratch_app_context(setup.app, engines, urls):
            yield ScratchRun(
                setup=setup,
                urls=urls,
                engines=engines,
                hidden=[*setup.urls, *urls.values()],
                config=setup.alembic_config(),
            )
    finally:
        for engine in engines.values():
            engine.dispose()


def versions(run: ScratchRun, conn: Connection | None = None) -> set[str]:
    """The revisions the scratch database's version table holds, read on ``conn`` (a
    connection to it that the caller keeps) or on a new connection."""
    setup = run.setup
    with _reading(run, None, {None: conn} if conn is not None else None) as reader:
        return set(
            database.current_revisions(
                reader, version_table=setup.version_table, schema=setup.version_schema
            )
        )


@contextmanager
def _reading(
    run: ScratchRun, bind: str | None, kept: Mapping[str | None, Connection] | None
) -> Iterator[Connection]:
    """A connection to the scratch database of ``bind``: the caller's kept one, whose
    transaction is ended afterwards (MariaDB would otherwise keep the metadata locks that the
    next step's DDL waits for), or a new one, closed afterwards."""
    if kept is None:
        with run.engines[bind].connect() as conn:
            yield conn
        return
    try:
        yield kept[bind]
    finally:
        kept[bind].rollback()


#: How a failure names the step that failed.
_PHASES = {"upgrade": "upgrade", "downgrade": "downgrade", "re-upgrade": "re-upgrade"}


def run_step(run: ScratchRun, phase: str, script: history.Script, target: str) -> None:
    """Upgrade (``phase`` ``upgrade`` or ``re-upgrade``, after its downgrade) or downgrade
    (``downgrade``) to ``target`` through the app's ``env.py``; raises :class:`StepFailed`
    naming ``script`` when Alembic or the script raises."""
    direction = "downgrade" if phase == "downgrade" else "upgrade"
    try:
        if direction == "upgrade":
            alembic_command.upgrade(run.config, target)
        else:
            alembic_command.downgrade(run.config, target)
    except Exception as exc:  # a script can raise anything; each becomes a finding
        line = faults.line_in(exc, script.path)
        raise StepFailed(
            Finding(
                rule="roundtrip-failed",
                severity=Severity.ERROR,
                message=(
                    f"Roundtrip stopped: {_PHASES[phase]} of revision {describe(script)}"
                    + (" (its upgrade again, after its downgrade)" if phase == "re-upgrade" else "")
                    + f" failed on the scratch database: {one_line(exc, run.hidden)}"
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


def head_drift(
    run: ScratchRun, kept: Mapping[str | None, Connection] | None = None
) -> list[Finding]:
    """``schema-drift`` between each scratch database (at head) and its models, then
    ``unmapped-required-column`` (:func:`head_unmapped`); read on the caller's ``kept``
    connection of each bind, or on new ones."""
    setup = run.setup
    findings: list[Finding] = []
    for target in setup.targets:
        with _reading(run, target.bind, kept) as conn:
            lines = drift(conn, target.metadata, setup.configure_args)
        label = _scratch_label(target.bind)
        findings.extend(
            Finding(
                rule="schema-drift",
                severity=Severity.ERROR,
                message=f"{line} ({label} after upgrading from base to head)",
                help="the migrations do not build the schema the models describe: " + DRIFT_HINT,
                extra={"database": "scratch", "difference": line},
            )
            for line in lines
        )
    return findings + head_unmapped(run, kept)


def _scratch_label(bind: str | None) -> str:
    return "scratch database" if bind is None else f"scratch bind {bind!r}"


def head_unmapped(
    run: ScratchRun, kept: Mapping[str | None, Connection] | None = None
) -> list[Finding]:
    """``unmapped-required-column`` of each scratch database (at head): a column the
    migrations keep NOT NULL without a server default that the models no longer map."""
    findings: list[Finding] = []
    for target in run.setup.targets:
        where = f"{_scratch_label(target.bind)} after upgrading from base to head"
        with _reading(run, target.bind, kept) as conn:
            findings += unmapped_findings(conn, target.metadata, where, {"database": "scratch"})
    return findings
