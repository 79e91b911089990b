"""``--sql``: the plan's SQL from Alembic's offline mode, as ``flask db upgrade --sql`` writes it.

As with plain upgrade, the database is never connected to (it may be unreachable from where
the SQL is written): ``START:END`` names the position, and without START the SQL starts at
base (it creates the version table first), as Alembic's offline mode does. Only the checks
that need no database run: the revision graph, the plan, and lint of the range's scripts on
the URL's dialect (from base, judged as on an empty database: that is what the SQL is for).
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from alembic import command as alembic_command

from flask_safemigrate import alembic_order as order
from flask_safemigrate import history
from flask_safemigrate.errors import ConfigError, ExitCode, SafeMigrateError
from flask_safemigrate.upgrade import checks, failures, wording
from flask_safemigrate.upgrade.state import Run

__all__ = ["offline_sql", "preflight_offline"]


def preflight_offline(run: Run) -> None:
    """The pre-flight of ``--sql [START:]END``: what needs no database; START (base when not
    given) is the position."""
    wording.refuse(run, run.setup.settings)
    checks.check_graph(run)
    start, _ = order.split_range(run.options.revision)
    try:
        position = run.setup.graph.resolve(start) if start is not None else ()
    except history.RevisionLookupError as exc:
        raise ConfigError(
            f"cannot start the SQL at {start!r}: {exc}",
            hint="START is a revision id, a unique prefix, `base` or `branch@head`"
            " (`flask db history` lists them)",
        ) from None
    run.position_given = True
    for target in run.targets:
        target.current = target.started = position
    run.started = run.current
    checks.compute_plan(run)
    if run.plan and not run.options.skip_lint and (blocking := checks.lint(run)):
        raise run.stop(ExitCode.PREFLIGHT, *checks.skip_lint_hint(run, blocking, breaks=False))


def offline_sql(run: Run) -> None:
    """The SQL into ``run.sql`` (one target only); in stage ``upgrade``, where a script that
    raises while its SQL is written fails as it would in a real run."""
    start, _ = order.split_range(run.options.revision)
    # START as given (Alembic reads it, as upgrade's); without it Alembic starts at base.
    revision = run.destination if start is None else f"{start}:{run.destination}"
    run.enter("upgrade")
    config = run.alembic_config()
    buffer = io.StringIO()
    config.output_buffer = buffer
    try:
        alembic_command.upgrade(config, revision, sql=True, tag=run.options.tag)
    except (SafeMigrateError, sa.exc.SQLAlchemyError):
        raise
    except Exception as exc:  # a script's upgrade() can raise anything (NameError ...)
        raise failures.sql_failed(run, exc) from exc
    run.sql = _schema_prelude(run.setup.settings.schema) + buffer.getvalue()


def _schema_prelude(schema: str | None) -> str:
    """SQL that puts the offline script in ``SAFEMIGRATE_SCHEMA``.

    The stock ``env.py`` passes no ``configure_args`` in offline mode, so Alembic writes the
    version table unqualified: the search path sends it (and the ledger-free script's
    unqualified statements) to the schema, which is created first, as safe-upgrade does.
    """
    if schema is None:
        return ""
    quoted = '"' + schema.replace('"', '""') + '"'
    return f"CREATE SCHEMA IF NOT EXISTS {quoted};\n\nSET search_path TO {quoted};\n\n"
