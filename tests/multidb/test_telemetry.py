"""Telemetry of a multi-database run (issue #21): each bind's revisions are spans with that
bind's target and database system, and the metrics are counted per bind."""

from __future__ import annotations

from pathlib import Path

from flask_safemigrate import telemetry, upgrade
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.telemetry import names
from tests.support.apps import AppTracker
from tests.support.multidb import FIRST, SECOND, Binds, multidb_app
from tests.telemetry.otel import Telemetry


def test_each_binds_revisions_are_spans_of_that_bind(
    binds: Binds, tmp_path: Path, track_app: AppTracker
) -> None:
    app = multidb_app(binds, tmp_path, track_app)
    otel = Telemetry()
    try:
        with telemetry.recording(upgrade.Progress(), **otel.providers()) as sink:
            result = upgrade.safe_upgrade(app, upgrade.Options(), sink)
        spans = list(otel.finished())
        applied = {
            dict(p.attributes)[names.TARGET]: p.value for p in otel.points(names.REVISIONS_APPLIED)
        }
    finally:
        otel.shutdown()

    assert result.exit_code is ExitCode.OK, result.report.findings
    (root,) = [span for span in spans if span.parent is None]
    assert names.DB_SYSTEM_NAME not in (root.attributes or {}), "several databases: per span"
    steps = sorted(
        (
            (span.attributes or {})[names.TARGET],
            (span.attributes or {})[names.REVISION],
            (span.attributes or {})[names.DB_SYSTEM_NAME],
            (span.attributes or {})[names.OUTCOME],
        )
        for span in spans
        if span.name == "safemigrate revision"
    )
    default_kind, logs_kind = binds.kinds
    assert steps == [
        ("default", FIRST, default_kind, "ok"),
        ("default", SECOND, default_kind, "ok"),
        ("logs", FIRST, logs_kind, "ok"),
        ("logs", SECOND, logs_kind, "ok"),
    ]
    assert applied == {"default": 2, "logs": 2}
