"""``verify --compat-with REF``: the previous release's snapshot against the schema the
migrations build on a scratch database (as ``--roundtrip`` makes one, never the app's).

Every revision is upgraded from base to head on the scratch databases through the app's own
``env.py``; each database's tables are then read back and described as the snapshot
describes models (:mod:`flask_safemigrate.models_snapshot`), and compared with the old
snapshot's by :func:`flask_safemigrate.compat.breaks.release_breaks`, safe-upgrade's
comparison: a column the pending scripts rename is one ``column-renamed`` break there too.
The pending scripts are the ones the previous release did not have: with a git ref, the
scripts whose files that commit lacks (:func:`flask_safemigrate.git_files.files_at`); with a
snapshot file, which does not say, every script (a rename the old release already had
matches nothing: its snapshot maps the new name; unless the old name was used again since).
The same scratch schema is checked against the release being built too:
``unmapped-required-column`` (:func:`flask_safemigrate.verify.steps.head_unmapped`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import command as alembic_command
from sqlalchemy.engine import Connection

from flask_safemigrate import database, dedicated_schema, faults, git_files, history, scratch
from flask_safemigrate.compat.breaks import release_breaks
from flask_safemigrate.compat.source import OldSnapshot
from flask_safemigrate.errors import DatabaseUnreachable
from flask_safemigrate.models_snapshot import describe_metadata, table_key
from flask_safemigrate.project import Setup
from flask_safemigrate.releases import TOOL_TABLES
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.text import display_path, one_line, plural
from flask_safemigrate.verify.roundtrip import Roundtrip
from flask_safemigrate.verify.steps import ScratchRun, head_unmapped, on_scratch

__all__ = ["run_compat"]


def _old_tables(old: OldSnapshot) -> dict[str | None, dict[str, Any]]:
    return {
        database.get("bind"): dict(database.get("tables") or {})
        for database in old.data["databases"]
        if isinstance(database, dict)
    }


def built_tables(
    connection: Connection, setup: Setup, schemas: set[str | None]
) -> dict[str, dict[str, Any]]:
    """The tables of ``schemas`` on ``connection``, described and keyed as a snapshot keys
    them (the dedicated schema, ``SAFEMIGRATE_SCHEMA``, stands for the default one)."""
    tables: dict[str, dict[str, Any]] = {}
    dedicated = setup.settings.schema
    skip = {setup.version_table, *TOOL_TABLES}
    for schema in sorted(schemas, key=lambda s: s or ""):
        read_from = dedicated if schema is None and dedicated is not None else schema
        metadata = sa.MetaData()
        metadata.reflect(
            connection, schema=read_from, only=lambda name, _m: name not in skip, resolve_fks=False
        )
        described = describe_metadata(metadata)
        _mark_numbered(metadata, described)
        for key, table in described.items():
            table.pop("schema", None)
            name = key if read_from is None else key[len(read_from) + 1 :]
            tables[table_key(name, schema)] = table
    return tables


def _mark_numbered(metadata: sa.MetaData, described: Mapping[str, Any]) -> None:
    """Each reflected column the database numbers on insert, described as such
    (``insert_default: autoincrement``), as the snapshot says of a model's autoincrement key.

    Reflection sets ``autoincrement=True`` only where the database fills the column itself
    (MariaDB/MySQL AUTO_INCREMENT, a PostgreSQL serial or identity), but SQLAlchemy's
    ``Table.autoincrement_column``, which :func:`describe_metadata` reads, is only ever the
    primary key: a MariaDB AUTO_INCREMENT column beside another key read as NOT NULL without
    a default, one every insert must name. (A model's ``autoincrement=True`` on a column that
    is not the key is no such promise: SQLAlchemy does not number it, so only reflection is
    read this way.)"""
    for table in metadata.tables.values():
        columns = described[table_key(table.name, table.schema)]["columns"]
        for column in table.columns:
            if column.autoincrement is True:
                columns[column.name].setdefault("insert_default", "autoincrement")


def _schemas(tables: Mapping[str, Any]) -> set[str | None]:
    found: set[str | None] = {None}
    for table in tables.values():
        schema = table.get("schema") if isinstance(table, dict) else None
        if isinstance(schema, str):
            found.add(schema)
    return found


def _pending_scripts(setup: Setup, old: OldSnapshot) -> tuple[list[history.Script], str | None]:
    """The scripts ``old``'s release did not have, in the order they run, and a note when
    that cannot be told (every script is then read for renames)."""
    order = setup.graph.path((), "heads")
    if old.ref is None:
        return order, None
    try:
        known = git_files.files_at(old.ref, setup.locations)
    except (OSError, ValueError) as exc:
        reason = one_line(exc) or "git failed"
        return order, (
            f"Renames read from every script: the scripts of {old.ref} are not known ({reason})."
        )
    return [script for script in order if script.path.resolve() not in known], None


def _upgrade(run: ScratchRun) -> Finding | None:
    """Every revision applied to the scratch databases; a failure is ``roundtrip-failed``."""
    try:
        if run.setup.settings.schema is not None:
            with run.engines[None].begin() as conn:
                dedicated_schema.ensure_schema(conn, run.setup.settings.schema)
        alembic_command.upgrade(run.config, "heads")
    except Exception as exc:  # a script can raise anything; it becomes a finding
        script = next(
            (s for s in run.setup.graph.scripts.values() if faults.line_in(exc, s.path)), None
        )
        where = f" ({display_path(script.path)})" if script is not None else ""
        return Finding(
            rule="roundtrip-failed",
            severity=Severity.ERROR,
            message="Compatibility not checked: upgrading the scratch database from base to"
            f" head failed{where}: {one_line(exc, run.hidden)}",
            help="fix the failing revision; `flask db verify --roundtrip` names it",
        )
    return None


def run_compat(setup: Setup, old: OldSnapshot, scratch_url: str | None) -> Roundtrip:
    """``breaks-previous-release`` findings of the migrations against ``old`` (the note,
    and the ``compat`` JSON facts: ``with``, ``findings``)."""
    result = Roundtrip()
    result.facts = {"with": old.label, "ran": False}
    if setup.graph.problems:
        result.notes.append("Compatibility not checked: the history has problems (above).")
        return result
    previous = _old_tables(old)
    pending, unknown = _pending_scripts(setup, old)
    if unknown is not None:
        result.notes.append(unknown)
    app_urls = {target.bind: target.url for target in setup.targets}
    cleanup = scratch.Cleanup()
    try:
        with (
            scratch.scratch_databases(app_urls, setup.settings, scratch_url, cleanup) as urls,
            on_scratch(setup, urls) as run,
        ):
            failed = _upgrade(run)
            if failed is not None:
                result.findings.append(failed)
                return result
            for target in setup.targets:
                tables = previous.get(target.bind)
                if tables is None:
                    continue  # a bind the previous release did not have
                engine = run.engines[target.bind]
                with engine.connect() as conn:
                    built = built_tables(conn, setup, _schemas(tables))
                dialect = database.dialect_of(engine.url)
                result.findings.extend(
                    release_breaks(
                        tables, built, old.label, target.bind, pending, dialect, predicted=False
                    )
                )
            # The release being built, not only the one before: a column its models stopped
            # mapping that the migrations keep NOT NULL without a default fails its inserts.
            result.findings.extend(head_unmapped(run))
    except DatabaseUnreachable as exc:
        result.findings.append(
            Finding(
                rule="database-unreachable",
                severity=Severity.ERROR,
                message=f"Compatibility not checked: {exc.message}",
                help=exc.hint,
                extra=exc.data,
            )
        )
        return result
    result.findings.extend(
        Finding(rule="roundtrip-failed", severity=Severity.ERROR, message=error)
        for error in cleanup.errors
    )
    breaks = [f for f in result.findings if f.rule == "breaks-previous-release"]
    result.facts = {"with": old.label, "ran": True, "findings": len(breaks)}
    result.notes.append(
        f"Compatibility with {old.label}: the schema at head checked on a scratch database,"
        f" {plural(len(breaks), 'break') if breaks else 'nothing breaks'}."
    )
    return result
