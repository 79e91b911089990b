"""``--log-format json``: what a command writes to stderr, as one JSON object per line.

For log pipelines (journald, Loki, CloudWatch, ...): every line a command writes to stderr
while it runs becomes an object ``{"timestamp", "level", "event", ...fields}``. Progress
events arrive as records already (:func:`record_line`, from
:class:`flask_safemigrate.render.progress.JsonLogPrinter`); an error is one ``error`` record
(``message``, ``where``, ``help``); any other line (Alembic's, a warning, a post-write hook's
report) is a ``message`` record holding the line; a log record at WARNING or above is a
``log`` record of its level. The command points stderr here
(:func:`flask_safemigrate.cli_support.stderr_as_json`). stdout is untouched: it keeps the command's
result (``--format``), so the two compose.

No Flask here: ``safemigrate lint`` takes the option too and starts without it.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import threading
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["LEVELS", "JsonLines", "RecordHandler", "record_line"]

#: The ``level`` values, as Python's logging names them (lower case).
LEVELS = ("debug", "info", "warning", "error")

#: Every record starts with this (keys in this order), which tells them from other lines.
_RECORD_START = '{"timestamp":'


def record_line(event: str, level: str, fields: Mapping[str, Any]) -> str:
    """One record: ``timestamp`` (UTC, ISO 8601, milliseconds), ``level``, ``event``, then
    the fields (values JSON cannot hold are written as strings)."""
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    document = {"timestamp": stamp.replace("+00:00", "Z"), "level": level, "event": event}
    document.update({key: value for key, value in fields.items() if key not in document})
    return json.dumps(document, default=str, separators=(",", ":"))


class JsonLines(io.TextIOBase):
    """A text stream that writes each line it is given to ``target`` as a record.

    Lines that are records already pass as they are. Thread-safe: a heartbeat thread and the
    run write at once, and each line stays whole.
    """

    def __init__(self, target: TextIO) -> None:
        super().__init__()
        self.target = target
        self._pending = ""
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "strict"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click asks whether the stream takes bytes
            raise TypeError("JsonLines writes text")
        with self._lock:
            lines = (self._pending + text).split("\n")
            self._pending = lines.pop()
            for line in lines:
                self._line(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                self._line(self._pending)
                self._pending = ""
        if not self.target.closed:  # closing this stream flushes; its target may be gone
            self.target.flush()

    def record(self, event: str, level: str, fields: Mapping[str, Any]) -> None:
        """Write one record (after what is pending)."""
        self.flush()
        with self._lock:
            self.target.write(record_line(event, level, fields) + "\n")
        self.target.flush()

    def _line(self, line: str) -> None:
        if not line.strip():
            return
        if line.startswith(_RECORD_START):
            self.target.write(line + "\n")
        else:
            level = "error" if line.startswith("Error: ") else "info"
            self.target.write(record_line("message", level, {"message": line}) + "\n")


class RecordHandler(logging.Handler):
    """Log records (the telemetry's warning, a library's) as records of their level."""

    def __init__(self, stream: JsonLines) -> None:
        super().__init__(logging.WARNING)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = {"message": record.getMessage(), "logger": record.name}
            self.stream.record("log", record.levelname.lower(), fields)
        except Exception:
            self.handleError(record)
