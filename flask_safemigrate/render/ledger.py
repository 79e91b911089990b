"""``flask db ledger show`` and ``flask db ledger accept`` as text (JSON is their report's facts).

``show`` prints one block per database, one line per row, oldest first (here cut after
the revision; then come ``ok``/``FAILED``, the seconds, who, the checksum and any note)::

    Ledger of postgresql+psycopg://app:***@db/app (2 rows)
         1  2025-05-01T09:30:00+00:00  upgrade    a1a1a1a1a1a1  ok  ...
         2  2025-05-02T10:00:00+00:00  upgrade    b2            ok  ...

The revision column is as wide as the block's longest id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_safemigrate.report import Report
from flask_safemigrate.safe_text import printable
from flask_safemigrate.text import plural

__all__ = ["render_ledger_text"]


def render_ledger_text(report: Report) -> str:
    """The report of ``ledger show`` or ``ledger accept`` as lines for a terminal."""
    if report.command == "ledger accept":
        return "\n".join(_accept_lines(report.facts))
    return "\n".join(_show_lines(report.facts))


def _show_lines(facts: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for db in facts["databases"]:
        entries = db["entries"]
        bind = f" (bind {db['bind']!r})" if db["bind"] is not None else ""
        if not entries:
            lines.append(
                f"Ledger of {db['database']}{bind}: no rows (nothing applied by safe-upgrade yet)"
            )
            continue
        lines.append(f"Ledger of {db['database']}{bind} ({plural(len(entries), 'row')})")
        # Hand-written ids (`--rev-id q1`) beside Alembic's 12 hex digits: one column width.
        width = max(len(printable(entry["revision"])) for entry in entries)
        for entry in entries:
            lines.append("  " + printable(_row(entry, width)))
    return lines


def _row(entry: Mapping[str, Any], width: int) -> str:
    seconds = f"{entry['duration_ms'] / 1000:.2f}s" if entry["duration_ms"] is not None else "-"
    parts = [
        f"{entry['id']:>4}",
        entry["started_at"],
        f"{entry['direction']:<9}",
        f"{entry['revision']:<{width}}",
        "ok    " if entry["success"] else "FAILED",
        f"{seconds:>8}",
        entry["applied_by"] or "unknown",
    ]
    if entry["checksum"]:
        parts.append(f"sha256 {entry['checksum'][:12]}")
    if entry["error"]:
        # The column is `error`, but only a failed row's text is an error: an accept's is
        # its --reason, a successful resolve's says how it was resolved.
        if not entry["success"]:
            label = "error"
        else:
            label = "reason" if entry["direction"] == "accept" else "note"
        parts.append(f"{label}: {entry['error']}")
    return "  ".join(parts)


def _accept_lines(facts: Mapping[str, Any]) -> list[str]:
    lines = []
    for db in facts["databases"]:
        bind = f" (bind {db['bind']!r})" if db["bind"] is not None else ""
        where = f"{db['database']}{bind}"
        if not db["applied"]:
            lines.append(
                f"{where}: revision {facts['revision']} is not applied there; nothing recorded"
            )
        elif db["recorded"]:
            was = db["previous_checksum"]
            before = f" (was {was[:12]})" if was else ""
            digest = facts["checksum"][:12]
            lines.append(f"{where}: accepted {facts['path']} as reviewed, sha256 {digest}{before}")
        else:
            lines.append(f"{where}: the ledger already matches {facts['path']}; nothing recorded")
    if facts.get("reason"):
        if any(db["recorded"] for db in facts["databases"]):
            lines.append(f"reason: {facts['reason']}")
        else:  # said as kept, a reason no row holds would be an audit note that is lost
            lines.append(f"reason not recorded: no row was written to hold it ({facts['reason']})")
    outcomes = {db.get("operations") for db in facts["databases"] if db["recorded"]}
    if "changed" in outcomes:
        lines.append(
            f"warning: the edit changes the calls of upgrade() or downgrade(): the databases"
            f" already at {facts['revision']} will not get that change (only new ones will);"
            " a schema change belongs in a new revision"
        )
    elif "unknown" in outcomes:
        lines.append(
            "note: the applied version of the script is not in git, so the edit was not"
            " compared with it: accept only edits that change nothing the database sees"
        )
    return [printable(line) for line in lines]
