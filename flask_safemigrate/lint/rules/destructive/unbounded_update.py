"""SM109 unbounded-update: an UPDATE without WHERE rewrites every row of an existing table."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from flask_safemigrate.lint.calls import Call
from flask_safemigrate.lint.helpers.timeline import Timeline, timeline
from flask_safemigrate.lint.helpers.unbounded import (
    SQL,
    TRIVIAL_WHERE,
    verb_uses,
)
from flask_safemigrate.lint.model import Migration, Rule, Violation
from flask_safemigrate.lint.patterns import compiled_later
from flask_safemigrate.lint.registry import register
from flask_safemigrate.lint.sql import QNAME, ident
from flask_safemigrate.report import Severity

_UPDATE = compiled_later(
    rf"^(?:WITH\b.*?\)\s*)?UPDATE (?:(?:LOW_PRIORITY|IGNORE) )*(?:ONLY )?({QNAME})(.*)$",
    re.IGNORECASE | re.S,
)
_BOUNDED = compiled_later(r"\b(?:WHERE|LIMIT)\b", re.IGNORECASE)
_SA_MODULES = frozenset({"sa", "sqlalchemy", "sql", "sa.sql", "sqlalchemy.sql"})
_MENTIONS_UPDATE = compiled_later("update", re.IGNORECASE)
_QUERY = (
    "updates every row of the queried model's table (query.update() without a filter) in one"
    " transaction"
)
_CONSTRUCT = (
    "updates every row of {table} (an update() without .where()) in one transaction, locking"
    " them all until it commits"
)


@register
class UnboundedUpdate(Rule):
    """An UPDATE without WHERE rewrites every row of an existing table in one transaction.

    ## What it does
    Flags, in `upgrade()` and `downgrade()`: `UPDATE table SET ...` without a `WHERE` (or
    with `WHERE 1=1`/`WHERE true`) in `op.execute`/`conn.execute` SQL, and the SQLAlchemy
    forms `op.execute(table.update().values(...))`, `conn.execute(sa.update(table)...)` and
    `session.query(Model).update({...})` with no `.where(...)`/`.filter(...)`. A table created
    earlier in the same function is not flagged. A warning: a small table may not care.

    ## Why it matters
    One statement locks every row until the migration commits, so every write to the table
    waits for the whole rewrite; on PostgreSQL each updated row is a new row version, doubling
    the table until vacuum. The old values are overwritten, and no downgrade gets them back.

    ## Example
    ```python
    def upgrade():
        op.add_column("users", sa.Column("active", sa.Boolean(), nullable=True))
        op.execute("UPDATE users SET active = true")
    ```

    ## Use instead
    Backfill in batches by key range, each committed on its own, and only the rows that need
    it (or set a server default when adding the column):
    ```python
    def upgrade():
        op.add_column("users", sa.Column("active", sa.Boolean(), nullable=True))
        with op.get_context().autocommit_block():
            bind = op.get_bind()
            last = bind.execute(sa.text("SELECT max(id) FROM users")).scalar() or 0
            for start in range(0, last + 1, 10_000):
                bind.execute(
                    sa.text(
                        "UPDATE users SET active = true WHERE id >= :lo AND id < :hi"
                        " AND active IS NULL"
                    ),
                    {"lo": start, "hi": start + 10_000},
                )
    ```
    """

    code = "SM109"
    name = "unbounded-update"
    severity = Severity.WARNING
    fix = "update only the rows that need it, in key-range batches committed one by one"

    requires = (frozenset({"execute", "update"}),)

    def check(self, migration: Migration) -> Iterator[Violation]:
        if not migration.mentions(_MENTIONS_UPDATE, "update"):
            return  # the cheap test first: most scripts never update anything
        line = timeline(migration)
        for use in verb_uses(migration, "update", _SA_MODULES, line):
            if use.kind != SQL:
                yield use.violation(_QUERY, _CONSTRUCT)
            elif use.call is not None:
                yield from _sql(use.call, use.node, line)


def _sql(call: Call, node: ast.Call, line: Timeline) -> Iterator[Violation]:
    for statement, known in line.statements(call):
        match = _UPDATE.match(statement)
        if match is None:
            continue
        table, rest = ident(match.group(1)), match.group(2)
        if table in known or (_BOUNDED.search(rest) and not TRIVIAL_WHERE.search(rest)):
            continue
        yield Violation(
            f"updates every row of {table} (UPDATE without a WHERE clause) in one"
            " transaction, locking them all until it commits",
            node=node,
        )
