"""The backup stage: a copy of each target about to change, and the pruning of older copies
after a successful run (``SAFEMIGRATE_BACKUP_KEEP``). The copying itself lives in
:mod:`flask_safemigrate.backup`; this module decides which targets, where, and reports it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from flask_safemigrate import database
from flask_safemigrate.releases import TOOL_TABLES
from flask_safemigrate.upgrade import events, wording
from flask_safemigrate.upgrade.state import Run
from flask_safemigrate.upgrade.targets import Target

__all__ = ["backup", "has_tables", "prune_backups"]


def backup(run: Run) -> None:
    """A backup of each target that has a plan and wants one (SQLite by default)."""
    run.enter("backup")
    settings = run.setup.settings
    directory: Path | None = None
    for target in run.targets:
        wanted = run.options.backup
        why: Literal["default", "setting", "option"] = "option"
        if wanted is None:
            wanted, why = settings.backup, "setting"
        if not target.plan:
            continue
        if wanted is False:  # the backup package is not imported
            run.progress.emit(_off(target, why))
            continue
        from flask_safemigrate import backup as backups

        if wanted is None:
            wanted = backups.by_default(target.dialect)
        if not wanted:
            run.progress.emit(_off(target, "default"))
            continue
        if not has_tables(run, target):
            run.progress.emit(
                events.BackupSkipped(target=target.progress_name, database=target.label)
            )
            continue
        directory = directory or (
            Path(settings.backup_dir)
            if settings.backup_dir
            else Path(run.app.instance_path) / "backups"
        )
        database.close_idle()  # none kept idle while it copies
        target.backup = backups.backup_database(
            target.url,
            directory,
            label=wording.backup_label(target),
            timeout=settings.connect_timeout,
            tool_timeout=settings.backup_timeout,
        )
        if run.backup_path is None:
            run.backup_path = target.backup
        run.progress.emit(
            events.BackupWritten(
                target=target.progress_name, database=target.label, path=str(target.backup)
            )
        )


def _off(target: Target, why: Literal["default", "setting", "option"]) -> events.BackupOff:
    return events.BackupOff(target=target.progress_name, database=target.label, why=why)


def has_tables(run: Run, target: Target) -> bool:
    """Whether the target holds a table besides the version table, the ledger and the
    release record (in the
    connection's default schema, the version table's and the dedicated schema)."""
    setup = run.setup
    ours = {setup.version_table, *TOOL_TABLES}
    schemas = {None, setup.version_schema, setup.settings.schema}
    with run.connect(target) as connection:
        inspector = sa.inspect(connection)
        for schema in schemas:
            if schema is not None and not inspector.has_schema(schema):
                continue
            if set(inspector.get_table_names(schema=schema)) - ours:
                return True
    return False


def prune_backups(run: Run) -> None:
    """After a successful run: each backup it wrote counts among the last
    ``SAFEMIGRATE_BACKUP_KEEP`` of its database; older ones of that database go."""
    keep = run.setup.settings.backup_keep
    if keep <= 0 or all(target.backup is None for target in run.targets):
        return  # no backup written: the backup package (six modules, sqlite3) is not imported
    from flask_safemigrate import backup as backups

    for target in run.targets:
        if target.backup is None:
            continue
        removed = backups.prune_backups(target.backup, target.url, keep)
        if removed:
            run.backups_removed.extend(removed)
            run.progress.emit(
                events.BackupsPruned(
                    target=target.progress_name,
                    database=target.label,
                    removed=tuple(str(path) for path in removed),
                    keep=keep,
                )
            )
