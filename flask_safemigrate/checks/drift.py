"""``schema-drift``: the live schema against the models, and the models a dedicated schema
refuses before any comparison (``SAFEMIGRATE_SCHEMA``). The same reading of the live schema
reports ``unmapped-required-column`` (:mod:`.unmapped`), remembered clean together."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Connection

from flask_safemigrate import database, dedicated_schema
from flask_safemigrate.checks.unmapped import unmapped_findings
from flask_safemigrate.project import Setup, Target
from flask_safemigrate.report import Finding, Severity
from flask_safemigrate.schema_diff import drift
from flask_safemigrate.schema_fingerprint import (
    Models,
    fingerprint,
    remember_clean,
    remembered_clean,
)

__all__ = ["DRIFT_HINT", "check_schema_models", "drift_findings"]

DRIFT_HINT = (
    "generate a migration for the difference (`flask db migrate -m '...'`), review it and"
    " apply it; or change the models back if the database is right"
)


def check_schema_models(setup: Setup, target: Target, connection: Connection) -> None:
    """With ``SAFEMIGRATE_SCHEMA``, refuse model tables outside it (exit 2, named).

    Such a table is never compared (only the schema is) and would be reported missing, or
    re-created by every autogenerate, forever.
    """
    schema = setup.settings.schema
    if schema is None:
        return
    default = connection.dialect.default_schema_name
    outside = dedicated_schema.tables_outside(target.metadata, schema, default)
    if outside:
        raise dedicated_schema.outside_error(outside, schema, default)


def drift_findings(
    setup: Setup, target: Target, connection: Connection, *, remember_in: Path | None = None
) -> list[Finding]:
    """``schema-drift``: one finding per difference between the live schema and the models;
    then ``unmapped-required-column``: each column the models leave out of their inserts and
    the database cannot fill (whatever ``include_object`` hides from the comparison).

    ``remember_in`` (safe-upgrade: the user's cache directory): a comparison whose fingerprint
    (:mod:`.schema_fingerprint`: the live schema, the models, the options, the code) found
    nothing before is not made again; a clean one is noted there. verify always compares.
    """
    before = None
    models = Models(target.metadata)
    if remember_in is not None:
        before = fingerprint(connection, target.metadata, setup.configure_args, models=models)
        if before is not None and remembered_clean(remember_in, before):
            return []
    lines = drift(connection, target.metadata, setup.configure_args)
    where = {"database": database.mask_url(target.url)}
    unmapped = unmapped_findings(connection, target.metadata, f"database {target.label}", where)
    # Remembered only when nothing changed the schema while it was compared (another
    # migrator may: the migration lock is released by now). The fingerprint holds every
    # column's NOT NULL, default, identity and generation: what the second check reads.
    if (
        remember_in is not None
        and before is not None
        and not lines
        and not unmapped
        and fingerprint(connection, target.metadata, setup.configure_args, models=models) == before
    ):
        remember_clean(remember_in, before)
    drifted = [
        Finding(
            rule="schema-drift",
            severity=Severity.ERROR,
            message=f"{line} (database {target.label})",
            help=DRIFT_HINT,
            extra={"database": database.mask_url(target.url), "difference": line},
        )
        for line in lines
    ]
    return drifted + unmapped
