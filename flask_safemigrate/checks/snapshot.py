"""``models-snapshot-stale``: the committed models snapshot against the models.

Only when the file exists: a project that never wrote one is not asked to.
"""

from __future__ import annotations

from typing import Any

from flask_safemigrate import models_snapshot
from flask_safemigrate.project import Setup
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path

__all__ = ["snapshot_findings"]


def _tables(data: dict[str, Any]) -> dict[tuple[Any, str], Any]:
    return {
        (database.get("bind"), name): table
        for database in data.get("databases", [])
        if isinstance(database, dict)
        for name, table in (database.get("tables") or {}).items()
    }


def _differing(committed: dict[str, Any], models: dict[str, Any]) -> list[str]:
    """The tables (``bind:table`` for a bind) whose description differs, sorted."""
    old, new = _tables(committed), _tables(models)
    keys = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    return sorted(name if bind is None else f"{bind}:{name}" for bind, name in keys)


def snapshot_findings(setup: Setup) -> list[Finding]:
    """``models-snapshot-stale`` when ``migrations/models.snapshot.json`` exists and is not
    what ``flask db snapshot`` would write now (or cannot be read). Compared as data: a
    file only laid out differently (line ends of a Windows checkout) is not stale."""
    path = models_snapshot.path_in(setup.directory)
    if not path.is_file():
        return []
    shown = display_path(path)
    hint = f"run `flask db snapshot` and commit {shown} with the models"
    models = models_snapshot.models_of(setup)
    try:
        text = path.read_text(encoding="utf-8")
        committed = models_snapshot.parse(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return [_stale(f"{shown} cannot be read: {reason}", shown, hint, [])]
    if committed == models:
        return []
    tables = _differing(committed, models)
    what = f"tables {', '.join(tables)}" if tables else "its databases"
    return [
        _stale(f"{shown} is not the snapshot of the models ({what} differ)", shown, hint, tables)
    ]


def _stale(message: str, shown: str, hint: str, tables: list[str]) -> Finding:
    return Finding(
        rule="models-snapshot-stale",
        severity=Severity.ERROR,
        message=message,
        path=shown,
        help=hint,
        extra={"tables": tables},
    )
