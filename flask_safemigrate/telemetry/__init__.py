"""safe-upgrade's spans and metrics through OpenTelemetry, when the app has it (extra ``otel``).

The pipeline's progress events (:mod:`flask_safemigrate.upgrade.events`) are all it reads:
:func:`recording` puts a subscriber beside the command's sink, so the run does not change
shape, and the terminal, the JSON logs and the telemetry are made from the same events.

The app configures OpenTelemetry (its tracer and meter providers, exporters, sampling); this
package never does. With ``opentelemetry-api`` absent nothing is imported and nothing happens;
with the API but no SDK set up, the API's no-op providers take the calls. A failure inside
the telemetry (an exporter or a processor that raises) is logged once and ends the
telemetry of that run, never the run: see :mod:`.guard`.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import Any

from flask_safemigrate.telemetry.guard import Guarded
from flask_safemigrate.upgrade.events import Progress

__all__ = ["available", "recording"]


def available() -> bool:
    """Whether ``opentelemetry-api`` is installed (looked up without importing it)."""
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):  # no `opentelemetry` package at all
        return False


@contextlib.contextmanager
def recording(
    progress: Progress, *, tracer_provider: Any = None, meter_provider: Any = None
) -> Iterator[Progress]:
    """The sink to hand :func:`~flask_safemigrate.upgrade.safe_upgrade`: ``progress`` first,
    then the spans and metrics of the run (a root span while the block lasts).

    ``tracer_provider``/``meter_provider``: the app's, when it does not set the global ones
    (tests pass the SDK's); ``None`` uses OpenTelemetry's global providers. Without the
    ``otel`` extra this yields ``progress`` itself.
    """
    if not available():
        yield progress
        return
    sink = Guarded(progress, tracer_provider=tracer_provider, meter_provider=meter_provider)
    sink.start()
    try:
        yield sink
    except BaseException as error:
        sink.close(error)
        raise
    sink.close(None)
