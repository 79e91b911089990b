"""The sink :func:`~flask_safemigrate.telemetry.recording` hands the run: the command's sink
first, then the OpenTelemetry subscriber, which may never fail the migration.

Whatever the subscriber raises (an SDK processor, an exporter, a provider the app wrote) is
logged once (logger ``flask_safemigrate.telemetry``, WARNING) and turns the subscriber off
for the rest of the run: half a trace is better than a failed deploy. The subscriber module
is imported here only when ``opentelemetry-api`` is present (the package checks first).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from flask_safemigrate.upgrade.events import Event, Progress

__all__ = ["LOGGER", "Guarded"]

LOGGER = "flask_safemigrate.telemetry"


class Guarded(Progress):
    """Forwards each event to ``progress``, then to the OpenTelemetry subscriber."""

    def __init__(self, progress: Progress, *, tracer_provider: Any, meter_provider: Any) -> None:
        self.progress = progress
        self._providers = (tracer_provider, meter_provider)
        self._subscriber: Any = None
        #: Whether the subscriber failed (then it is off for the rest of the run).
        self.failed = False

    def start(self) -> None:
        def begin() -> None:
            from flask_safemigrate.telemetry.spans import Subscriber

            tracer_provider, meter_provider = self._providers
            self._subscriber = Subscriber(tracer_provider, meter_provider)

        self._guarded(begin)

    def emit(self, event: Event) -> None:
        self.progress.emit(event)  # the user's progress first, whatever telemetry does
        subscriber = self._subscriber
        if subscriber is not None:
            self._guarded(lambda: subscriber.emit(event))

    def close(self, error: BaseException | None) -> None:
        subscriber = self._subscriber
        if subscriber is not None:
            self._guarded(lambda: subscriber.close(error))

    def _guarded(self, call: Any) -> None:
        if self.failed:
            return
        try:
            call()
        except Exception as problem:
            self.failed = True
            self._subscriber = None
            _report(problem)


def _report(problem: Exception) -> None:
    """Say once that the telemetry stopped, and why; a failure to say it is swallowed too."""
    with contextlib.suppress(Exception):  # nothing of the telemetry may fail the migration
        logger = logging.getLogger(LOGGER)
        # The stock env.py's fileConfig disables every logger that existed before it ran
        # (disable_existing_loggers): a side effect on ours, not a choice to silence it.
        logger.disabled = False
        logger.warning(
            "telemetry turned off for this run: %s: %s (the migration goes on; check the"
            " app's OpenTelemetry exporters and processors)",
            type(problem).__name__,
            problem,
        )
