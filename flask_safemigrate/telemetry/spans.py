"""The OpenTelemetry subscriber: safe-upgrade's events as spans and metrics.

One root span for the run (``safemigrate safe-upgrade``, a child of whatever span the app has
open), one span per stage under it (``safemigrate preflight``, ``... lock``, ``... backup``,
``... upgrade``, ``... verify``), and one span per revision under ``upgrade`` (``safemigrate
revision``, the id in ``safemigrate.revision``: span names stay low-cardinality). A revision
retried after a lock timeout keeps its span, with a ``retry`` event per attempt and
``safemigrate.retries``. Metrics: revisions applied and failed (counters), each revision's
duration and each migration lock's wait (histograms, seconds).

Imported only when ``opentelemetry-api`` is installed (:mod:`flask_safemigrate.telemetry`).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, Status, StatusCode

from flask_safemigrate.errors import ExitCode
from flask_safemigrate.telemetry import names
from flask_safemigrate.upgrade.events import (
    Endpoint,
    Event,
    LockAcquired,
    Retrying,
    RunEnded,
    RunStarted,
    StageStarted,
    StepEnded,
    StepStarted,
)
from flask_safemigrate.version import __version__

__all__ = ["Subscriber", "endpoint_attributes"]

#: A revision's step: its target and revision.
Key = tuple[str | None, str | None]


def endpoint_attributes(endpoint: Endpoint) -> dict[str, Any]:
    """The semantic conventions' database attributes of a target (never its credentials)."""
    found: dict[str, Any] = {}
    if endpoint.system is not None:
        found[names.DB_SYSTEM_NAME] = names.SYSTEMS.get(endpoint.system, endpoint.system)
    if endpoint.namespace is not None:
        found[names.DB_NAMESPACE] = endpoint.namespace
    if endpoint.address is not None:
        found[names.SERVER_ADDRESS] = endpoint.address
    if endpoint.port is not None:
        found[names.SERVER_PORT] = endpoint.port
    return found


class Subscriber:
    """Turns one run's events into spans and metrics (:meth:`emit`), then ends what is still
    open (:meth:`close`)."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer = trace.get_tracer(
            names.INSTRUMENTATION, __version__, tracer_provider=tracer_provider
        )
        meter = metrics.get_meter(names.INSTRUMENTATION, __version__, meter_provider=meter_provider)
        self.applied = meter.create_counter(
            names.REVISIONS_APPLIED, unit="{revision}", description="Revisions applied."
        )
        self.failed = meter.create_counter(
            names.REVISIONS_FAILED,
            unit="{revision}",
            description="Revisions that failed (after their retries).",
        )
        self.duration = meter.create_histogram(
            names.REVISION_DURATION, unit="s", description="How long each revision ran."
        )
        self.lock_wait = meter.create_histogram(
            names.LOCK_WAIT, unit="s", description="How long the run waited for a migration lock."
        )
        self.root: Span = self.tracer.start_span("safemigrate safe-upgrade")
        self.stage: Span | None = None
        self.stage_name: str | None = None
        self.endpoints: dict[str | None, dict[str, Any]] = {}
        #: Open revision spans, and how many retries each had.
        self.steps: dict[Key, tuple[Span, int]] = {}
        #: A step that ended failed: a retry may follow (then its span goes on), else it failed.
        self.failing: tuple[Key, StepEnded] | None = None
        self.ended: RunEnded | None = None

    # --- events ------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if self.failing is not None and not (
            isinstance(event, Retrying) and (event.target, event.revision) == self.failing[0]
        ):
            self._step_failed(*self.failing)
        if isinstance(event, RunStarted):
            self._run_started(event)
        elif isinstance(event, StageStarted):
            self._enter(event.stage)
        elif isinstance(event, LockAcquired):
            self.lock_wait.record(event.seconds, self._metric_attributes(event.target))
            if self.stage is not None:
                self.stage.add_event("lock acquired", {names.SECONDS: event.seconds})
        elif isinstance(event, StepStarted):
            self._step_started(event)
        elif isinstance(event, StepEnded):
            self._step_ended(event)
        elif isinstance(event, Retrying):
            self._retrying(event)
        elif isinstance(event, RunEnded):
            self.ended = event

    def _run_started(self, event: RunStarted) -> None:
        for endpoint in event.databases:
            self.endpoints[endpoint.target] = endpoint_attributes(endpoint)
        self.root.set_attribute(names.REVISION, event.revision)
        if len(event.databases) == 1:
            self.root.set_attributes(self.endpoints[event.databases[0].target])
        self._enter("preflight")

    def _enter(self, stage: str) -> None:
        self._end_stage(None)
        context = trace.set_span_in_context(self.root)
        self.stage = self.tracer.start_span(
            f"safemigrate {stage}", context=context, attributes={names.STAGE: stage}
        )
        self.stage_name = stage

    def _end_stage(self, error: str | None) -> None:
        if self.stage is None:
            return
        if error is not None:
            self.stage.set_status(Status(StatusCode.ERROR))
            self.stage.set_attribute(names.ERROR_TYPE, error)
        self.stage.set_attribute(names.OUTCOME, "ok" if error is None else "failed")
        self.stage.end()
        self.stage = None

    def _step_attributes(self, target: str | None, revision: str | None) -> dict[str, Any]:
        found = {names.TARGET: target or "default", **self.endpoints.get(target, {})}
        if revision is not None:
            found[names.REVISION] = revision
        return found

    def _metric_attributes(self, target: str | None) -> dict[str, Any]:
        endpoint = self.endpoints.get(target, {})
        found: dict[str, Any] = {names.TARGET: target or "default"}
        if names.DB_SYSTEM_NAME in endpoint:
            found[names.DB_SYSTEM_NAME] = endpoint[names.DB_SYSTEM_NAME]
        return found

    def _step_started(self, event: StepStarted) -> None:
        key = (event.target, event.revision)
        if key not in self.steps:  # else: the retry of a revision that waited for a lock
            self.steps[key] = (self._open_step(key, event.position), 0)

    def _open_step(self, key: Key, position: int | None) -> Span:
        target, revision = key
        attributes = self._step_attributes(target, revision)
        if position is not None:
            attributes[names.POSITION] = position + 1
        return self.tracer.start_span(
            "safemigrate revision",
            context=trace.set_span_in_context(self.stage or self.root),
            attributes=attributes,
        )

    def _step_ended(self, event: StepEnded) -> None:
        key = (event.target, event.revision)
        if event.outcome == "failed":
            self.failing = (key, event)  # a Retrying next keeps the span open
            return
        span, retries = self.steps.pop(key, (None, 0))
        if span is None:  # a step this subscriber did not see start: a span of its own
            span = self._open_step(key, event.position)
        span.set_attributes(
            {names.SECONDS: event.seconds, names.OUTCOME: "ok", names.RETRIES: retries}
        )
        span.end()
        attributes = self._metric_attributes(event.target)
        self.applied.add(1, attributes)
        self.duration.record(event.seconds, {**attributes, names.OUTCOME: "ok"})

    def _retrying(self, event: Retrying) -> None:
        key = (event.target, event.revision)
        self.failing = None
        span, retries = self.steps.get(key, (None, 0))
        if span is None:
            return
        self.steps[key] = (span, retries + 1)
        span.add_event(
            "retry",
            {
                "safemigrate.attempt": event.attempt,
                "safemigrate.pause": event.pause,
                names.SECONDS: event.waited if event.waited is not None else -1.0,
            },
        )

    def _step_failed(self, key: Key, event: StepEnded) -> None:
        self.failing = None
        span, retries = self.steps.pop(key, (None, 0))
        if span is None:  # failed before its start was seen (a commit-time failure)
            span = self._open_step(key, event.position)
        span.set_attributes(
            {
                names.SECONDS: event.seconds,
                names.OUTCOME: "failed",
                names.RETRIES: retries,
                names.ERROR_TYPE: "revision_failed",
            }
        )
        span.set_status(Status(StatusCode.ERROR, f"revision {event.revision} failed"))
        span.end()
        attributes = self._metric_attributes(event.target)
        self.failed.add(1, attributes)
        self.duration.record(event.seconds, {**attributes, names.OUTCOME: "failed"})

    # --- the end ------------------------------------------------------------------------

    def close(self, error: BaseException | None) -> None:
        """End every open span: how the run ended (its :class:`RunEnded`), or ``error``, the
        exception that left the run (a Ctrl-C: ``interrupted``)."""
        if self.failing is not None:
            self._step_failed(*self.failing)
        if error is not None:
            outcome = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
            kind = type(error).__name__
        elif self.ended is not None:
            outcome = self.ended.outcome
            kind = ExitCode(self.ended.exit_code).name.lower() if outcome != "ok" else ""
        else:
            outcome, kind = "failed", "no_report"
        for (_, _), (span, retries) in self.steps.items():  # left running by the error
            span.set_attributes({names.OUTCOME: outcome, names.RETRIES: retries})
            if kind:
                span.set_attribute(names.ERROR_TYPE, kind)
                span.set_status(Status(StatusCode.ERROR))
            span.end()
        self.steps.clear()
        self._end_stage(kind or None)
        root = self.root
        root.set_attribute(names.OUTCOME, outcome)
        if self.ended is not None:
            root.set_attributes(
                {
                    names.EXIT_CODE: self.ended.exit_code,
                    names.STAGE: self.ended.reached,
                    "safemigrate.applied": self.ended.applied,
                }
            )
        if kind:
            root.set_attribute(names.ERROR_TYPE, kind)
            root.set_status(Status(StatusCode.ERROR, f"safe-upgrade {outcome}"))
        root.end()
