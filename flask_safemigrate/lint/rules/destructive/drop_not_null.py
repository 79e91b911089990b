"""SM113 drop-not-null: an upgrade lets a column hold NULL that could not before."""

from __future__ import annotations

import re
from collections.abc import Iterator

from flask_safemigrate.lint.helpers.alter_ops import alter_actions
from flask_safemigrate.lint.helpers.facts import UP_EXECUTE
from flask_safemigrate.lint.helpers.labels import column_label
from flask_safemigrate.lint.helpers.timeline import timeline
from flask_safemigrate.lint.index import op_facts
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import IDENT, ident
from flask_safemigrate.report import Severity

_DROP_NOT_NULL = compiled_later(rf"^ALTER (?:COLUMN )?({IDENT}) DROP NOT NULL\b", re.IGNORECASE)


@register
class DropNotNull(Rule):
    """An upgrade drops a column's NOT NULL constraint.

    ## What it does
    Reports `alter_column(..., nullable=True)` (on `op` and `batch_op`) without
    `existing_nullable=True`, and `ALTER COLUMN ... DROP NOT NULL` in literal SQL, inside
    `upgrade()`, for a column the same function did not add (on a table it did not create).
    Information only: the change itself is cheap (a catalog update on PostgreSQL), and
    usually the first step of removing a column. A downgrade that drops the NOT NULL its
    upgrade set is putting back the previous schema, and is not reported.

    ## Why it matters
    The previous release is still running while the migration applies, and code that reads
    the column (reports, exports, other services, `Mapped[str]` rather than
    `Mapped[str | None]`) may rely on it never being NULL; new rows written by the new code
    break it. Putting the constraint back later means a full-table scan and fails on every
    NULL written in between.

    ## Example
    ```python
    def upgrade():
        op.alter_column("users", "name", existing_type=sa.String(50), nullable=True)
    ```

    ## Use instead
    Drop the NOT NULL once every reader handles NULL (deploy that code first), or keep the
    constraint and give the column a default; review the finding and suppress it
    (`# safemigrate: ignore[drop-not-null]`) when that is already so.
    """

    code = "SM113"
    name = "drop-not-null"
    severity = Severity.INFO
    fix = "make sure every reader of the column (old release included) handles NULL"

    requires = (
        op_facts("alter_column", upgrade=True) | UP_EXECUTE,
        UP_EXECUTE | {"nullable=True"},
    )

    def check(self, migration: Migration) -> Iterator[Violation]:
        line = timeline(migration)
        for call in migration.upgrade_calls:
            if call.name != "alter_column" or call.receiver not in {"op", "batch_op"}:
                continue
            if call.value("nullable") is not True or call.value("existing_nullable") is True:
                continue
            if line.added(call, call.table_key, call.column):
                continue
            yield Violation(
                f"drops NOT NULL from {column_label(call)}: code that reads it, the running"
                " release included, may not expect NULL",
                node=call.node,
            )
        for call, table, action in alter_actions(migration, line):
            if call.direction != "upgrade":
                continue
            match = _DROP_NOT_NULL.match(action)
            if match is None:
                continue
            column = ident(match.group(1))
            if line.added(call, table, column):
                continue
            yield Violation(
                f"drops NOT NULL from {table}.{column} in SQL: code that reads it, the running"
                " release included, may not expect NULL",
                node=call.node,
            )
