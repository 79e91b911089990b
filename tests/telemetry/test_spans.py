"""safe-upgrade's spans and metrics, read with the SDK's in-memory exporter and metric reader,
on SQLite, PostgreSQL and MariaDB (issue #21).

The run goes through :func:`flask_safemigrate.telemetry.recording` as the command's does, with
providers of the test's own (the global ones stay untouched).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from flask_safemigrate import locks, telemetry, upgrade
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.report import Result
from flask_safemigrate.telemetry import names
from flask_safemigrate.upgrade import events
from tests.support.apps import MakeApp
from tests.support.databases import DbKind
from tests.support.timing import TIMING_PER_DATABASE
from tests.telemetry.otel import Telemetry
from tests.upgrade.histories import REVISIONS, TABLES, models, prepare


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    found = Telemetry()
    yield found
    found.shutdown()


class Recorder(upgrade.Progress):
    def __init__(self) -> None:
        self.events: list[events.Event] = []

    def emit(self, event: events.Event) -> None:
        self.events.append(event)


def run(app: Flask, otel: Telemetry, progress: upgrade.Progress | None = None) -> Result:
    with telemetry.recording(progress or upgrade.Progress(), **otel.providers()) as sink:
        return upgrade.safe_upgrade(app, upgrade.Options(), sink)


def by_name(spans: list[ReadableSpan] | tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_a_successful_run_is_one_root_its_stages_and_a_span_per_revision(
    make_app: MakeApp, database_url: str, db_kind: DbKind, otel: Telemetry
) -> None:
    app = make_app(database_url, models=models(TABLES[:3]))
    prepare(app, count=3)
    recorder = Recorder()

    result = run(app, otel, recorder)

    assert result.exit_code is ExitCode.OK, result.report.findings
    spans = list(otel.finished())
    (root,) = [span for span in spans if span.parent is None]
    assert root.name == "safemigrate safe-upgrade"
    assert root.status.status_code is not StatusCode.ERROR
    attributes = dict(root.attributes or {})
    assert attributes[names.DB_SYSTEM_NAME] == db_kind  # the URL's backend: mysql for MariaDB
    assert attributes[names.OUTCOME] == "ok"
    assert attributes[names.EXIT_CODE] == 0
    assert attributes[names.REVISION] == "heads"
    assert attributes["safemigrate.applied"] == 3
    if db_kind != "sqlite":
        assert attributes[names.SERVER_ADDRESS] == "127.0.0.1"
        assert isinstance(attributes[names.SERVER_PORT], int)
    stages = [span for span in spans if parent_id(span) == root.context.span_id]
    assert [span.name for span in sorted(stages, key=lambda s: s.start_time or 0)] == [
        "safemigrate preflight",
        "safemigrate lock",
        "safemigrate backup",
        "safemigrate upgrade",
        "safemigrate verify",
    ]
    assert all((s.attributes or {})[names.OUTCOME] == "ok" for s in stages)
    (upgrade_stage,) = by_name(stages, "safemigrate upgrade")
    revisions = by_name(spans, "safemigrate revision")
    assert {parent_id(span) for span in revisions} == {upgrade_stage.context.span_id}
    ordered = sorted(revisions, key=lambda s: s.start_time or 0)
    assert [(s.attributes or {})[names.REVISION] for s in ordered] == list(REVISIONS[:3])
    ended = [e for e in recorder.events if isinstance(e, events.StepEnded)]
    for span, event in zip(ordered, ended, strict=True):
        found = dict(span.attributes or {})
        assert found[names.TARGET] == "default"
        assert found[names.OUTCOME] == "ok"
        assert found[names.RETRIES] == 0
        assert found[names.SECONDS] == event.seconds
        assert found[names.DB_SYSTEM_NAME] == db_kind
        assert span.status.status_code is not StatusCode.ERROR
    # Every span starts and ends inside its parent.
    for span in spans:
        if span.parent is None:
            continue
        (parent,) = [s for s in spans if s.context.span_id == span.parent.span_id]
        assert parent.start_time <= span.start_time <= span.end_time <= parent.end_time

    (applied,) = otel.points(names.REVISIONS_APPLIED)
    assert applied.value == 3
    assert dict(applied.attributes)[names.DB_SYSTEM_NAME] == db_kind
    assert otel.points(names.REVISIONS_FAILED) == []
    (duration,) = otel.points(names.REVISION_DURATION)
    assert duration.count == 3
    assert duration.sum == pytest.approx(sum(event.seconds for event in ended))
    (waited,) = otel.points(names.LOCK_WAIT)
    assert waited.count == 1


def test_a_failing_revision_ends_in_error_and_counts_as_failed(
    make_app: MakeApp, database_url: str, otel: Telemetry
) -> None:
    app = make_app(database_url, models=models(TABLES[:3]), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app, count=3, fail_at=2)

    result = run(app, otel)

    assert result.exit_code is ExitCode.MIGRATION_FAILED
    spans = list(otel.finished())
    revisions = sorted(by_name(spans, "safemigrate revision"), key=lambda s: s.start_time or 0)
    outcomes = [(s.attributes or {})[names.OUTCOME] for s in revisions]
    assert outcomes == ["ok", "ok", "failed"]
    failed = revisions[-1]
    assert (failed.attributes or {})[names.REVISION] == REVISIONS[2]
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})[names.ERROR_TYPE] == "revision_failed"
    (stage,) = by_name(spans, "safemigrate upgrade")
    assert stage.status.status_code is StatusCode.ERROR
    assert by_name(spans, "safemigrate verify") == [], "no verify after a failure"
    (root,) = [span for span in spans if span.parent is None]
    assert root.status.status_code is StatusCode.ERROR
    assert (root.attributes or {})[names.ERROR_TYPE] == "migration_failed"
    assert (root.attributes or {})[names.EXIT_CODE] == int(ExitCode.MIGRATION_FAILED)

    (failures,) = otel.points(names.REVISIONS_FAILED)
    assert failures.value == 1
    (applied,) = otel.points(names.REVISIONS_APPLIED)
    assert applied.value == 2
    outcome_counts = {
        dict(point.attributes)[names.OUTCOME]: point.count
        for point in otel.points(names.REVISION_DURATION)
    }
    assert outcome_counts == {"ok": 2, "failed": 1}


class ReleasingRecorder(Recorder):
    """Lets the other migrator go a second after the run starts waiting for its lock."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def emit(self, event: events.Event) -> None:
        super().emit(event)
        if isinstance(event, events.LockWaiting):
            threading.Timer(1.0, self.release.set).start()


@TIMING_PER_DATABASE
def test_the_lock_wait_is_measured(make_app: MakeApp, database_url: str, otel: Telemetry) -> None:
    """Another migrator holds the lock for about a second: the histogram has that wait."""
    app = make_app(database_url, models=models(TABLES[:1]), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app, count=1)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with locks.migration_lock(database_url, name=locks.lock_name(database_url), wait=0):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(30)
        recorder = ReleasingRecorder(release)
        result = run(app, otel, recorder)
    finally:
        release.set()
        holder.join()

    assert result.exit_code is ExitCode.OK, result.report.findings
    (acquired,) = [e for e in recorder.events if isinstance(e, events.LockAcquired)]
    (waited,) = otel.points(names.LOCK_WAIT)
    assert waited.count == 1
    assert waited.sum == pytest.approx(acquired.seconds)
    assert waited.sum >= 0.9  # the holder kept it about a second
    (stage,) = by_name(list(otel.finished()), "safemigrate lock")
    (event,) = [e for e in stage.events if e.name == "lock acquired"]
    assert (event.attributes or {})[names.SECONDS] == acquired.seconds
