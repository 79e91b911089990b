"""Telemetry is optional and never in the way (issue #21): without ``opentelemetry-api``
nothing is imported and the run is the same; a raising exporter or processor does not fail
the upgrade.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from flask_safemigrate import telemetry, upgrade
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.telemetry import names
from flask_safemigrate.upgrade import events
from tests.support.apps import REPO_ROOT, MakeApp
from tests.telemetry.otel import Telemetry
from tests.upgrade.histories import REVISIONS, TABLES, models, prepare, versions_of


def cli_run(mode: str, folder: Path) -> dict[str, Any]:
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "tests.telemetry.cli_run", mode, str(folder)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return found


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what changes from run to run (seconds, paths, the summary's time)."""
    facts = {key: value for key, value in report.items() if key not in {"summary", "backup"}}
    facts["applied"] = [step["revision"] for step in report["applied"]]
    return facts


def test_without_the_extra_nothing_is_imported_and_the_run_is_the_same(tmp_path: Path) -> None:
    blocked = cli_run("blocked", tmp_path / "blocked")
    plain = cli_run("plain", tmp_path / "plain")
    with_sdk = cli_run("sdk", tmp_path / "sdk")

    assert blocked["loaded"] == []
    assert any(name == "opentelemetry.trace" for name in plain["loaded"])
    # The API alone: its no-op providers; SafeMigrate never loads or configures the SDK.
    assert not any(name.startswith("opentelemetry.sdk") for name in plain["loaded"])
    for found in (blocked, plain, with_sdk):
        assert found["exit_code"] == 0, found["stderr"]
        assert found["report"]["applied"] and found["report"]["ok"] is True
    assert comparable(blocked["report"]) == comparable(plain["report"])
    assert comparable(with_sdk["report"]) == comparable(plain["report"])
    assert [step["revision"] for step in blocked["report"]["applied"]] == list(REVISIONS[:3])
    # The command hands the app's global provider its spans: the root and one per revision.
    names_seen = [span["name"] for span in with_sdk["spans"]]
    assert names_seen.count("safemigrate safe-upgrade") == 1
    revisions = [s["revision"] for s in with_sdk["spans"] if s["name"] == "safemigrate revision"]
    assert revisions == list(REVISIONS[:3])


def test_available_says_whether_the_api_is_installed() -> None:
    assert telemetry.available() is True  # the test extra has it; cli_run blocks it


class RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise ConnectionError("collector unreachable")

    def shutdown(self) -> None:
        pass


class RaisingProcessor(SpanProcessor):
    """Fails on the third span started: the telemetry then stops, the run goes on."""

    def __init__(self) -> None:
        self.started = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started += 1
        if self.started == 3:
            raise RuntimeError("processor broke")


@pytest.mark.parametrize("broken", ["exporter", "processor"])
def test_a_raising_exporter_or_processor_does_not_fail_the_upgrade(
    make_app: MakeApp,
    database_url: str,
    broken: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(database_url, models=models(TABLES[:3]), config={"SAFEMIGRATE_BACKUP": False})
    prepare(app, count=3)
    otel = Telemetry()
    exporter = RaisingExporter()
    processor = RaisingProcessor()
    if broken == "exporter":
        otel.tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        otel.tracer_provider.add_span_processor(processor)
    seen: list[events.Event] = []

    class Recorder(upgrade.Progress):
        def emit(self, event: events.Event) -> None:
            seen.append(event)

    try:
        with (
            caplog.at_level(logging.WARNING),
            telemetry.recording(Recorder(), **otel.providers()) as sink,
        ):
            result = upgrade.safe_upgrade(app, upgrade.Options(), sink)
    finally:
        otel.shutdown()

    assert result.exit_code is ExitCode.OK, result.report.findings
    assert versions_of(database_url) == [REVISIONS[2]]
    assert any(isinstance(event, events.RunEnded) for event in seen), "the sink got every event"
    if broken == "exporter":
        assert exporter.calls > 0  # it was called and raised; the SDK logged it
    else:
        assert processor.started == 3, "telemetry stopped at the failure"
        assert "telemetry turned off for this run: RuntimeError: processor broke" in caplog.text
        assert otel.points(names.REVISIONS_APPLIED) == [], "nothing recorded after it"
