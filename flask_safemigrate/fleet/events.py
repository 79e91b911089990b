"""What a fleet run tells while it goes: structured events for the CLI to word.

As with :mod:`flask_safemigrate.upgrade.events`, nothing here prints: the command's sink
(``render/fleet.py``) turns them into one line per finished target and, on a terminal, a
live counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FleetPlanned", "FleetProgress", "TargetFinished", "TargetResult", "TargetStarted"]


@dataclass
class TargetResult:
    """One target's outcome in this run (a row of the JSON summary).

    ``status``: ``ok`` (reached the goal), ``current`` (was there already), ``failed``
    (its run exited non-zero), ``crashed`` (no report: killed, or it died), ``skipped``
    (not started: a canary failed, or ``--on-error stop``), ``interrupted``.
    """

    key: str
    kind: str
    stage: str
    status: str = "pending"
    from_revision: str | None = None
    to_revision: str | None = None
    exit_code: int | None = None
    error: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    started_at: str | None = None
    finished_at: str | None = None
    #: The child's safe-upgrade JSON report (``None`` when it gave none).
    report: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return self.status in {"failed", "crashed", "interrupted"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.key,
            "kind": self.kind,
            "stage": self.stage,
            "status": self.status,
            "from": self.from_revision,
            "to": self.to_revision,
            "exit_code": self.exit_code,
            "error": self.error,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


@dataclass(frozen=True)
class FleetPlanned:
    run_id: str
    total: int
    pending: int
    canary: int
    parallel: int
    #: What each pending target gets: ``upgrade to <revision>`` or ``verify``.
    action: str


@dataclass(frozen=True)
class TargetStarted:
    key: str
    stage: str
    running: int


@dataclass(frozen=True)
class TargetFinished:
    result: TargetResult
    done: int
    failed: int
    running: int
    pending: int
    elapsed: float


class FleetProgress:
    """A sink for the events above; this one ignores them (tests record them)."""

    def emit(self, event: FleetPlanned | TargetStarted | TargetFinished) -> None:
        """Receive one event."""
