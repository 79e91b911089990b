"""``flask db snapshot``, and the snapshot ``flask db migrate`` refreshes: the app's models as
the migrations manage them (the default database, and every bind with the multi-database
``env.py``), written to ``migrations/models.snapshot.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask

from flask_safemigrate import app_engine_options
from flask_safemigrate.errors import ConfigError, ExitCode
from flask_safemigrate.models_snapshot.describe import describe_metadata
from flask_safemigrate.models_snapshot.files import FORMAT, path_in, render, write_atomic
from flask_safemigrate.project import Setup, setup_of
from flask_safemigrate.report import Report, Result
from flask_safemigrate.text import display_path, plural

__all__ = ["models_of", "refresh", "take"]


def models_of(setup: Setup) -> dict[str, Any]:
    """The snapshot's data for ``setup``'s databases (the default one first, binds sorted)."""
    return {
        "format": FORMAT,
        "databases": [
            {"bind": target.bind, "tables": describe_metadata(target.metadata)}
            for target in setup.targets
        ],
    }


def refresh(setup: Setup) -> tuple[Path, bool]:
    """Write the snapshot of ``setup``'s models (atomically): its path and whether the file
    changed. Raises :class:`ConfigError` when it cannot be written."""
    path = path_in(setup.directory)
    text = render(models_of(setup))
    try:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return path, False
        write_atomic(path, text)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {display_path(path)}: {exc.strerror or exc}",
            hint="check the migrations directory's permissions and free space",
        ) from None
    return path, True


def take(app: Flask, directory: str | Path | None = None, x_args: Sequence[str] = ()) -> Result:
    """``flask db snapshot``: write the snapshot; the report's facts are ``path``,
    ``changed`` and ``tables`` (how many, every database counted)."""
    with app.app_context(), app_engine_options.applied(app.config):
        setup = setup_of(app, directory, x_args)
        path, changed = refresh(setup)
        tables = sum(len(target.metadata.tables) for target in setup.targets)
    shown = display_path(path)
    note = f"{'Wrote' if changed else 'Unchanged:'} {shown} ({plural(tables, 'table')})."
    report = Report(
        "snapshot",
        [],
        facts={"path": shown, "changed": changed, "tables": tables},
        notes=[note],
    )
    return Result(report, ExitCode.OK)
