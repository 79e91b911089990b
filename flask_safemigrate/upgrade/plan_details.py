"""What a reviewer needs of each pending revision, for ``--dry-run --format markdown``: its SQL
as ``--sql`` writes it, and the lock each of its statements takes on every dialect.

The dry run already read the plan, the statements on existing tables and their sizes
(:mod:`.live_check`); this adds the two things a pull-request comment shows that the text plan
does not. The SQL comes from Alembic's offline mode one revision at a time (``DOWN:REV``), so
a revision that cannot be written as SQL (a SQLite batch block that copies its table, a data
migration that reads rows) gets the note ``--sql`` would give and the others keep theirs. The
database is never touched here: offline mode only renders.
"""

from __future__ import annotations

import io
import re
from typing import Any, Final

import sqlalchemy as sa
from alembic import command as alembic_command

from flask_safemigrate import history, live
from flask_safemigrate.errors import SafeMigrateError
from flask_safemigrate.text import display_path, one_line
from flask_safemigrate.upgrade import failures
from flask_safemigrate.upgrade.state import Run

__all__ = ["DIALECTS", "plan_details"]

#: The dialects whose lock a statement's row shows, in the order of the columns.
DIALECTS: Final[tuple[str, ...]] = ("postgresql", "mysql", "sqlite")

_NOTHING_RAN = "No SQL was printed and nothing ran on the database."
_MARKER = re.compile(r"^-- Running upgrade .* -> (?P<to>[^\s]+)\s*$", re.MULTILINE)


def plan_details(run: Run) -> list[dict[str, Any]]:
    """One entry per pending revision, in plan order: SQL (or why there is none) and each
    statement with its table's size and its lock on every dialect."""
    out = []
    single = len(run.targets) == 1
    for script in run.plan:
        sql, note = _revision_sql(run, script) if single else (None, _MULTI_NOTE)
        out.append(
            {
                "revision": script.revision,
                "message": script.message,
                "path": display_path(script.path),
                "down_revisions": list(script.down_revisions),
                "dialect": run.targets[0].dialect if single else None,
                "sql": sql,
                "sql_note": note,
                "statements": [
                    _statement(item)
                    for item in run.sized
                    if item.statement.revision == script.revision
                ],
            }
        )
    return out


_MULTI_NOTE = (
    "not shown for a multi-database app: `flask db upgrade --sql` writes the SQL of each bind"
)


def _statement(item: live.Sized) -> dict[str, Any]:
    statement, size = item.statement, item.size
    if statement.created_in_plan:
        where = f"created by {statement.created_in_plan} in this plan"
    elif size is None:
        where = "size not read"
    else:
        where = size.describe()
    return {
        "line": statement.line,
        "kind": statement.kind,
        "table": statement.table,
        "schema": statement.schema,
        "batch": statement.batch,
        "concurrently": statement.concurrently,
        "size": where,
        "rows": None if size is None else size.rows,
        "bytes": None if size is None else size.size_bytes,
        "lock": item.lock,
        "impact": item.impact,
        "locks": {
            dialect: dict(zip(("lock", "impact"), live.lock_of(statement, dialect), strict=True))
            for dialect in DIALECTS
        },
        **({"bind": item.bind} if item.bind is not None else {}),
    }


def _revision_sql(run: Run, script: history.Script) -> tuple[str | None, str | None]:
    """``(sql, None)``, or ``(None, why)`` when Alembic cannot write the revision as SQL.

    A merge revision is rendered from its first parent, which would also render the other
    branch: only the part from its own ``-- Running upgrade`` marker on is kept.
    """
    start = script.down_revisions[0] if script.down_revisions else None
    revision = script.revision if start is None else f"{start}:{script.revision}"
    config = run.alembic_config()
    buffer = io.StringIO()
    config.output_buffer = buffer
    try:
        alembic_command.upgrade(config, revision, sql=True, tag=run.options.tag)
    except SafeMigrateError as error:
        return None, error.message
    except sa.exc.SQLAlchemyError as exc:
        return None, one_line(exc, run.setup.urls)
    except Exception as exc:  # a script's upgrade() can raise anything (NameError ...)
        stop = failures.sql_failed(run, exc)
        if not stop.findings:
            return None, one_line(exc, run.setup.urls)
        # --sql's words, without what only a --sql run needs to be told.
        message = stop.findings[0].message.removeprefix("--sql: ")
        return None, message.replace(_NOTHING_RAN, "").strip()
    sql = buffer.getvalue()
    if script.is_merge:
        sql = _own_part(sql, script.revision)
    return sql.strip() + "\n", None


def _own_part(sql: str, revision: str) -> str:
    """The SQL from ``revision``'s own marker to the next marker (or the end)."""
    markers = list(_MARKER.finditer(sql))
    for index, marker in enumerate(markers):
        if marker.group("to") == revision:
            end = markers[index + 1].start() if index + 1 < len(markers) else len(sql)
            return sql[marker.start() : end]
    return sql
