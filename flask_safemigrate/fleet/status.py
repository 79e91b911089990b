"""``flask db fleet-status``: where every target stands, as the fleet table recorded it.

Each target's latest row (any run, any shard) gives its status and revision; targets that
``SAFEMIGRATE_TARGETS`` returns but no run recorded are ``unknown``. Failures come first,
then targets a killed run left ``running``, then the rest; counts are per revision and per
status. The exit code is 1 when any target's latest outcome is a failure (a check that
failed), so a deploy script can ask "is the fleet done?".
"""

from __future__ import annotations

import collections
from typing import Any

from flask import Flask

from flask_safemigrate import database, project
from flask_safemigrate.errors import ExitCode
from flask_safemigrate.fleet import table
from flask_safemigrate.fleet.targets import load
from flask_safemigrate.report import Report, Result

__all__ = ["fleet_status"]

_FAILED = {"failed", "crashed", "interrupted"}
_ORDER = {"failed": 0, "crashed": 0, "interrupted": 0, "running": 1, "skipped": 2, "unknown": 3}


def fleet_status(app: Flask, run_id: str | None = None) -> Result:
    """The fleet's standing (module docstring); ``run_id`` narrows it to one run."""
    with app.app_context():
        setup = project.setup_of(app)
        settings = setup.settings
        control_url = settings.fleet_url or setup.targets[0].url
        known = load(app, settings) if settings.targets and run_id is None else []
    database.refuse_missing_sqlite_file(control_url)  # reading must not create the file
    engine = table.control_engine(control_url)
    try:
        rows = table.latest(table.read(engine, run_id))
    finally:
        engine.dispose()
    entries: list[dict[str, Any]] = [row.to_dict() for row in rows.values()]
    for target in known:
        if target.key not in rows:
            entries.append({"target": target.key, "kind": target.kind, "status": "unknown"})
    entries.sort(key=lambda e: (_ORDER.get(e["status"], 4), e["target"]))
    revisions = collections.Counter(
        str(e.get("to_revision") or e.get("from_revision") or "unknown") for e in entries
    )
    statuses = collections.Counter(str(e["status"]) for e in entries)
    failed = sum(statuses[s] for s in _FAILED)
    runs = sorted({str(e["run_id"]) for e in entries if e.get("run_id")})
    summary = (
        f"{len(entries)} target(s): " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
        if entries
        else "no fleet run recorded yet"
    )
    report = Report(
        "fleet-status",
        facts={
            "ok": failed == 0,
            "runs": runs,
            "revisions": dict(sorted(revisions.items())),
            "counts": dict(sorted(statuses.items())),
            "targets": entries,
            "summary": summary,
        },
    )
    return Result(report, ExitCode.CHECKS_FAILED if failed else ExitCode.OK)
