"""A fleet run's words: one line per finished target, a live counter, the status table.

The fleet's library (:mod:`flask_safemigrate.fleet`) emits events and returns reports; this
module, at the CLI edge, turns them into text. The counter is redrawn in place (``\\r``) on a
terminal only; elsewhere (CI logs, a pod's log) only the per-target lines are written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_safemigrate.fleet.events import (
    FleetPlanned,
    FleetProgress,
    TargetFinished,
    TargetResult,
    TargetStarted,
)
from flask_safemigrate.safe_text import printable

__all__ = ["FleetJsonLogPrinter", "FleetPrinter", "result_line", "status_lines"]

Echo = Callable[[str, bool], None]
#: Writes one JSON log record: ``(event, level, fields)``.
Record = Callable[[str, str, dict[str, Any]], None]


def result_line(result: TargetResult, done: int, total: int) -> str:
    """``[3/50] tenant_7 ok base -> 1c2d3e (2.41s)`` or ``... failed (exit 4): why``.

    A position never read (``None``: the database could not be reached, a crashed run left no
    report, ``verify --fleet`` reads none before) is not ``base`` (which is ``"base"``): only
    the end, ``at 1c2d3e``, or ``1c2d3e -> unknown``, or nothing when neither was read."""
    start, end = result.from_revision, result.to_revision
    if start is None:
        moved = f" at {end}" if end is not None else ""
    else:
        moved = f" {start} -> {end or 'unknown'}"
    head = f"[{done}/{total}] {result.key} {result.status}{moved} ({result.seconds:.2f}s)"
    if result.failed:
        head += f" (exit {result.exit_code}): {result.error or 'no report'}"
    return printable(head)


class FleetPrinter(FleetProgress):
    """Writes each finished target as a line; on a TTY also a counter (done, failed,
    running, rate, ETA) that the next line overwrites."""

    def __init__(self, echo: Echo, *, live: bool) -> None:
        self.echo = echo
        self.live = live
        self.total = 0
        self.counter_shown = False

    def emit(self, event: FleetPlanned | TargetStarted | TargetFinished) -> None:
        if isinstance(event, FleetPlanned):
            self.total = event.pending
            self.echo(
                f"fleet run {event.run_id}: {event.total} target(s), {event.pending} to"
                f" {event.action} (canary {event.canary}, parallel {event.parallel})",
                True,
            )
        elif isinstance(event, TargetFinished):
            self._clear()
            self.echo(result_line(event.result, event.done, self.total), True)
            if self.live:
                rate = event.done / event.elapsed if event.elapsed > 0 else 0.0
                left = self.total - event.done
                eta = f"{left / rate:.0f}s" if rate > 0 else "?"
                self.echo(
                    f"done {event.done}/{self.total}  failed {event.failed}  running"
                    f" {event.running}  {rate:.2f}/s  ETA {eta}",
                    False,
                )
                self.counter_shown = True

    def _clear(self) -> None:
        if self.counter_shown:
            self.echo("\r\033[K", False)
            self.counter_shown = False

    def close(self) -> None:
        self._clear()


class FleetJsonLogPrinter(FleetProgress):
    """``--fleet --log-format json``: each event as one record (``fleet_planned``,
    ``target_started``, ``target_finished`` with the target's report entry), as safe-upgrade's
    own events are, so a log collector follows a fleet run without parsing lines."""

    def __init__(self, record: Record) -> None:
        self.record = record

    def emit(self, event: FleetPlanned | TargetStarted | TargetFinished) -> None:
        if isinstance(event, FleetPlanned):
            self.record("fleet_planned", "info", dict(vars(event)))
        elif isinstance(event, TargetStarted):
            fields = {"target": event.key, "stage": event.stage, "running": event.running}
            self.record("target_started", "info", fields)
        else:
            fields = event.result.to_dict()  # the target's entry of the JSON summary
            fields.update(
                done=event.done,
                failures=event.failed,
                running=event.running,
                queued=event.pending,
                elapsed=round(event.elapsed, 3),
            )
            self.record("target_finished", "error" if event.result.failed else "info", fields)

    def close(self) -> None:
        """Nothing to clear: records are whole lines."""


def status_lines(facts: dict[str, Any]) -> list[str]:
    """``flask db fleet-status`` as text: failures first, then counts per revision."""
    lines = []
    for entry in facts["targets"]:
        status = entry["status"]
        at = entry.get("to_revision") or entry.get("from_revision") or "-"
        line = f"{status:<11} {entry['target']}  at {at}"
        if entry.get("exit_code") not in (None, 0):
            line += f"  exit {entry['exit_code']}"
        if entry.get("attempts"):
            line += f"  attempts {entry['attempts']}"
        if entry.get("error") and status != "ok":
            line += f"  {entry['error']}"
        lines.append(printable(line))
    if facts["revisions"]:
        lines.append(
            "per revision: " + ", ".join(f"{rev} {n}" for rev, n in facts["revisions"].items())
        )
    lines.append(printable(str(facts["summary"])))
    return lines
