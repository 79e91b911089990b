"""The fleet's words: a line per finished target, the TTY counter, fleet-status as text."""

from __future__ import annotations

from flask_safemigrate.fleet.events import FleetPlanned, TargetFinished, TargetResult
from flask_safemigrate.render.fleet import FleetPrinter, status_lines


def _printer(live: bool) -> tuple[FleetPrinter, list[tuple[str, bool]]]:
    written: list[tuple[str, bool]] = []
    return FleetPrinter(lambda text, nl: written.append((text, nl)), live=live), written


def _finished(key: str, status: str, done: int, failed: int) -> TargetFinished:
    result = TargetResult(key, "schema", "parallel", status, "base", "abc123", seconds=1.5)
    if status == "failed":
        result.exit_code, result.error = 4, "revision abc123 failed: boom"
    return TargetFinished(result, done, failed, running=2, pending=5, elapsed=4.0)


def test_one_line_per_finished_target_and_no_counter_off_a_terminal() -> None:
    printer, written = _printer(live=False)
    printer.emit(FleetPlanned("run1", 10, 8, 1, 4, "upgrade to abc123"))
    printer.emit(_finished("acme", "ok", 1, 0))
    printer.emit(_finished("initech", "failed", 2, 1))
    lines = [text for text, _ in written]
    assert lines[0].startswith("fleet run run1: 10 target(s), 8 to upgrade to abc123")
    assert lines[1] == "[1/8] acme ok base -> abc123 (1.50s)"
    assert lines[2] == (
        "[2/8] initech failed base -> abc123 (1.50s) (exit 4): revision abc123 failed: boom"
    )
    assert all(nl for _, nl in written)


def test_a_position_never_read_is_not_shown_as_base() -> None:
    """A target whose database could not be read (unreachable, refused login) has no known
    position: the line must not say it went ``base -> base``."""
    unread = TargetResult("globex", "url", "parallel", "failed", None, None, seconds=0.1)
    unread.exit_code, unread.error = 3, "cannot connect to postgresql+psycopg://app:***@db/globex"
    crashed = TargetResult("initech", "url", "parallel", "crashed", "abc123", None, seconds=0.2)
    crashed.exit_code, crashed.error = -9, "no report"
    verified = TargetResult("acme", "url", "check", "ok", None, "abc123", seconds=0.3)
    printer, written = _printer(live=False)
    printer.emit(FleetPlanned("run1", 2, 2, 0, 2, "upgrade to def456"))
    printer.emit(TargetFinished(unread, 1, 1, running=1, pending=0, elapsed=1.0))
    printer.emit(TargetFinished(crashed, 2, 2, running=0, pending=0, elapsed=2.0))
    printer.emit(TargetFinished(verified, 3, 2, running=0, pending=0, elapsed=2.0))
    lines = [text for text, _ in written]
    assert lines[1] == (
        "[1/2] globex failed (0.10s) (exit 3):"
        " cannot connect to postgresql+psycopg://app:***@db/globex"
    )
    assert lines[2] == "[2/2] initech crashed abc123 -> unknown (0.20s) (exit -9): no report"
    assert lines[3] == "[3/2] acme ok at abc123 (0.30s)"  # verify --fleet: not read before


def test_on_a_terminal_a_counter_follows_each_line_and_is_cleared_before_the_next() -> None:
    printer, written = _printer(live=True)
    printer.emit(FleetPlanned("run1", 10, 8, 0, 4, "verify"))
    printer.emit(_finished("acme", "ok", 2, 1))
    counter, nl = written[-1]
    assert not nl
    assert counter == "done 2/8  failed 1  running 2  0.50/s  ETA 12s"
    printer.emit(_finished("globex", "ok", 3, 1))
    assert written[3] == ("\r\033[K", False)
    printer.close()
    assert written[-1] == ("\r\033[K", False)


def test_fleet_status_text_puts_failures_first_and_counts_revisions() -> None:
    facts = {
        "targets": [
            {
                "target": "initech",
                "status": "failed",
                "to_revision": "a1",
                "exit_code": 4,
                "attempts": 2,
                "error": "boom",
            },
            {"target": "acme", "status": "ok", "to_revision": "b2", "exit_code": 0, "attempts": 1},
        ],
        "revisions": {"a1": 1, "b2": 1},
        "summary": "2 target(s): 1 failed, 1 ok",
    }
    lines = status_lines(facts)
    assert lines[0].startswith("failed      initech  at a1  exit 4  attempts 2  boom")
    assert lines[1].startswith("ok          acme  at b2")
    assert lines[-2] == "per revision: a1 1, b2 1"
