"""safe-upgrade through its Python API: the events a real run emits, recorded by a sink.

No CLI here: :func:`flask_safemigrate.upgrade.safe_upgrade` with a recording
:class:`~flask_safemigrate.upgrade.Progress`, on SQLite, PostgreSQL and MariaDB. The wording of
the same events is the CLI's (tests/upgrade/test_safe_upgrade.py reads it).
"""

from __future__ import annotations

import threading

import flask_migrate
from flask import Flask

from flask_safemigrate import app_engine_options, locks, upgrade
from flask_safemigrate.database import mask_url
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.render.progress import ProgressPrinter, event_line
from flask_safemigrate.report import Result
from flask_safemigrate.upgrade import events
from tests.support.apps import MakeApp
from tests.support.databases import DbKind
from tests.upgrade.histories import (
    LEGACY,
    REVISIONS,
    TABLES,
    models,
    prepare,
    seed_legacy_table,
    versions_of,
)


class Recorder(upgrade.Progress):
    """Keeps every event in order."""

    def __init__(self) -> None:
        self.events: list[events.Event] = []

    def emit(self, event: events.Event) -> None:
        self.events.append(event)

    def of(self, kind: type[events.Event]) -> list[events.Event]:
        return [event for event in self.events if isinstance(event, kind)]


def label_of(app: Flask) -> str:
    """How the run names the app's database: its engine's URL, masked, shown as the app
    configured it (without the ``?charset=utf8mb4`` Flask-SQLAlchemy adds on MariaDB)."""
    with app.app_context(), app_engine_options.applied(app.config):
        return mask_url(app.extensions["migrate"].db.engine.url)


def run(app: Flask) -> tuple[Result, Recorder]:
    recorder = Recorder()
    return upgrade.safe_upgrade(app, upgrade.Options(), recorder), recorder


def steps(recorder: Recorder) -> list[tuple[str, int, int, str | None, str]]:
    """``(kind, position, total, revision, outcome or message)`` of each step event."""
    found: list[tuple[str, int, int, str | None, str]] = []
    for event in recorder.events:
        if isinstance(event, events.StepStarted):
            found.append(("start", event.position, event.total, event.revision, event.message))
        elif isinstance(event, events.StepEnded):
            found.append(("end", event.position, event.total, event.revision, event.outcome))
    return found


def test_a_successful_run_emits_each_stage_as_data(
    make_app: MakeApp, database_url: str, db_kind: DbKind
) -> None:
    # backup by default: SQLite only, and of a database that has a table (LEGACY)
    app = make_app(database_url, models=models((*TABLES, LEGACY)))
    prepare(app)
    seed_legacy_table(database_url)

    outcome, recorder = run(app)

    assert outcome.exit_code is ExitCode.OK, outcome.report.findings
    kinds = [type(event).__name__ for event in recorder.events]
    backup = ["BackupWritten"] if db_kind == "sqlite" else ["BackupOff"]
    assert kinds == [
        "RunStarted",
        "Planned",
        "Linted",
        "CompatChecked",
        "StageStarted",
        "LockWaiting",
        "LockAcquired",
        "StageStarted",
        *backup,
        "StageStarted",
        *["StepStarted", "StepEnded"] * len(REVISIONS),
        "StageStarted",
        "Verified",
        "ReleaseRecorded",
        "RunEnded",
    ]
    entered = [e.stage for e in recorder.of(events.StageStarted)]
    assert entered == ["lock", "backup", "upgrade", "verify"]
    (started,) = recorder.of(events.RunStarted)
    assert isinstance(started, events.RunStarted) and started.revision == "heads"
    assert [(d.target, d.system) for d in started.databases] == [(None, db_kind)]
    assert recorder.of(events.RunEnded) == [
        events.RunEnded(outcome="ok", exit_code=0, reached="done", applied=len(REVISIONS))
    ]
    stages = [event.stage for event in recorder.events]
    assert stages == sorted(stages, key=upgrade.STAGES.index), "stages only move forward"
    assert all(event.target is None for event in recorder.events), "one target: no bind named"

    database = label_of(app)
    assert recorder.of(events.Planned) == [
        events.Planned(database=database, current=(), plan=tuple(REVISIONS), pending=len(REVISIONS))
    ]
    assert recorder.of(events.Linted) == [events.Linted(warnings=0, scripts=len(REVISIONS))]
    assert recorder.of(events.CompatChecked) == [
        events.CompatChecked(
            database=database,
            release=None,
            ran=False,
            breaks=0,
            skipped="no release recorded yet",
            mode="block",
        )
    ]
    assert recorder.of(events.ReleaseRecorded) == [
        events.ReleaseRecorded(database=database, heads=(REVISIONS[-1],))
    ]
    settings = app.extensions["safemigrate"].get_settings(app)
    assert recorder.of(events.LockWaiting) == [
        events.LockWaiting(database=database, wait=settings.lock_wait)
    ]
    (acquired,) = recorder.of(events.LockAcquired)
    assert isinstance(acquired, events.LockAcquired) and acquired.seconds >= 0
    if db_kind == "sqlite":
        (written,) = recorder.of(events.BackupWritten)
        assert isinstance(written, events.BackupWritten)
        assert written.path == outcome.report.facts["backup"]

    total = len(REVISIONS)
    expected = []
    for position, (revision, table) in enumerate(zip(REVISIONS, TABLES, strict=True)):
        expected.append(("start", position, total, revision, f"create the {table} table"))
        expected.append(("end", position, total, revision, "ok"))
    assert steps(recorder) == expected
    applied = outcome.report.facts["applied"]
    seconds = [e.seconds for e in recorder.of(events.StepEnded) if isinstance(e, events.StepEnded)]
    assert [round(s, 3) for s in seconds] == [step["seconds"] for step in applied]
    assert recorder.of(events.Verified) == [
        events.Verified(positions=(events.Position(None, (REVISIONS[-1],), at_head=True),))
    ]

    # A second run finds nothing to do: it plans nothing, takes no lock, and records
    # nothing (the release recorded last is this one).
    again, second = run(app)
    assert again.exit_code is ExitCode.OK
    assert [type(e).__name__ for e in second.events] == [
        "RunStarted",
        "Planned",
        "StageStarted",
        "Verified",
        "RunEnded",
    ]
    assert second.of(events.Planned) == [
        events.Planned(database=database, current=(REVISIONS[-1],), plan=(), pending=0)
    ]


def test_a_failing_revision_ends_its_step_failed_and_nothing_after(
    make_app: MakeApp, database_url: str
) -> None:
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app, fail_at=2)

    outcome, recorder = run(app)

    assert outcome.exit_code is ExitCode.MIGRATION_FAILED
    total = len(REVISIONS)
    assert steps(recorder) == [
        ("start", 0, total, REVISIONS[0], f"create the {TABLES[0]} table"),
        ("end", 0, total, REVISIONS[0], "ok"),
        ("start", 1, total, REVISIONS[1], f"create the {TABLES[1]} table"),
        ("end", 1, total, REVISIONS[1], "ok"),
        ("start", 2, total, REVISIONS[2], f"create the {TABLES[2]} table"),
        ("end", 2, total, REVISIONS[2], "failed"),
    ]
    *_, last_step, ended = recorder.events
    assert isinstance(last_step, events.StepEnded), "no verify after a failure"
    assert ended == events.RunEnded(
        outcome="failed", exit_code=int(ExitCode.MIGRATION_FAILED), reached="upgrade", applied=2
    )
    assert recorder.of(events.Verified) == []
    assert outcome.report.facts["stage"] == "upgrade"
    assert versions_of(database_url) == [REVISIONS[1]]


def test_the_command_sink_words_the_recorded_events_as_the_cli_prints_them(
    make_app: MakeApp, database_url: str
) -> None:
    """The same events through the CLI's printer give the lines ``flask db safe-upgrade``
    prints: the wording lives at the edge and is made from the events alone."""
    app = make_app(database_url, models=models(TABLES[:2]), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app, count=2)
    _, recorder = run(app)

    written: list[str] = []
    printer = ProgressPrinter(lambda text, nl: written.append(text + ("\n" if nl else "")))
    for event in recorder.events:
        printer.emit(event)
    lines = "".join(written).splitlines()

    database = label_of(app)
    assert lines[0] == f"preflight: {database} at base: 2 revisions to apply"
    assert lines[1] == "preflight: lint: no findings in 2 pending scripts"
    assert lines[2] == (
        f"preflight: compat: no release recorded yet on {database}, nothing to compare"
        " (a successful safe-upgrade records the release it deploys)"
    )
    assert lines[3].startswith("lock: taking the migration lock (waits up to ")
    assert lines[4].startswith("lock: acquired in ")
    assert lines[5] == (
        f'backup: off for {database} (app.config["SAFEMIGRATE_BACKUP"] is False):'
        " pass --backup to write one"
    )
    assert lines[6].startswith(f"[1/2] {REVISIONS[0]}  create the widgets table ... ok ")
    assert lines[7].startswith(f"[2/2] {REVISIONS[1]}  create the gadgets table ... ok ")
    assert lines[8:] == [
        "verify: at head, no drift from the models",
        f"release: recorded the models of this release on {database} (at {REVISIONS[1]}):"
        " the next safe-upgrade checks they survive its migrations",
    ]
    assert printer.applied == [
        {"revision": e.revision, "seconds": round(e.seconds, 3)}
        for e in recorder.of(events.StepEnded)
        if isinstance(e, events.StepEnded)
    ]


class MigratesWhileWaiting(Recorder):
    """Records the events; when the run starts waiting for the lock, lets the holder go on
    (it applies part of the plan, as a replica that got the lock first does, and lets go)."""

    def __init__(self, waiting: threading.Event) -> None:
        super().__init__()
        self.waiting = waiting

    def emit(self, event: events.Event) -> None:
        super().emit(event)
        if isinstance(event, events.LockWaiting):
            self.waiting.set()


def test_a_replica_that_waited_says_what_another_applied_meanwhile(
    make_app: MakeApp, database_url: str
) -> None:
    """Planned 3 at pre-flight; while it waited for the lock another migrator applied 2: it
    says so before it applies the last one (before: "3 revisions to apply", then "[1/1]" with
    no word of why)."""
    app = make_app(database_url, models=models(TABLES[:3]), config={"SAFEMIGRATE_BACKUP": False})
    migrations = prepare(app, count=3)
    held, waiting = threading.Event(), threading.Event()

    def other_replica() -> None:
        with locks.migration_lock(database_url, name=locks.lock_name(database_url), wait=0):
            held.set()
            if waiting.wait(30):
                with app.app_context():
                    flask_migrate.upgrade(directory=str(migrations), revision=REVISIONS[1])

    holder = threading.Thread(target=other_replica)
    holder.start()
    try:
        assert held.wait(30)
        recorder = MigratesWhileWaiting(waiting)
        outcome = upgrade.safe_upgrade(app, upgrade.Options(), recorder)
    finally:
        waiting.set()
        holder.join()

    assert outcome.exit_code is ExitCode.OK, outcome.report.findings
    (planned,) = recorder.of(events.Planned)
    assert isinstance(planned, events.Planned) and len(planned.plan) == 3
    (moved,) = recorder.of(events.AnotherMoved)
    assert event_line(moved) == (
        f"lock: another migrator applied part of the plan meanwhile: now at {REVISIONS[1]};"
        " 1 revision left to apply"
    )
    assert [step[3] for step in steps(recorder) if step[0] == "start"] == [REVISIONS[2]]
    assert recorder.of(events.AnotherApplied) == []
    assert versions_of(database_url) == [REVISIONS[2]]


def test_the_sizes_line_names_a_table_the_plan_changes_that_is_not_there(
    make_app: MakeApp, database_url: str
) -> None:
    """A pending revision writes into a table that does not exist (a typo): pre-flight read
    the sizes and said "read the size of 1 table (0 existing)"; it names the table now, before
    the revision fails on it."""
    app = make_app(database_url, models=models(), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app, fail_at=2)
    recorder = Recorder()

    outcome = upgrade.safe_upgrade(app, upgrade.Options(dry_run=True), recorder)

    assert outcome.exit_code is ExitCode.OK, outcome.report.findings
    (sizes,) = recorder.of(events.SizesRead)
    assert event_line(sizes) == (
        f"preflight: {label_of(app)}: read the size of 1 table the plan changes; not there"
        " now: no_such_table"
    )
