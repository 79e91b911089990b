"""The subscriber on events given by hand: what a real run rarely shows on cue (a retried
revision, a Ctrl-C in the middle of one) and what it must never show (credentials)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from opentelemetry.trace import StatusCode

from flask_safemigrate import project
from flask_safemigrate.telemetry import names
from flask_safemigrate.telemetry.spans import Subscriber, endpoint_attributes
from flask_safemigrate.upgrade import Interrupted, events
from flask_safemigrate.upgrade.targets import Target
from tests.telemetry.otel import Telemetry

REV = "a1000000wid1"


def started(*databases: events.Endpoint) -> events.RunStarted:
    return events.RunStarted(revision="heads", databases=databases)


def test_a_retried_revision_keeps_one_span_with_its_retries() -> None:
    otel = Telemetry()
    subscriber = Subscriber(**otel.providers())
    step = {"position": 0, "total": 1, "revision": REV}
    for event in (
        started(events.Endpoint(target=None, system="postgresql", address="db", port=5432)),
        events.StageStarted(stage="upgrade"),
        events.StepStarted(**step, message="create widgets"),
        events.StepEnded(**step, seconds=1.5, outcome="failed"),
        events.Retrying(revision=REV, lock_timeout=1, retries=3, attempt=1, pause=0.5, waited=1.2),
        events.StepStarted(**step, message="create widgets"),
        events.StepEnded(**step, seconds=0.25, outcome="ok"),
        events.RunEnded(outcome="ok", exit_code=0, reached="done", applied=1),
    ):
        subscriber.emit(event)
    subscriber.close(None)

    (revision,) = [s for s in otel.finished() if s.name == "safemigrate revision"]
    found = dict(revision.attributes or {})
    assert (found[names.OUTCOME], found[names.RETRIES], found[names.SECONDS]) == ("ok", 1, 0.25)
    assert found[names.SERVER_ADDRESS] == "db" and found[names.SERVER_PORT] == 5432
    (retry,) = revision.events
    assert retry.name == "retry" and dict(retry.attributes or {})["safemigrate.attempt"] == 1
    assert otel.points(names.REVISIONS_FAILED) == [], "a retried attempt is not a failure"
    (applied,) = otel.points(names.REVISIONS_APPLIED)
    assert applied.value == 1
    otel.shutdown()


def test_a_ctrl_c_ends_every_open_span_as_interrupted() -> None:
    otel = Telemetry()
    subscriber = Subscriber(**otel.providers())
    for event in (
        started(events.Endpoint(target=None, system="sqlite", namespace="app.db")),
        events.StageStarted(stage="upgrade"),
        events.StepStarted(position=0, total=2, revision=REV, message=""),
    ):
        subscriber.emit(event)
    subscriber.close(Interrupted("interrupted"))

    spans = {span.name: span for span in otel.finished()}
    assert set(spans) == {
        "safemigrate safe-upgrade",
        "safemigrate preflight",
        "safemigrate upgrade",
        "safemigrate revision",
    }
    for name in ("safemigrate safe-upgrade", "safemigrate upgrade", "safemigrate revision"):
        assert spans[name].status.status_code is StatusCode.ERROR, name
        assert (spans[name].attributes or {})[names.ERROR_TYPE] == "Interrupted"
    assert (spans["safemigrate revision"].attributes or {})[names.OUTCOME] == "interrupted"
    assert (spans["safemigrate safe-upgrade"].attributes or {})[names.OUTCOME] == "interrupted"
    assert spans["safemigrate preflight"].status.status_code is not StatusCode.ERROR
    otel.shutdown()


def test_no_credentials_reach_an_attribute() -> None:
    url = sa.make_url(
        "postgresql+psycopg://deployer:s3cret-pw@db.internal:6543/shop?sslmode=require"
    )
    endpoint = Target(project.Target(bind=None, url=url, metadata=sa.MetaData())).endpoint
    found = endpoint_attributes(endpoint)
    assert found == {
        names.DB_SYSTEM_NAME: "postgresql",
        names.DB_NAMESPACE: "shop",
        names.SERVER_ADDRESS: "db.internal",
        names.SERVER_PORT: 6543,
    }
    text = json.dumps(found) + repr(endpoint)
    assert "s3cret-pw" not in text and "deployer" not in text and "sslmode" not in text
